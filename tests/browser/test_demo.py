"""`python -m collector demo` (what `./dev demo` runs): the demo call page, live, in a real browser."""

import re
import shutil
import subprocess
import sys
import time

import httpx

from ..servers import ROOT, free_port
from .conftest import ARTIFACTS


def test_the_demo_runs_a_monitored_call(page, collector, tmp_path):
    data = tmp_path / "demo"
    data.mkdir()
    for name in ("collector-cert.pem", "collector-key.pem"):  # the certificate this browser trusts
        shutil.copy(collector.data_dir / name, data / name)
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "collector", "demo", "--port", str(port), "--data-dir", str(data)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [demo.stdout.readline() for _ in range(5)]
        read_key = re.search(r"Bearer (\S+)\)", "".join(lines)).group(1)
        app_id = re.search(r"/v1/apps/(\d+)/", "".join(lines)).group(1)
        base = f"https://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                httpx.get(base + "clockSync", verify=False)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_viewport_size({"width": 1200, "height": 900})
        page.goto(base + "demo/")
        page.wait_for_function("window.demo && demo.figures.length >= 2", timeout=90_000)
        first = page.evaluate("demo.figures[demo.figures.length - 1]")
        # the live charts plot every figure the page got: one point per payload and stream
        charts, figures = page.evaluate("[demo.charts, demo.figures]")
        assert set(charts) == {"sent audio", "sent video", "received audio", "received video"}
        for label, line in charts.items():
            payloads = [f for f in figures if any(f"{'sent' if s['statsType'] == 'outbound-rtp' else 'received'} "
                                                  f"{s['mediaType']}" == label for s in f["mediaStreamTracks"])]
            assert len(line["times"]) == len(line["bitrate"]) == len(payloads) > 0, label
        assert any(v for v in charts["received audio"]["mos"]) and page.locator("#charts .uplot").count() == 3
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
        for button in ("mute", "pause", "hold", "share"):
            page.click(f"#{button}")
        assert page.inner_text("#mute") == "Unmute audio" and page.inner_text("#share") == "Stop sharing"
        page.wait_for_function(f"demo.figures.length >= {len(page.evaluate('demo.figures')) + 1}", timeout=30_000)
        last = page.evaluate("demo.figures[demo.figures.length - 1]")
        page.click("#hangup")

        streams = last["mediaStreamTracks"]
        assert {(s["statsType"], s["mediaType"]) for s in streams} == {
            ("outbound-rtp", "audio"), ("outbound-rtp", "video"), ("inbound-rtp", "audio"), ("inbound-rtp", "video")}
        for s in streams:  # plausible, and moving
            assert s["bitrate"] is not None and 0 < s["bitrate"] < 10_000, s
            assert s["fractionLoss"] is not None and 0 <= s["fractionLoss"] <= 1
            assert s["rtt"] is None or 0 <= s["rtt"] < 1000
        assert last["timestamp"] > first["timestamp"]
        assert [s["bitrate"] for s in last["mediaStreamTracks"]] != [s["bitrate"] for s in first["mediaStreamTracks"]]

        headers = {"Authorization": f"Bearer {read_key}"}
        conference = page.evaluate("document.getElementById('conference').textContent")
        deadline, kinds = time.time() + 20, set()
        while time.time() < deadline:
            events = httpx.get(f"{base}v1/apps/{app_id}/conferences/{conference}/events", headers=headers,
                               verify=False).json()
            kinds = {(e["path"], e["body"].get("eventType")) for e in events}
            if ("events/fabric/terminated", "fabricTerminated") in kinds:
                break
            time.sleep(0.5)
        for expected in (("events/media/actions", "audioMute"), ("events/media/actions", "videoPause"),
                         ("events/fabric/actions", "fabricHold"), ("events/media/actions", "screenShareStart"),
                         ("events/fabric/terminated", "fabricTerminated"), ("events/fabric/setup", "fabricSetup")):
            assert expected in kinds, (expected, kinds)
        assert errors == []
        check_dashboard(page, base, app_id, read_key, conference, events)
    finally:
        demo.terminate()
        demo.wait(10)


def check_dashboard(page, base, app_id, read_key, conference, events):
    """The dashboard lists the call; its page shows the timeline and charts of the stored points."""
    page.goto(f"{base}dashboard/#app={app_id}&key={read_key}")
    page.wait_for_selector(f"text={conference}")
    row = page.inner_text(f"#conferences tbody tr:has-text('{conference}')")
    assert any(rating in row for rating in ("excellent", "good", "fair", "poor", "bad")), row  # worst quality
    page.click(f"text={conference}")
    page.wait_for_function("window.dashboard && window.dashboard.ready", timeout=30_000)
    timeline = page.eval_on_selector_all("#timeline li", "items => items.map(li => li.dataset.path)")
    assert timeline == [e["path"] for e in events] or len(timeline) >= len(events)
    assert "events/fabric/setup" in timeline and "events/media/actions" in timeline
    text = page.inner_text("#timeline")
    for name in ("audioMute", "videoPause", "fabricHold", "screenShareStart", "fabricTerminated", "setup delay"):
        assert name in text, name
    setup = page.inner_text("#fabrics")
    assert " ms" in setup and "established" in setup or "terminated" in setup
    charts = page.evaluate("dashboard.charts")
    assert {"bytesSent", "bytesReceived", "jitter", "roundTripTime", "framesPerSecond", "csioMos"} <= set(charts)
    for field, chart in charts.items():
        for stream in chart["streams"]:
            # every stored point is plotted (a bitrate needs two of them)
            expected = stream["stored"] - 1 if field in ("bytesSent", "bytesReceived") else stream["stored"]
            assert stream["plotted"] == expected > 0, (field, stream)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.screenshot(path=str(ARTIFACTS / "conference.png"), full_page=True)

    # a wrong read key shows an error and no data; so does another app's key (403)
    page.goto(f"{base}dashboard/#app={app_id}&key=wrong")
    page.wait_for_selector("#error:has-text('401')")
    assert page.eval_on_selector_all("#conferences tbody tr", "rows => rows.length") == 0
