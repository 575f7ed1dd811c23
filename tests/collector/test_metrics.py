"""/metrics, read with prometheus_client's own parser, counts the requests made: on a collector
of two processes, whichever answers the scrape."""

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from .conftest import start
from .wire import bearer, fabric, join

STATS = "/v1/apps/{appID}/conferences/{confID}/{ucID}/stats"


def scrape(running) -> dict:
    """{(sample name, labels as sorted tuples): value}"""
    with running.client() as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def requests(samples: dict) -> Counter:
    return Counter({dict(labels)["route"] + " " + dict(labels)["method"] + " " + dict(labels)["status"]: value
                    for (name, labels), value in samples.items() if name == "collector_requests_total"})


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_every_request_across_processes(tmp_path):
    running = start("sqlite", tmp_path, None, extra=("--workers", "2"))
    try:
        app = running.app()
        before = scrape(running)
        for _ in range(6):  # a connection each: they land on either process
            with running.client() as client:
                assert client.get("/clockSync").status_code == 200
        with running.client() as client:
            headers = bearer(client, app)
            conference, uc_id = join(client, app, headers)
            base = f"/v1/apps/{app['appID']}/conferences/{conference}"
            for n in range(3):
                sample = fabric(stats=[{"id": "OT1", "type": "outbound-rtp", "ssrc": 1, "bytesSent": 100 * n}])
                assert client.post(f"{base}/{uc_id}/stats", headers=headers, json=sample).status_code == 200
            assert client.post(f"{base}/{uc_id}/stats", headers=headers, json={"stats": "no"}).status_code == 400
            assert client.post(f"{base}/nobody/stats", headers=headers, json=fabric(stats=[])).status_code == 404
            assert client.get("/no/such/file").status_code == 404
        after = scrape(running)
    finally:
        running.server.stop()

    made = requests(after) - requests(before)
    del made["/metrics GET 200"]  # the first scrape: counted once its answer is out, maybe after the second read
    assert made == Counter({
        "/clockSync GET 200": 6, "/authenticate POST 200": 1, "/v1/apps/{appID}/conferences/{confID} POST 200": 1,
        f"{STATS} POST 200": 3, f"{STATS} POST 400": 1, f"{STATS} POST 404": 1, "other GET 404": 1})
    # the ingest histogram times what was stored (200s only); the 3 samples were 3 requests to commit
    timed = value(after, "collector_ingest_seconds_count", route=STATS) - value(before, "collector_ingest_seconds_count", route=STATS)
    assert timed == 3
    committed = value(after, "collector_group_commit_requests_sum") - value(before, "collector_group_commit_requests_sum")
    assert committed == 3
    assert value(after, "collector_storage_errors_total") == 0
