"""The operators' view: Prometheus metrics at /metrics (prometheus-client).

`serve` runs several processes (granian workers): each writes its figures to files in the folder
named by PROMETHEUS_MULTIPROC_DIR, and /metrics, whichever process answers it, adds up all of
them. Behind a load balancer, scrape each machine (or each `serve`) on its own address.
"""

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("collector_requests", "HTTP requests answered, by route and status", ["route", "method", "status"])
INGEST_SECONDS = Histogram(
    "collector_ingest_seconds", "time from a request that stores items arriving to its answer (committed)",
    ["route"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
GROUP_COMMIT = Histogram(
    "collector_group_commit_requests", "requests stored in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
STORAGE_ERRORS = Counter("collector_storage_errors", "requests whose items the database refused or failed to store")
RETENTION_DROPPED = Counter("collector_retention_dropped_rows", "rows dropped as older than --retain-days", ["table"])
RETAINED_ROWS = Gauge("collector_retained_rows", "rows kept, as of the last retention pass (PostgreSQL: an estimate)",
                      ["table"], multiprocess_mode="mostrecent")
RETENTION_RUN = Gauge("collector_retention_last_run_timestamp_seconds", "when the last retention pass ended",
                      multiprocess_mode="mostrecent")

INGEST_PREFIX = "/v1/apps/{"  # the routes under it that take a POST store items
BOX = "collector.metrics"


def render() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def note_route(request: Request) -> None:
    """A dependency of every route: tells RequestMetrics, outside, which route template answered
    ("/v1/apps/{appID}/..."), a label of bounded number. The box is shared by the copies of the
    scope that middleware in between make."""
    box = request.scope.get(BOX)
    if box is not None:
        box["route"] = request.scope["route"].path


class RequestMetrics:
    """ASGI middleware: counts every answer (those given by middleware too: 413, 415, CORS) and
    times the requests that store items."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, box = time.perf_counter(), 500, {}
        scope = {**scope, BOX: box}

        async def counted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            route = box.get("route", "other")  # the files at /, or no route at all (404)
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            if scope["method"] == "POST" and route.startswith(INGEST_PREFIX) and status == 200:
                INGEST_SECONDS.labels(route).observe(time.perf_counter() - started)
