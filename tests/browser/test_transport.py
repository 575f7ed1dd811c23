"""Nothing lost: a real browser, a real call, a real collector that this test
stops, restarts, answers 429 in front of, or whose answer it loses, and tokens that expire."""

import gzip
import json
import time
import uuid
from collections import Counter
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..servers import run_cli, start_collector
from .call_page import LOOPBACK_CALL
from .python_state import wait_for_state, wait_until

# A call page whose collector is in the page URL (?c=), so a test can point it at its own collector.
# ?conference= starts a 2-pc call; without it the page only initializes (a later visit of the site).
PAGE = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script>
const params = new URLSearchParams(location.search);
const tag = document.createElement("script");
tag.src = params.get("c") + "callstats.js";
tag.onload = start;
document.body.appendChild(tag);
window.seen = { init: [], forceNew: [] };
window.pcs = [];
function start() {
  const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  const secret = app.tokens
    ? (forceNew, callback) => {
        seen.forceNew.push(forceNew);
        if (app.failFirst && seen.forceNew.length === 1) callback("the app's token server is down");
        else callback(null, app.tokens[seen.forceNew.length - 1]);
      }
    : app.appSecret;
  callstats.initialize(app.appID, secret, "alice", (status, msg) => seen.init.push([status, msg]), null, {});
  const conference = params.get("conference");
  if (!conference) return;
  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  pcs.push(pc1, pc2);
  callstats.addNewFabric(pc1, "bob", "multiplex", conference);
  callstats.addNewFabric(pc2, "alice-remote", "multiplex", conference);
  loopbackCall(pc1, pc2, true);
}
function hangUp() { pcs.forEach((pc) => pc.close()); }
</script></body></html>"""


@pytest.fixture
def own_collector(collector, dist, tmp_path):
    """start(port=0, *extra) -> a collector of this test's own (restartable on its port, same data),
    with the certificate the browser trusts."""
    cert = ("--certfile", str(collector.data_dir / "collector-cert.pem"),
            "--keyfile", str(collector.data_dir / "collector-key.pem"))
    started = []

    def start(port=0, *extra):
        server = start_collector(tmp_path / "data", dist=dist, port=port,
                                 extra=(*cert, "--submission-interval", "2000", *extra))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def open_page(page, serve_page, server, app, conference=None):
    query = f"?c={quote(server.url)}" + (f"&conference={conference}" if conference else "")
    page.goto(serve_page("transport.html", PAGE) + query + "#" + quote(json.dumps(app)))
    wait_until(page, "window.callstats && seen.init.length", timeout=90_000)
    page.evaluate("callstats.ready")


def transport(page) -> dict:
    return page.evaluate("callstats._inspect().then((s) => s.transport)")


def read_all(server, app, conference, what) -> list:
    with httpx.Client(http2=True, verify=False, base_url=server.url) as client:
        answer = client.get(f"/v1/apps/{app['appID']}/conferences/{quote(conference, safe='')}/{what}",
                            headers={"Authorization": f"Bearer {app['readKey']}"}, params={"limit": 500})
        assert answer.status_code == 200 and "x-next-cursor" not in answer.headers
        return answer.json()


def stored_by_kind(server, app, conference) -> Counter:
    events = read_all(server, app, conference, "events")
    return Counter(e["path"] for e in events) + Counter(s["path"] for s in read_all(server, app, conference, "stats"))


def hang_up_and_drain(page):
    """End the call (terminated events, final stats), then wait until the queue is empty."""
    page.evaluate("hangUp()")
    wait_for_state(page, "(s) => s.transport.queued === 0 && s.transport.queuedByKind['events/fabric/terminated'] === 2",
                   timeout=120_000)


def assert_all_stored_once(page, server, app, conference):
    state = page.evaluate("callstats._inspect()")
    client = state["transport"]
    assert client["dropped"] == 0 and client["droppedSamples"] == 0
    assert stored_by_kind(server, app, conference) == Counter(client["queuedByKind"])
    # the values rebuilt from the deltas are the last sample the client had acknowledged
    stats = read_all(server, app, conference, "stats")
    for fabric in state["fabrics"]:
        mine = [s["stats"] for s in stats if s["connectionID"] == fabric["connectionID"]]
        assert sorted(mine[-1], key=lambda e: e["id"]) == sorted(fabric["lastUploaded"], key=lambda e: e["id"])
    return stats


def test_a_30_s_outage_in_a_60_s_call_loses_nothing(new_context, own_collector, python_runs):
    server = own_collector()
    app = run_cli("apps", "create", "--name", "outage", "--data-dir", str(server.data_dir))
    conference = f"outage-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append((time.time(), m.type, m.text)))
    open_page(page, python_runs.serve, server, app, conference)
    assert page.evaluate("callstats.mode") == python_runs.mode
    page.wait_for_timeout(15_000)

    before = transport(page)["requests"]
    stopped_at = time.time()
    server.stop()
    page.wait_for_timeout(30_000)
    during = transport(page)["requests"] - before
    restarted_at = time.time()
    server = own_collector(int(server.url.rsplit(":", 1)[1].strip("/")))
    page.wait_for_timeout(15_000)
    hang_up_and_drain(page)

    stats = assert_all_stored_once(page, server, app, conference)
    assert during <= 12, during
    noise = [c for c in console if stopped_at <= c[0] <= restarted_at and c[1] in ("error", "warning")]
    assert len(noise) <= 12, noise
    # the samples taken during the outage are all there: no hole in any fabric's series
    for connection in {s["connectionID"] for s in stats}:
        times = [s["timestamp"] for s in stats if s["connectionID"] == connection]
        assert len(times) >= 25 and max(b - a for a, b in zip(times, times[1:])) < 5000, times
    context.close()


def test_429_with_retry_after_is_waited_and_loses_nothing(new_context, serve_page, own_collector, app_origin):
    server = own_collector()
    app = run_cli("apps", "create", "--name", "busy", "--data-dir", str(server.data_dir))
    conference = f"busy-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    window = {"until": 0.0}
    refused = []

    def busy(route):
        if route.request.method == "POST" and time.time() < window["until"]:
            refused.append(time.time())
            route.fulfill(status=429, headers={
                "Retry-After": "5", "Access-Control-Allow-Origin": app_origin.url.rstrip("/"),
                "Access-Control-Expose-Headers": "retry-after", "Content-Type": "application/json"},
                body='{"status": "error", "msg": "slow down"}')
            return
        route.fallback()

    page.route(f"{server.url}v1/apps/**", busy)
    open_page(page, serve_page, server, app, conference)
    page.wait_for_timeout(6_000)
    window["until"] = time.time() + 20
    page.wait_for_timeout(25_000)
    hang_up_and_drain(page)

    assert_all_stored_once(page, server, app, conference)
    assert 2 <= len(refused) <= 5, refused  # 20 s, told to wait 5 s each time
    gaps = [b - a for a, b in zip(refused, refused[1:])]
    assert all(gap >= 4.8 for gap in gaps), gaps
    context.close()


def app_with_tokens(server, tmp_path) -> dict:
    """An app whose page signs in with third-party tokens (ES256, key k1): twelve of them."""
    app = run_cli("apps", "create", "--name", "tokens", "--data-dir", str(server.data_dir))
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "key.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    run_cli("apps", "add-key", "--app", str(app["appID"]), "--key-id", "k1", "--public-key", str(public),
            "--data-dir", str(server.data_dir))
    now = int(time.time())
    # the app's own server would sign these on demand; each use needs a fresh one (jti)
    app["tokens"] = [jwt.encode({"appID": app["appID"], "userID": "alice", "keyID": "k1", "iat": now,
                                 "exp": now + 600, "jti": uuid.uuid4().hex}, key, algorithm="ES256")
                     for _ in range(12)]
    return app


def test_an_expiring_token_is_renewed_with_force_new(new_context, serve_page, own_collector, tmp_path):
    server = own_collector(0, "--token-lifetime", "20")  # renewed 10 s after it is issued
    app = app_with_tokens(server, tmp_path)
    conference = f"tokens-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    open_page(page, serve_page, server, app, conference)
    page.wait_for_timeout(35_000)
    hang_up_and_drain(page)

    assert_all_stored_once(page, server, app, conference)
    asked = page.evaluate("seen.forceNew")
    assert asked[0] is False and len(asked) >= 3 and all(asked[1:]), asked
    assert [status for status, _ in page.evaluate("seen.init")] == ["success"]
    context.close()


def test_a_failing_token_generator_is_reported_and_asked_again(new_context, serve_page, own_collector, tmp_path):
    server = own_collector()
    app = {**app_with_tokens(server, tmp_path), "failFirst": True}  # the first callback gives an error
    conference = f"tokens-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    open_page(page, serve_page, server, app, conference)
    wait_until(page, "seen.init.length === 2", timeout=60_000)
    wait_for_state(page, "(s) => s.fabrics.every((f) => f.lastUploaded)", timeout=60_000)
    hang_up_and_drain(page)

    assert page.evaluate("seen.init") == [
        ["tokenGenerationError", "token generator failed: the app's token server is down"],
        ["success", "authentication successful"]]
    assert page.evaluate("seen.forceNew")[:2] == [False, False]  # asked again; no token of it was used
    assert_all_stored_once(page, server, app, conference)
    context.close()


def test_what_a_page_could_not_send_arrives_once_with_the_next_page(new_context, serve_page, own_collector):
    server = own_collector()
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    app = run_cli("apps", "create", "--name", "unreachable", "--data-dir", str(server.data_dir))
    conference = f"unreachable-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    open_page(page, serve_page, server, app, conference)
    wait_for_state(page, "(s) => s.transport.sent >= 6", timeout=60_000)
    server.stop()
    page.wait_for_timeout(8_000)  # stats pile up meanwhile
    page.close(run_before_unload=True)

    server = own_collector(port)
    assert [e["path"] for e in read_all(server, app, conference, "events")].count("events/fabric/terminated") == 0
    later = context.new_page()
    later.goto(serve_page("transport.html", PAGE) + "#check")
    assert later.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('callstats.unsent.')).length") >= 1
    open_page(later, serve_page, server, app)  # the same site, the same app and user, no call
    wait_for_state(later, "(s) => s.transport.sent >= 1 && s.transport.queued === 0",
                            timeout=60_000)

    events = read_all(server, app, conference, "events")
    paths = Counter(e["path"] for e in events)
    assert paths["events/fabric/terminated"] == 2 and paths["events/user/left"] == 1 and paths["join"] == 1
    assert len({e["body"]["itemID"] for e in events}) == len(events)
    stats = read_all(server, app, conference, "stats")
    for connection in {s["connectionID"] for s in stats}:
        times = [s["timestamp"] for s in stats if s["connectionID"] == connection]
        assert len(times) == len(set(times)) and max(b - a for a, b in zip(times, times[1:])) < 5000, times
    assert later.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('callstats.unsent.')).length") == 0
    context.close()


@pytest.mark.needs("request_bodies")
@pytest.mark.browser_context_args(ignore_https_errors=True)  # route.fetch goes from Playwright itself
def test_a_lost_answer_is_sent_again_and_stored_once(new_context, serve_page, own_collector):
    server = own_collector()
    app = run_cli("apps", "create", "--name", "lost", "--data-dir", str(server.data_dir))
    conference = f"lost-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    posted, encodings = [], []  # (gzipped, plain length) of each

    def lose_first_stats_answer(route):
        request = route.request
        if request.method != "POST" or not request.url.endswith(("/stats", "/batch")):
            route.fallback()
            return
        raw = request.post_data_buffer
        zipped = request.headers.get("content-encoding") == "gzip"
        posted.append(json.loads(gzip.decompress(raw) if zipped else raw))
        encodings.append((zipped, len(gzip.decompress(raw) if zipped else raw)))
        if len(posted) == 1:
            route.fetch()  # the collector stores it...
            route.abort("connectionreset")  # ...and its answer never reaches the page
            return
        route.fallback()

    page.route(f"{server.url}v1/apps/**", lose_first_stats_answer)
    open_page(page, serve_page, server, app, conference)
    wait_for_state(page, "(s) => (s.transport.queuedByKind.stats || 0) >= 6", timeout=60_000)
    hang_up_and_drain(page)

    ids = [item_ids(p) for p in posted]
    assert ids[0] and set(ids[0]) <= set(ids[1])  # the same items went again
    assert all(zipped == (length > 1024) for zipped, length in encodings), encodings  # JSON over 1 KB: gzip
    assert any(zipped for zipped, _ in encodings)
    assert_all_stored_once(page, server, app, conference)
    context.close()


def item_ids(posted: dict) -> list:
    return [i["body"]["itemID"] for i in posted["items"]] if "items" in posted else [posted["itemID"]]


def test_a_page_closed_before_python_was_ready_is_sent_by_the_next_one(new_context, serve_page, own_collector):
    server = own_collector()
    app = run_cli("apps", "create", "--name", "early", "--data-dir", str(server.data_dir))
    conference = f"early-{uuid.uuid4().hex[:6]}"
    context = new_context()
    page = context.new_page()
    page.route("**/pyodide.mjs", lambda route: route.abort())  # Python never starts on this page
    page.goto(serve_page("transport.html", PAGE) + f"?c={quote(server.url)}&conference={conference}#"
              + quote(json.dumps(app)))
    wait_until(page, "pcs.length === 2 && pcs.every((pc) => pc.connectionState === 'connected')",
                           timeout=30_000)
    page.evaluate("callstats.sendFabricEvent(pcs[0], 'audioMute', new URLSearchParams(location.search).get('conference'))")
    assert page.evaluate("callstats._inspect()") is None  # the loader alone: queued, recorded
    page.close(run_before_unload=True)

    later = context.new_page()
    open_page(later, serve_page, server, app)  # the same site, app and user; no call of its own
    deadline, events = time.time() + 60, []
    while time.time() < deadline and Counter(e["path"] for e in events)["events/user/left"] < 1:
        time.sleep(1)
        events = read_all(server, app, conference, "events")
    paths = Counter(e["path"] for e in events)
    assert paths["join"] == 1 and paths["events/fabric/setup"] == 2 and paths["events/fabric/terminated"] == 2
    assert paths["events/media/actions"] == 1 and paths["events/user/left"] == 1
    assert all(0 < e["body"]["delay"] < 10_000 for e in events if e["path"] == "events/fabric/setup")
    for connection in {e["connectionID"] for e in events if e["path"] == "events/fabric/setup"}:
        ice = [e["body"]["newState"] for e in events if e["path"] == "events/fabric/statechange"
               and e["connectionID"] == connection and e["body"]["changedState"] == "iceConnectionState"]
        assert ice[:2] == ["checking", "connected"], ice  # replayed with the times the page recorded
    assert later.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('callstats.early.')).length") == 0
    context.close()
