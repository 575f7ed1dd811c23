"""How long the dashboard's conference list takes with 10,000 stored conferences, next to 100.

    .venv/bin/python bench/dashboard_list.py [--conferences 10000] [--runs 7]

Two apps in one SQLite database made by the real collector: one with `--conferences` conferences,
the baseline with 100; each conference has 2 participants, 2 fabrics set up and 1 in 10 a setup
failure, and a worst quality. Real Chromium opens the real dashboard (TLS, HTTP/2) and reads
`dashboard.listRenderMs`: from asking the collector for the newest 200 to the table drawn. Also the
read API alone (GET .../conferences?limit=200, HTTP/2). Medians; apps alternate, so machine noise
hits both alike: compare the ratio.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.tables import conferences, events, members  # noqa: E402
from tests.conftest import load_playwright_config  # noqa: E402
from tests.servers import run_cli, start_collector  # noqa: E402

BASELINE = 100


def seed(db: Path, app_id: int, count: int) -> None:
    """`count` conferences of the app, written straight into the collector's database."""
    engine = sa.create_engine(f"sqlite:///{db}")
    start = time.time() * 1000 - count * 60_000
    rooms, people, happened = [], [], []
    for n in range(count):
        conference, at = f"room-{n:05d}", start + n * 60_000
        rooms.append(dict(app_id=app_id, conference_id=conference, start=at, end=at + 600_000,
                          worst_quality=n % 5))
        for person in range(2):
            uc_id = f"{app_id}-{n}-{person}"
            people.append(dict(uc_id=uc_id, app_id=app_id, conference_id=conference, local_id=f"user-{person}",
                               device_id="d", joined=at, last_seen=at + 600_000))
            happened.append(dict(app_id=app_id, conference_id=conference, uc_id=uc_id, connection_id=f"c{person}",
                                 path="events/fabric/setup", event_type="fabricSetup", timestamp=at + 900,
                                 body={"delay": 900}))
        if n % 10 == 0:
            happened.append(dict(app_id=app_id, conference_id=conference, uc_id=f"{app_id}-{n}-0",
                                 connection_id="c9", path="events/fabric/setupfailed", event_type="fabricSetupFailed",
                                 timestamp=at + 5000, body={}))
    with engine.begin() as conn:
        conn.execute(conferences.insert(), rooms)
        conn.execute(members.insert(), people)
        conn.execute(events.insert(), happened)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conferences", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        server = start_collector(data)  # makes the schema
        apps = {}
        try:
            for name, count in ((f"{BASELINE} conferences", BASELINE), (f"{args.conferences} conferences", args.conferences)):
                app = run_cli("apps", "create", "--name", name, "--data-dir", str(data))
                seed(data / "collector.sqlite3", int(app["appID"]), count)
                apps[name] = app
            console.print(f"seeded {BASELINE} + {args.conferences} conferences")
            results = measure(server, apps, args.runs)
        finally:
            server.stop()
    report(console, results, args.runs)


def measure(server, apps: dict, runs: int) -> dict:
    results = {name: {"render": [], "api": []} for name in apps}
    options = load_playwright_config().launch_options(spki=server.spki, media=False)
    with sync_playwright() as p, httpx.Client(http2=True, verify=False, base_url=server.url) as client:
        browser = p.chromium.launch(**options)
        page = browser.new_page()
        for run in range(runs + 1):  # the first round warms up (caches, the collector's app cache)
            for name, app in apps.items():
                page.goto(f"{server.url}dashboard/#app={app['appID']}&key={app['readKey']}&run={run}")
                page.reload()
                page.wait_for_function("window.dashboard && window.dashboard.listRenderMs !== undefined")
                render, listed = page.evaluate("[dashboard.listRenderMs, dashboard.listed]")
                assert listed == min(200, int(name.split()[0])), listed
                started = time.perf_counter()
                answer = client.get(f"/v1/apps/{app['appID']}/conferences", params={"limit": 200},
                                    headers={"Authorization": f"Bearer {app['readKey']}"})
                api_ms = (time.perf_counter() - started) * 1000
                assert answer.status_code == 200 and len(answer.json()) == listed
                if run:
                    results[name]["render"].append(render)
                    results[name]["api"].append(api_ms)
        browser.close()
    return results


def report(console: Console, results: dict, runs: int) -> None:
    table = Table(title=f"Dashboard conference list (newest 200 of them), median of {runs}")
    for column in ("stored", "list rendered ms", "x baseline", "read API ms", "x baseline", "goal"):
        table.add_column(column, justify="right")
    base = results[next(iter(results))]
    base_render, base_api = statistics.median(base["render"]), statistics.median(base["api"])
    for name, measured in results.items():
        render, api = statistics.median(measured["render"]), statistics.median(measured["api"])
        goal = "< 300 ms: " + ("met" if render < 300 else "missed") if name != next(iter(results)) else "baseline"
        table.add_row(name, f"{render:.0f}", f"{render / base_render:.2f}", f"{api:.0f}", f"{api / base_api:.2f}", goal)
    console.print(table)


if __name__ == "__main__":
    main()
