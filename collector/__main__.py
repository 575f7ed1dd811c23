"""python -m collector serve | apps ...  (SPEC part 3: the command-line contract).

Exit codes: 0 on success, 2 on bad arguments, with a one-line error on stderr.
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from .settings import Settings, default, described

ROOT = Path(__file__).resolve().parent.parent


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def listen_args(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="the bundle to serve at / (default dist/)")


def data_dir_arg(parser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("collector-data"),
                        help="where the SQLite database and the self-signed certificate live")


def storage_args(parser) -> None:
    data_dir_arg(parser)
    parser.add_argument("--database-url", help="e.g. postgresql://user:pass@host/db (default: SQLite in --data-dir)")


def turn_args(parser) -> None:
    parser.add_argument("--turn-url", help="the TURN server for the pre-call test, turn:host:3478 (UDP and TCP)")
    parser.add_argument("--turn-secret", default=os.environ.get("COLLECTOR_TURN_SECRET"),
                        help="its static-auth-secret (coturn use-auth-secret); or COLLECTOR_TURN_SECRET")


def turn_of(args, parser):
    from .turn import Turn, parse_url

    if not args.turn_url:
        return None
    if not args.turn_secret:
        parser.error("--turn-url needs --turn-secret (or COLLECTOR_TURN_SECRET)")
    try:
        return Turn(parse_url(args.turn_url), args.turn_secret)
    except ValueError as exc:
        parser.error(f"--turn-url: {exc}")


def build_parser() -> Parser:
    parser = Parser(prog="python -m collector", description="The callstats collector.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = commands.add_parser("serve", help="serve over TLS + HTTP/2")
    listen_args(serve)
    storage_args(serve)
    serve.add_argument("--certfile", type=Path)
    serve.add_argument("--keyfile", type=Path)
    serve.add_argument("--workers", type=int, default=1, help="serving processes (one per core)")
    for name in ("rate", "burst"):
        serve.add_argument(f"--{name}", type=float, default=default(name), help=described(name))
    for name in ("submission_interval", "token_lifetime"):
        serve.add_argument("--" + name.replace("_", "-"), type=int, default=default(name), help=described(name))
    serve.add_argument("--retain-days", type=float, default=default("retain_days"), help=described("retain_days"))
    turn_args(serve)

    demo = commands.add_parser("demo", help="serve with a demo app: a real call at /demo/ (SQLite)")
    listen_args(demo)
    data_dir_arg(demo)

    apps = commands.add_parser("apps", help="create and manage apps").add_subparsers(
        dest="apps_command", required=True, parser_class=Parser)
    create = apps.add_parser("create", help="make an app; prints {appID, appSecret, readKey}")
    create.add_argument("--name", required=True)
    create.add_argument("--origin", action="append", default=[], help="allowed page origin (repeatable)")
    storage_args(create)
    listing = apps.add_parser("list")
    storage_args(listing)
    add_key = apps.add_parser("add-key", help="register a public key for third-party tokens")
    add_key.add_argument("--app", type=int, required=True)
    add_key.add_argument("--key-id", required=True)
    add_key.add_argument("--public-key", type=Path, required=True, help="PEM file (EC P-256 or RSA)")
    storage_args(add_key)
    origins = apps.add_parser("set-origins", help="replace the app's origin whitelist (none: every origin)")
    origins.add_argument("--app", type=int, required=True)
    origins.add_argument("origins", nargs="*")
    storage_args(origins)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("serve", "demo"):
        metrics_folder(args.data_dir, args.port)
    if args.command == "serve":
        return serve(args, parser)
    if args.command == "demo":
        return demo(args, parser)
    return asyncio.run(apps_command(args, parser))


def demo(args, parser) -> int:
    """serve, with an app named "demo" (made once, kept in the data dir) whose page is /demo/."""
    from .database import database_url, migrated
    from .store import Store

    async def demo_app() -> dict:
        async with migrated(database_url(args.data_dir, None)) as engine:
            store = Store(engine)
            found = next((a for a in await store.list_apps() if a["name"] == "demo"), None)
            app = found or await store.create_app("demo", [])
        return {"appID": str(app["app_id"]), "appSecret": app["secret"], "readKey": app["read_key"]}

    app = asyncio.run(demo_app())
    base = f"https://{args.host}:{args.port}/"
    print(f"demo: open {base}demo/ (self-signed certificate: accept it, or start Chromium with the SPKI "
          f"hash below and --ignore-certificate-errors-spki-list=<hash>)", flush=True)
    print(f"demo: dashboard: {base}dashboard/#app={app['appID']}&key={app['readKey']}", flush=True)
    print(f"demo: read API: {base}v1/apps/{app['appID']}/conferences  (Authorization: Bearer {app['readKey']})",
          flush=True)
    args.database_url, args.certfile, args.keyfile, args.workers = None, None, None, 1
    for name in ("rate", "burst", "token_lifetime", "retain_days"):
        setattr(args, name, default(name))
    args.submission_interval = 5000  # not 15 s: the demo's dashboard charts fill in while one watches
    turn = _demo_turn(args)
    args.turn_url, args.turn_secret = (turn.turn.url, turn.turn.secret) if turn else (None, None)
    try:
        return serve(args, parser, demo_app={"appID": app["appID"], "appSecret": app["appSecret"]})
    finally:
        if turn:
            turn.stop()


def _demo_turn(args):
    """A coturn on loopback for the demo's pre-call test, when it is installed."""
    from . import coturn

    if not coturn.installed():
        print("demo: no pre-call test (coturn is not installed: apt-get install coturn)", flush=True)
        return None
    started = coturn.start(args.data_dir / "turn")
    print(f"demo: pre-call test through coturn at {started.turn.url}", flush=True)
    return started


