"""Browser tests: real Chromium and real Firefox, real Pyodide from dist/, real collector over
TLS + HTTP/2.

Every test that takes a browser runs once per engine (playwright.config.ENGINES; narrow it with
`--browser chromium` or `--browser firefox`). Each engine's tests form one xdist group, so
`./dev test` runs the two engines side by side, one worker each."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ..conftest import ROOT, load_playwright_config
from ..servers import start_collector, start_page_server
from .engines import missing

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


def pytest_configure(config):
    if not config.option.browser:
        config.option.browser = list(load_playwright_config().ENGINES)
    config.addinivalue_line("markers", "needs(*what): what the test needs of the engine (see engines.py)")


def pytest_collection_modifyitems(items):
    for item in items:
        engine = getattr(item, "callspec", None) and item.callspec.params.get("browser_name")
        if not engine:
            continue
        item.add_marker(pytest.mark.xdist_group(engine))
        needs = tuple(what for mark in item.iter_markers("needs") for what in mark.args)
        for reason in missing(engine, needs):
            item.add_marker(pytest.mark.skip(reason=f"{engine}: {reason}"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_name, collector):
    return load_playwright_config().launch_options(browser_name, spki=collector.spki)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, browser_name):
    return browser_context_args | load_playwright_config().context_options(browser_name)


@pytest.fixture
def serve_page(app_origin, collector):
    """Write an HTML page to the app origin and return its URL; {collector} is replaced by the
    collector's base URL."""

    def serve(name: str, html: str) -> str:
        (app_origin.pages / name).write_text(html.replace("{collector}", collector.url))
        return app_origin.url + name

    return serve


# A site's policy that refuses blob: workers (and eval): the loader must run Python on the page.
# The collectors the tests start listen on loopback ports of their own.
STRICT_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval' https://127.0.0.1:*; "
              "connect-src 'self' https://127.0.0.1:*; worker-src 'self'")


@pytest.fixture(params=["worker", "main"])
def python_runs(request, serve_page):
    """Where Python runs: in its worker, or on the page's main thread when the page's
    Content-Security-Policy forbids the worker. `.serve` is serve_page, with the policy in the
    page's head in "main" mode; `.mode` is what `callstats.mode` must say."""

    def serve(name: str, html: str) -> str:
        if request.param == "main":
            html = html.replace("<!doctype html>", f'<!doctype html><meta http-equiv="Content-Security-Policy" '
                                                   f'content="{STRICT_CSP}">', 1)
        return serve_page(name, html)

    return SimpleNamespace(mode=request.param, serve=serve)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def new_context(new_context, request):
    """pytest-playwright's new_context, each context's console, page errors and failed requests
    recorded: printed with the test's report when it fails (what the page saw, on either engine)."""
    seen = []

    def create(**kwargs):
        context = new_context(**kwargs)
        context.on("console", lambda m: seen.append(f"console.{m.type}: {m.text[:500]}"))
        context.on("weberror", lambda e: seen.append(f"page error: {str(e.error)[:500]}"))
        context.on("requestfailed", lambda r: seen.append(f"request failed: {r.method} {r.url[:120]} {r.failure}"))
        return context

    yield create
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and seen:
        print("what the pages saw:\n  " + "\n  ".join(seen[-60:]))
