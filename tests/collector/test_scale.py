"""Two collector processes on one PostgreSQL behind haproxy (deploy/haproxy.cfg as shipped):
participants' sessions go on when one collector is killed, and every item acknowledged is stored."""

import socket

import pytest

from ..servers import run_async, run_cli, start_balancer, start_collector
from .participants import simulate, stored_item_ids

PARTICIPANTS, SECONDS = 12, 30


@pytest.fixture
def balanced(postgres, tmp_path):
    database = postgres.create_database("balanced")
    collectors = [start_collector(tmp_path / f"collector{i}", extra=("--database-url", database)) for i in (1, 2)]
    balancer = start_balancer(tmp_path, collectors)
    yield database, collectors, balancer
    balancer.stop()
    for collector in collectors:
        collector.stop()


def test_killing_one_collector_loses_nothing_acknowledged(balanced, tmp_path):
    database, collectors, balancer = balanced
    app = run_cli("apps", "create", "--name", "scale", "--data-dir", str(tmp_path / "cli"), "--database-url", database)
    tally = run_async(simulate(balancer.url, app, PARTICIPANTS, SECONDS, victim=collectors[1]))
    with pytest.raises(OSError):  # it was killed mid-run, workers and all: nothing answers there
        socket.create_connection(("127.0.0.1", int(collectors[1].url.rstrip("/").rsplit(":", 1)[1])), timeout=2)
    assert tally.held == PARTICIPANTS and sum(tally.given_up.values()) == 0, (tally.held, tally.given_up)
    assert len(tally.latency["one killed"]) >= PARTICIPANTS  # the sessions went on after it
    # stats every 5 s for 30 s, joins, state changes, feedback, goodbyes: all acknowledged, all stored
    assert len(tally.acked) >= PARTICIPANTS * 8
    stored = run_async(stored_item_ids(database.replace("postgresql://", "postgresql+asyncpg://", 1)))
    assert tally.acked - stored == set()