def serve(args, parser, demo_app=None) -> int:
    """Migrate the schema once, then serve with granian (TLS, HTTP/2 and HTTP/1.1 by ALPN): each of
    its `--workers` processes builds its app from the settings left in the environment."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.log import LogLevels

    from .database import database_url
    from .tls import self_signed, spki_hash

    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    if args.workers < 1:
        parser.error("--workers: at least 1")
    if args.retain_days <= 0:
        parser.error("--retain-days: more than 0 (what is older is deleted)")
    turn = turn_of(args, parser)
    certfile, keyfile = (args.certfile, args.keyfile) if args.certfile else self_signed(args.data_dir)
    settings = Settings(database_url=database_url(args.data_dir, args.database_url), dist=args.dist,
                        rate=args.rate, burst=args.burst, submission_interval=args.submission_interval,
                        token_lifetime=args.token_lifetime, retain_days=args.retain_days,
                        turn_url=turn.url if turn else None, turn_secret=turn.secret if turn else None,
                        demo_app=demo_app)
    asyncio.run(_migrate(settings.database_url))
    settings.to_environment()
    print(f"collector: https://{args.host}:{args.port}/  (HTTP/2, TLS)", flush=True)
    print(f"collector: certificate SPKI sha256: {spki_hash(certfile)}", flush=True)
    Granian("collector.app:from_environment", factory=True, address=args.host, port=args.port,
            interface=Interfaces.ASGI, workers=args.workers, http=HTTPModes.auto,
            ssl_cert=Path(certfile), ssl_key=Path(keyfile), ssl_protocol_min=SSLProtocols.tls12,
            log_level=LogLevels.warning, log_access=False).serve()
    return 0


def metrics_folder(data_dir: Path, port: int) -> None:
    """Where the serving processes keep their metrics (/metrics adds them up): one folder per
    port, emptied at start, as Prometheus counters start from zero with the process. Named
    before anything imports prometheus_client, which reads it once."""
    import shutil

    folder = data_dir / f"metrics-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


async def _migrate(url: str) -> None:
    from .database import migrated

    async with migrated(url):
        pass  # the schema up to date is all `serve` needs before its workers start


async def apps_command(args, parser) -> int:
    from .database import database_url, migrated
    from .store import Store

    async with migrated(database_url(args.data_dir, args.database_url)) as engine:
        result = await _apps(Store(engine), args, parser)
    print(json.dumps(result))
    return 0


async def _apps(store, args, parser):
    if args.apps_command == "create":
        app = await store.create_app(args.name, args.origin)
        return {"appID": str(app["app_id"]), "appSecret": app["secret"], "readKey": app["read_key"]}
    if args.apps_command == "list":
        return [{"appID": str(a["app_id"]), "name": a["name"], "origins": a["origins"]} for a in await store.list_apps()]
    if await store.app(args.app) is None:
        parser.error(f"no app {args.app}")
    if args.apps_command == "add-key":
        pem = _public_key(args.public_key, parser)
        await store.add_key(args.app, args.key_id, pem)
        return {"appID": str(args.app), "keyID": args.key_id}
    await store.set_origins(args.app, args.origins)
    return {"appID": str(args.app), "origins": args.origins}


def _public_key(path: Path, parser) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        pem = path.read_text()
        load_pem_public_key(pem.encode())
    except (OSError, ValueError) as exc:
        parser.error(f"--public-key: not a PEM public key ({exc})")
    return pem


if __name__ == "__main__":
    sys.exit(main())
