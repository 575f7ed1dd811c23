"""The collector, running for real (TLS + HTTP/2) on SQLite and on PostgreSQL: every test that
takes `collector` runs once on each."""

import itertools
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import httpx
import pytest

from collector.database import database_url, make_engine
from collector.store import Store

from ..servers import Postgres, Server, run_async, run_cli, start_collector

_databases = itertools.count()


@dataclass
class Running:
    server: Server
    db_args: tuple  # the storage flags for `python -m collector apps ...`
    database: str  # "sqlite" | "postgresql"
    cluster: Optional[Postgres]  # the PostgreSQL cluster, for a test that starts a server of its own

    @property
    def url(self) -> str:
        return self.server.url

    def app(self, *origins: str) -> dict:
        """A new app, made in-process (the CLI itself is tested in test_cli.py; this is faster)."""
        return run_async(_create_app(self.db_args, list(origins)))

    def cli(self, *args: str) -> dict:
        return run_cli(*args, *self.db_args)

    def client(self, http2: bool = True, **kwargs) -> httpx.Client:
        trust = ssl.create_default_context(cafile=str(self.server.data_dir / "collector-cert.pem"))
        return httpx.Client(http2=http2, verify=trust,
                            base_url=self.url, timeout=20, **kwargs)


async def _create_app(db_args: tuple, origins: list) -> dict:
    args = dict(zip(db_args[::2], db_args[1::2]))
    engine = make_engine(database_url(Path(args["--data-dir"]), args.get("--database-url")))
    try:
        app = await Store(engine).create_app("test", origins)
    finally:
        await engine.dispose()
    return {"appID": str(app["app_id"]), "appSecret": app["secret"], "readKey": app["read_key"]}


@pytest.fixture(scope="session")
def postgres():
    cluster = Postgres()
    yield cluster
    cluster.stop()


def start(kind: str, tmp: Path, postgres_cluster, extra=()) -> Running:
    if kind == "sqlite":
        db_args = ("--data-dir", str(tmp / "data"))
    else:
        db_args = ("--data-dir", str(tmp / "data"),
                   "--database-url", postgres_cluster.create_database(f"collector{next(_databases)}"))
    server = start_collector(tmp / "data", extra=(*db_args[2:], *extra))
    return Running(server, db_args, kind, postgres_cluster)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def collector(request, tmp_path_factory):
    cluster = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    running = start(request.param, tmp_path_factory.mktemp(request.param), cluster)
    yield running
    running.server.stop()
