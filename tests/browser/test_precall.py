"""The pre-call test through a real coturn on loopback: results to the page's callbacks, to
localStorage and to the collector; stopped as a call starts; every failure told with its reason;
nothing sent towards TURN at all with disablePrecalltest.

The collector's TURN URL is bench/relay.py's TurnFront in front of the coturn (passing everything
through untouched here): it counts what reaches TURN, the wire check of disablePrecalltest."""

import json
import socket
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from bench.relay import TurnFront
from collector import coturn
from collector.turn import credentials

from ..servers import run_cli, start_collector
from .call_page import LOOPBACK_CALL

# Before the loader: a spy on the pcs the pre-call test makes (relay-only), and when each closed.
PAGE = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script>
window.probePcs = [];
const NativePc = RTCPeerConnection;
window.RTCPeerConnection = function (config) {
  const pc = new NativePc(config);
  if (config && config.iceTransportPolicy === "relay") {
    const entry = { pc, closedAt: null };
    const close = pc.close.bind(pc);
    pc.close = () => { if (entry.closedAt === null) entry.closedAt = performance.now(); close(); };
    probePcs.push(entry);
  }
  return pc;
};
window.RTCPeerConnection.prototype = NativePc.prototype;
</script>
<script src="{collector}callstats.js"></script>
<script>
window.results = []; window.advice = []; window.auth = null;
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const config = JSON.parse(new URLSearchParams(location.search).get("config") || "{}");
callstats.on("preCallTestResults", (status, results) => window.results.push({ status, results }));
callstats.on("connectionRecommendation", (advice) => window.advice.push(advice));
callstats.initialize(app.appID, app.appSecret, "alice", (status) => { window.auth = status; }, null, config);
// a call: pc1 -> pc2 on loopback, pc1 handed to callstats; when it began and when it connected
window.startCall = (conference) => {
  window.pc1 = new RTCPeerConnection(); window.pc2 = new RTCPeerConnection();
  window.call = { startedAt: performance.now(), connectedAt: null };
  pc1.addEventListener("connectionstatechange", () => {
    if (pc1.connectionState === "connected") call.connectedAt = performance.now();
  });
  window.call.answer = callstats.addNewFabric(pc1, "bob", "multiplex", conference).status;
  loopbackCall(pc1, pc2, false);
};
</script></body></html>"""


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    assert coturn.installed(), "coturn is not installed (./dev setup installs it)"
    server = coturn.start(tmp_path_factory.mktemp("coturn"))
    front = TurnFront(server.host, server.port).start()
    yield server, front
    front.stop()
    server.stop()


@pytest.fixture(scope="module")
def turn_collector(collector, turn, dist, tmp_path_factory):
    """A collector whose tokens carry TURN credentials for the coturn (reached through the front),
    with the certificate the browser trusts."""
    server, front = turn
    cert = ("--certfile", str(collector.data_dir / "collector-cert.pem"),
            "--keyfile", str(collector.data_dir / "collector-key.pem"))
    found = start_collector(tmp_path_factory.mktemp("turn-collector") / "data", dist=dist,
                            extra=(*cert, "--turn-url", f"turn:{front.host}:{front.port}", "--turn-secret",
                                   server.turn.secret, "--submission-interval", "2000"))
    found.app = run_cli("apps", "create", "--name", "precall", "--data-dir", str(found.data_dir))
    yield found
    found.stop()


def open_page(page, app_origin, collector, app: dict, config: dict | None = None):
    name = f"precall-{uuid.uuid4().hex[:8]}.html"
    (app_origin.pages / name).write_text(PAGE.replace("{collector}", collector.url))
    query = f"?config={quote(json.dumps(config))}" if config else ""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_origin.url + name + query + "#" + quote(json.dumps(app)))
    return errors


def stored_events(collector, app: dict, conference: str, path: str, deadline_s: float = 30) -> list:
    url = f"{collector.url}v1/apps/{app['appID']}/conferences/{quote(conference, safe='')}/events"
    headers = {"Authorization": f"Bearer {app['readKey']}"}
    with httpx.Client(verify=False) as client:
        deadline = time.time() + deadline_s
        while time.time() < deadline:
            answer = client.get(url, headers=headers)
            found = [e for e in answer.json() if e["path"] == path] if answer.status_code == 200 else []
            if found:
                return found
            time.sleep(0.5)
    return []


def test_the_automatic_test_reaches_the_page_the_collector_and_local_storage(page, app_origin, turn_collector):
    app = turn_collector.app
    errors = open_page(page, app_origin, turn_collector, app)
    page.wait_for_function("results.length > 0", timeout=60_000)
    first = page.evaluate("results[0]")
    assert first["status"] == "success", json.dumps(first)
    found = first["results"]
    assert found["mediaConnectivity"] is True
    assert found["rtt"] > 0 and found["jitter"] >= 0
    assert found["throughput"] > 0
    assert 0 <= found["fractionalLoss"] <= 1
    assert found["bytesSent"] > 0 and found["provider"] == "callstats" and found["automatic"] is True
    assert found["relayConnectivity"] == {"udp": True, "tcp": True}
    assert found["startTimestamp"] <= found["endTimestamp"]
    assert page.evaluate("advice[0].recommendation") in ("audioVideo", "audioOnly", "poor")
    kept = json.loads(page.evaluate(f"localStorage.getItem('callstats.precall.{app['appID']}')"))
    assert kept[-1] == found
    assert page.evaluate("probePcs.length") >= 4  # UDP, then TCP: two pcs each
    assert page.evaluate("probePcs.every((p) => p.closedAt !== null)")
    # the results go with the user's next call
    conference = f"precall-{uuid.uuid4().hex[:6]}"
    page.evaluate("(c) => startCall(c)", conference)
    stored = stored_events(turn_collector, app, conference, "events/precall")
    assert stored and stored[0]["body"]["results"] == found
    assert stored[0]["eventType"] == "precallTestResultsAutomatic"
    assert errors == []
    # the dashboard shows them next to the user's call
    page.goto(f"{turn_collector.url}dashboard/conference.html?conference={quote(conference)}"
              f"#app={app['appID']}&key={app['readKey']}")
    page.wait_for_function("window.dashboard && window.dashboard.ready", timeout=30_000)
    row = page.inner_text("#fabrics tbody tr:has-text('alice')")
    assert f"rtt {int(found['rtt'] + 0.5)} ms" in row and f"{int(found['throughput'] + 0.5)} kbit/s" in row, row  # Math.round


def test_a_call_stops_the_test_at_once(page, app_origin, turn_collector):
    app = turn_collector.app
    errors = open_page(page, app_origin, turn_collector, app)
    # measuring: the first probe's pcs are connected
    page.wait_for_function("probePcs.length >= 2 && probePcs[0].pc.connectionState === 'connected'",
                           timeout=60_000)
    page.evaluate("startCall('stopped-by-a-call')")
    page.wait_for_function("results.length > 0", timeout=30_000)
    outcome = page.evaluate("results[0]")
    assert outcome["status"] == "failure"
    assert outcome["results"]["reason"] == "callStarted"
    assert outcome["results"]["mediaConnectivity"] is True  # it had connected before it stopped
    page.wait_for_function("call.connectedAt !== null", timeout=30_000)
    timing = page.evaluate("""() => ({
        answer: call.answer,
        stoppedAfterMs: Math.max(...probePcs.map((p) => p.closedAt)) - call.startedAt,
        connectedAfterMs: call.connectedAt - call.startedAt,
        probes: probePcs.length })""")
    print(f"pre-call test stopped {timing['stoppedAfterMs']:.1f} ms after addNewFabric; "
          f"the call connected after {timing['connectedAfterMs']:.1f} ms")
    assert timing["answer"] == "success"
    assert timing["probes"] == 2  # the TCP probe never started
    # stopped before the call's own pc had even connected
    assert timing["stoppedAfterMs"] < timing["connectedAfterMs"]
    assert errors == []


def test_each_failure_is_told_with_its_reason(page, app_origin, collector, turn_collector, turn):
    coturn_server, _ = turn
    # no TURN configured (the main collector has none): the automatic test says so
    plain = run_cli("apps", "create", "--name", "no-turn", "--data-dir", str(collector.data_dir))
    errors = open_page(page, app_origin, collector, plain)
    page.wait_for_function("results.length > 0", timeout=60_000)
    assert page.evaluate("results[0].status") == "failure"
    assert page.evaluate("results[0].results.reason") == "noTurnServer"
    assert page.evaluate("probePcs.length") == 0

    # servers the page gives: unreachable, wrong credentials, expired credentials
    app = turn_collector.app
    errors += open_page(page, app_origin, turn_collector, app, {"disablePrecalltest": True})
    page.wait_for_function("auth === 'success'", timeout=60_000)
    closed = f"turn:{coturn_server.host}:{free_udp_port(coturn_server.host)}"
    good = credentials(coturn_server.turn, "alice", ttl_s=3600)
    expired = credentials(coturn_server.turn, "alice", ttl_s=-60)
    cases = {
        "unreachable": [{"urls": [f"{closed}?transport=udp", f"{closed}?transport=tcp"], **_creds(good)}],
        "wrong": [{"urls": coturn_server.turn.urls(), "username": good["username"], "credential": "wrong"}],
        "expired": [{"urls": coturn_server.turn.urls(), **_creds(expired)}],
    }
    reasons = {}
    for name, servers in cases.items():
        answer = page.evaluate("""(servers) => new Promise((resolve) => {
            const answer = callstats.makePrecallTest(servers, (status, results) => resolve({answer, status, results}));
        })""", servers)
        assert answer["answer"]["status"] == "success"
        assert answer["status"] == "failure", (name, answer)
        assert answer["results"]["message"], answer
        reasons[name] = answer["results"]["reason"]
    assert reasons["unreachable"] == "turnUnreachable"
    assert reasons["expired"] == "turnCredentialsExpired"
    # Chromium tells the 401 (icecandidateerror); an engine without that event sees no relay candidate
    assert reasons["wrong"] in (("turnCredentialsRefused",) if page.context.browser.browser_type.name == "chromium"
                                else ("turnCredentialsRefused", "turnUnreachable"))
    # bad arguments: a failure naming the argument, nothing thrown
    bad = page.evaluate("callstats.makePrecallTest([{urls: 'http://example.com'}])")
    assert bad["status"] == "failure" and "iceServers" in bad["msg"]
    # the session goes on: a call after all that is reported
    conference = f"after-failures-{uuid.uuid4().hex[:6]}"
    page.evaluate("(c) => startCall(c)", conference)
    assert stored_events(turn_collector, app, conference, "events/fabric/setup")
    assert errors == []


def test_disabled_sends_nothing_towards_turn(page, app_origin, turn_collector, turn):
    _, front = turn
    app = turn_collector.app
    before = dict(front.counts)
    errors = open_page(page, app_origin, turn_collector, app, {"disablePrecalltest": True})
    page.wait_for_function("auth === 'success'", timeout=60_000)
    page.wait_for_timeout(3000)  # an automatic test would have allocated on TURN by now
    assert front.counts == before
    assert page.evaluate("probePcs.length") == 0 and page.evaluate("results.length") == 0
    # the same page asking for a test reaches TURN: the check above could see it
    page.evaluate("callstats.startPrecallTests()")
    page.wait_for_function("results.length > 0", timeout=60_000)
    assert page.evaluate("results[0].status") == "success"
    assert front.counts["udp"] > before["udp"] and front.counts["tcp"] > before["tcp"]
    assert errors == []


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((host, 0))
        return udp.getsockname()[1]


def _creds(server: dict) -> dict:
    return {"username": server["username"], "credential": server["credential"]}
