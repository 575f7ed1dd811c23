"""Drop-in for real integrations: pages written for the deployed callstats.js, often through a
framework's wrapper module, that add their fabrics from csInitCallback (so for pcs that connected
long before), subclass or shim RTCPeerConnection, attach Electron's Wi-Fi handler, and rely on every
answer being the deployed client's."""

import json
import shutil
import uuid
from urllib.parse import quote

import httpx
import pytest

from pyclient import models

from ..conftest import ROOT
from ..servers import run_cli
from .call_page import LOOPBACK_CALL
from .python_state import wait_for, wait_for_state, wait_until

# Each pc's own clock: when the page made it, when it connected (performance.now()).
TIMED = """<script>
window.t = {};
function timed(pc, name) {
  t[name] = { made: performance.now(), connected: null };
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "connected" && t[name].connected === null) t[name].connected = performance.now();
  });
  return pc;
}
const up = (pc) => new Promise((resolve) => pc.connectionState === "connected" ? resolve()
  : pc.addEventListener("connectionstatechange", () => pc.connectionState === "connected" && resolve()));
</script>"""

# a1, a2 made after the script tag (the loader sees them made); b1, b2 before it (it never does).
# Both calls connect, and only then does the page initialize and, from csInitCallback's success,
# add all four: the order of a wrapper module that waits for the callback.
LATE = """<!doctype html><html><body>""" + LOOPBACK_CALL + TIMED + """
<script>const b1 = timed(new RTCPeerConnection(), "b1"), b2 = timed(new RTCPeerConnection(), "b2");</script>
<script src="{collector}callstats.js"></script>
<script>
const a1 = timed(new RTCPeerConnection(), "a1"), a2 = timed(new RTCPeerConnection(), "a2");
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const conference = new URLSearchParams(location.search).get("conference");
window.seen = { init: [], added: [] };
Promise.all([loopbackCall(a1, a2, true), loopbackCall(b1, b2, true)])
  .then(() => Promise.all([a1, a2, b1, b2].map(up)))
  .then(() => {
    const asked = performance.now();
    callstats.initialize(app.appID, app.appSecret, "alice", (status, msg) => {
      seen.init.push([status, msg, performance.now() - asked]);
      if (status !== "success") return;
      for (const [pc, name] of [[a1, "a1"], [a2, "a2"], [b1, "b1"], [b2, "b2"]]) {
        seen.added.push(callstats.addNewFabric(pc, "bob-" + name, "multiplex", conference).status);
      }
    });
  });
</script></body></html>"""


def read(collector, app, path):
    with httpx.Client(http2=True, verify=False, base_url=collector.url) as client:
        answer = client.get(f"/v1/apps/{app['appID']}/conferences/{path}",
                            headers={"Authorization": f"Bearer {app['readKey']}"})
        return answer.json() if answer.status_code == 200 else None


def wait_for_collector(page, collector, app, path, holds, what, timeout=60):
    """The read API's answer once holds(answer)."""
    def probe():
        found = read(collector, app, path)
        return found if found is not None and holds(found) else None

    try:
        return wait_for(page, probe, what, timeout * 1000)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; the collector has {json.dumps(read(collector, app, path))[:2000]}") from None


