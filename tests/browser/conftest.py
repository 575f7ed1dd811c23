"""Browser tests: real Chromium, real Pyodide from dist/, real collector over TLS + HTTP/2."""

import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT, load_playwright_config
from ..servers import start_collector, start_page_server

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def dist() -> Path:
    """The README's test command builds first; a bare `pytest tests/browser` builds when needed."""
    if not (ROOT / "dist" / "callstats.js").exists():
        subprocess.run([sys.executable, str(ROOT / "build.py")], check=True)
    return ROOT / "dist"


@pytest.fixture(scope="session")
def collector(dist, tmp_path_factory):
    # stats uploads every 2 s rather than 15 s, so a test sees several in seconds
    server = start_collector(tmp_path_factory.mktemp("collector") / "data", dist=dist,
                             extra=("--submission-interval", "2000"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_origin(collector, tmp_path_factory):
    """Another origin (another port on loopback) that serves the test pages: the page's own site."""
    pages = tmp_path_factory.mktemp("pages")
    server = start_page_server(collector, pages, tmp_path_factory.mktemp("app") / "data")
    server.pages = pages
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(collector):
    return load_playwright_config().launch_options(spki=collector.spki)


@pytest.fixture
def serve_page(app_origin, collector):
    """Write an HTML page to the app origin and return its URL; {collector} is replaced by the
    collector's base URL."""

    def serve(name: str, html: str) -> str:
        (app_origin.pages / name).write_text(html.replace("{collector}", collector.url))
        return app_origin.url + name

    return serve