def test_fabrics_added_from_csInitCallback_after_they_connected_are_set_up(page, collector, serve_page):
    app = run_cli("apps", "create", "--name", "late", "--data-dir", str(collector.data_dir))
    conference = f"late-{uuid.uuid4().hex[:8]}"
    page.goto(serve_page("late.html", LATE) + f"?conference={conference}#{quote(json.dumps(app))}")
    wait_until(page, "seen.added.length === 4", timeout=90_000)
    (init,) = page.evaluate("seen.init")  # told once, by whichever side made the handshake
    assert init[:2] == ["success", "authentication successful"]
    assert page.evaluate("seen.added") == ["success"] * 4
    events = wait_for_collector(page, collector, app, f"{quote(conference, safe='')}/events",
                                lambda found: len([e for e in found if e["path"] == "events/fabric/setup"]) == 4,
                                "a fabric/setup for each of the four fabrics")
    setups = {e["body"]["remoteID"]: e["body"] for e in events if e["path"] == "events/fabric/setup"}
    timed = page.evaluate("t")
    for name, body in ((name, setups[f"bob-{name}"]) for name in ("a1", "a2", "b1", "b2")):
        assert body["localIceCandidates"] and body["remoteIceCandidates"] and body["iceCandidatePairs"], name
        assert body["selectedCandidatePairID"], name
        if name.startswith("b"):  # made before the script: when it connected is not known
            assert body.get("delay") is None, (name, body.get("delay"))
            continue
        truth = timed[name]["connected"] - timed[name]["made"]
        assert abs(body["delay"] - truth) <= 0.1 * truth + 50, (name, body["delay"], truth)
    detail = read(collector, app, quote(conference, safe=""))
    fabrics = [f for person in detail["participants"] for f in person["fabrics"]]
    assert len(fabrics) == 4 and all(f["state"] == "established" for f in fabrics)


# The same late hand-over, for pcs made the ways pages make them: plainly, by a subclass, and
# through webrtc-adapter loaded before or after the script tag.
COMPAT = """<!doctype html><html><body>""" + LOOPBACK_CALL + TIMED + """
{adapter_before}
<script src="{collector}callstats.js"></script>
{adapter_after}
<script>
const checks = {};
const Native = RTCPeerConnection;
class Instrumented extends RTCPeerConnection {
  constructor(config) { super(config); this.made = true; }
  label() { return "subclass"; }
}
const plain = timed(new RTCPeerConnection(), "plain");
const sub = timed(new Instrumented(), "sub");
checks.instanceOf = plain instanceof RTCPeerConnection && sub instanceof RTCPeerConnection && sub instanceof Instrumented;
checks.subclass = sub.made === true && sub.label() === "subclass";
checks.prototype = Object.getPrototypeOf(plain) === RTCPeerConnection.prototype;
checks.name = RTCPeerConnection.name === "RTCPeerConnection";
try { RTCPeerConnection(); checks.withoutNew = "did not throw"; } catch (err) { checks.withoutNew = err instanceof TypeError; }
checks.adapter = typeof adapter === "undefined" ? null : adapter.browserDetails.browser;
window.ready = (async () => {
  const cert = await RTCPeerConnection.generateCertificate({ name: "ECDSA", namedCurve: "P-256" });
  checks.generateCertificate = cert instanceof RTCCertificate && cert.expires > Date.now();
  const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  await loopbackCall(plain, sub, true);
  await Promise.all([plain, sub].map(up));
  callstats.initialize(app.appID, app.appSecret, "alice", (status) => {
    if (status !== "success") return;
    callstats.addNewFabric(plain, "bob", "multiplex", "compat");
    callstats.addNewFabric(sub, "carol", "multiplex", "compat");
  });
  return checks;
})();
</script></body></html>"""


@pytest.mark.parametrize("adapter", ["none", "before", "after"])
def test_the_page_does_not_notice_that_its_pcs_are_observed(page, collector, serve_page, app_origin, adapter):
    shutil.copy(ROOT / "node_modules" / "webrtc-adapter" / "out" / "adapter.js", app_origin.pages / "adapter.js")
    tag = '<script src="adapter.js"></script>'
    html = COMPAT.replace("{adapter_before}", tag if adapter == "before" else "") \
                 .replace("{adapter_after}", tag if adapter == "after" else "")
    app = run_cli("apps", "create", "--name", "compat", "--data-dir", str(collector.data_dir))
    page.goto(serve_page(f"compat-{adapter}.html", html) + f"#{quote(json.dumps(app))}")
    checks = page.evaluate("ready")
    assert {k: v for k, v in checks.items() if k != "adapter"} == {
        "instanceOf": True, "subclass": True, "prototype": True, "name": True, "withoutNew": True,
        "generateCertificate": True}
    assert (checks["adapter"] is None) == (adapter == "none")
    state = wait_for_state(page, "(s) => s.fabrics.length === 2 && s.fabrics.every((f) => f.setupDelay !== null)",
                           timeout=90_000)
    timed = page.evaluate("t")
    for fabric, name in zip(state["fabrics"], ("plain", "sub")):
        truth = timed[name]["connected"] - timed[name]["made"]
        assert fabric["createdAt"] is not None, name  # seen made, subclass and shim alike
        assert abs(fabric["setupDelay"] - truth) <= 0.1 * truth + 50, (name, fabric["setupDelay"], truth)


GARBAGE = """<!doctype html><html><body>
<script src="{collector}callstats.js"></script>
<script>
window.collected = 0;
const registry = new FinalizationRegistry(() => { collected++; });
(() => {
  for (let i = 0; i < 20; i++) {
    const pc = new RTCPeerConnection();  // observed from here on
    pc.createDataChannel("x");
    pc.createOffer().then((offer) => pc.setLocalDescription(offer)).then(() => pc.close());
    registry.register(pc, i);
  }
})();
</script></body></html>"""


@pytest.mark.needs("forced_gc")
def test_observing_the_pages_pcs_keeps_none_of_them_alive(page, collector, serve_page):
    page.goto(serve_page("garbage.html", GARBAGE))
    cdp = page.context.new_cdp_session(page)

    def collected_all():  # a full collection, then the registry's callbacks get their turn
        cdp.send("HeapProfiler.collectGarbage")
        return page.evaluate("collected") == 20

    wait_for(page, collected_all, "all 20 observed, closed pcs collected", timeout=15_000)
    assert page.evaluate("typeof callstats.version") == "string"  # the loader (and so its observer) ran first


WIFI = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script src="{collector}callstats.js"></script>
<script>
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const conference = new URLSearchParams(location.search).get("conference");
window.asked = 0;
window.attached = callstats.attachWifiStatsHandler(
  () => Promise.resolve(JSON.stringify({ signal: 70, rssi: -51, asked: ++asked })));
callstats.initialize(app.appID, app.appSecret, "alice");
const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
callstats.addNewFabric(pc1, "bob", "multiplex", conference);
loopbackCall(pc1, pc2, false);
</script></body></html>"""


def test_stats_carry_the_pages_wifi_figures_and_the_battery(page, collector, serve_page, browser_name):
    app = run_cli("apps", "create", "--name", "wifi", "--data-dir", str(collector.data_dir))
    conference = f"wifi-{uuid.uuid4().hex[:8]}"
    page.goto(serve_page("wifi.html", WIFI) + f"?conference={conference}#{quote(json.dumps(app))}")
    assert page.evaluate("attached.status") == "success"
    detail = wait_for_collector(page, collector, app, quote(conference, safe=""),
                                lambda d: d["participants"] and d["participants"][0]["wifiStats"],
                                "a participant row with the page's Wi-Fi figures", timeout=90)
    (person,) = detail["participants"]
    assert person["wifiStats"]["signal"] == 70 and person["wifiStats"]["rssi"] == -51
    assert 1 <= person["wifiStats"]["asked"] <= page.evaluate("asked")
    samples = read(collector, app, f"{quote(conference, safe='')}/stats")
    carrying = [s for s in samples if s.get("wifiStats")]  # each stored sample, as the page sent it
    assert carrying and all(s["wifiStats"]["rssi"] == -51 for s in carrying)
    has_battery = page.evaluate("typeof navigator.getBattery === 'function'")
    assert has_battery == (browser_name == "chromium")
    if has_battery:
        for battery in [person["batteryStatus"]] + [s["batteryStatus"] for s in carrying]:
            assert 0 <= battery["batteryLevel"] <= 1 and isinstance(battery["isBatteryCharging"], bool)
    else:
        assert person["batteryStatus"] is None and not any("batteryStatus" in s for s in samples)


# Every method with good arguments, in each state a page can call it: before initialize, after
# initialize while Python starts (the loader answers), and once Python is ready. Both sides answer
# each call (host.mjs compares them and counts disagreements).
WALK = """<!doctype html><html><body>
<script src="{collector}callstats.js"></script>
<script>
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const pc = new RTCPeerConnection();
const fn = () => {};
const args = (method) => ({
  initialize: [app.appID, app.appSecret, "alice", fn, fn, { disablePrecalltest: true }],
  addNewFabric: [pc, "bob", "multiplex", "walk"],
  reportError: [pc, "walk", "applicationLog", { message: "a log line" }],
  sendFabricEvent: [pc, "audioMute", "walk"],
  sendCallDetails: [pc, "walk", { callType: "inbound", role: "agent" }],
  associateMstWithUserID: [pc, "bob", "walk", "1234", "front-camera"],
  sendUserFeedback: ["walk", { userID: "alice", overall: 4 }],
  sendCustomEvent: [pc, "walk", { raised: "hand" }],
  sendCustomStats: [pc, "walk", { cpu: 0.5 }],
  setIdentifiers: [{ customerID: "c1" }],
  on: ["stats", fn],
  setProxyConfig: [{}],
  makePrecallTest: [fn],
  startPrecallTests: [],
  stopPrecallTests: [],
  attachWifiStatsHandler: [() => Promise.resolve("{}")],
  resetWifiStatsHandler: [],
  getTurnCredentials: [],
  getSctResults: [],
}[method]);
window.walk = (label) => METHODS.map((method) => {
  const answer = callstats[method](...args(method));
  return [label, method, answer.status, answer.msg, answer.message === answer.msg];
});
</script></body></html>"""

ORDER = ["setProxyConfig", "on", "attachWifiStatsHandler", "resetWifiStatsHandler", "getTurnCredentials",
         "getSctResults", "addNewFabric", "reportError", "sendFabricEvent", "sendCallDetails",
         "associateMstWithUserID", "sendUserFeedback", "sendCustomEvent", "sendCustomStats", "setIdentifiers",
         "makePrecallTest", "startPrecallTests", "stopPrecallTests", "initialize"]


def test_every_method_is_answered_alike_by_the_loader_and_by_python_in_every_state(page, collector, serve_page):
    assert set(ORDER) == set(models.METHODS) | set(models.UNSUPPORTED)
    app = run_cli("apps", "create", "--name", "walk", "--data-dir", str(collector.data_dir))
    page.goto(serve_page("walk.html", WALK.replace("METHODS", json.dumps(ORDER)))
              + f"#{quote(json.dumps(app))}")
    answers = page.evaluate("walk('before initialize')")
    assert page.evaluate("callstats.mode") is None, "Python was ready before the walk: nothing compared it"
    answers += page.evaluate("walk('initialized, Python starting')")
    page.evaluate("callstats.ready.then(() => true)")
    answers += page.evaluate("walk('Python ready')")
    assert all(same for *_, same in answers)
    state = wait_for_state(page, f"(s) => s.answers.compared >= {len(answers)}", timeout=60_000)
    assert state["answers"]["compared"] == len(answers)
    assert state["answers"]["disagreements"] == []
    failing = {(label, method) for label, method, status, *_ in answers if status == "failure"}
    needs_init = {name for name, m in models.METHODS.items() if m.needs_init}
    assert failing == ({("before initialize", m) for m in needs_init}
                       | {(label, m) for label in ("before initialize", "initialized, Python starting", "Python ready")
                          for m in models.UNSUPPORTED}
                       | {(label, "setProxyConfig") for label in ("initialized, Python starting", "Python ready")})
