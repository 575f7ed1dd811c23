"""A real call monitored end to end: a real browser (Chromium, Firefox), real Pyodide, the real
collector over TLS + HTTP/2 from another origin."""

import time
import uuid

import httpx

from ..servers import run_cli
from .call_page import LOOPBACK_CALL
from .engines import ABSENT
from .python_state import wait_for_state, wait_until

CALL = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script src="{collector}callstats.js"></script>
<script>
window.seen = { init: [], stats: [] };
const conference = new URLSearchParams(location.search).get("conference");
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const config = {applicationVersion: "test 1.0", siteID: "lab",
                disableBeforeUnloadHandler: new URLSearchParams(location.search).has("noGoodbye")};
window.onbeforeunload = () => { localStorage.setItem("ownHandlerRan", conference); };
callstats.initialize(app.appID, app.appSecret, "alice", (status, msg) => seen.init.push([status, msg]),
                     (payload) => seen.stats.push(payload), config);
const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
callstats.addNewFabric(pc1, "bob", "multiplex", conference);
callstats.addNewFabric(pc2, "alice-remote", "multiplex", conference);
loopbackCall(pc1, pc2, true);
</script></body></html>"""


def read(collector, app, conference, what=""):
    from urllib.parse import quote

    with httpx.Client(http2=True, verify=False, base_url=collector.url) as client:
        answer = client.get(f"/v1/apps/{app['appID']}/conferences/{quote(conference, safe='')}{what}",
                            headers={"Authorization": f"Bearer {app['readKey']}"})
        return answer.json() if answer.status_code == 200 else None


def test_a_real_call_reaches_the_collector(page, collector, python_runs, browser_name):
    import json
    from urllib.parse import quote

    app = run_cli("apps", "create", "--name", "call", "--data-dir", str(collector.data_dir))
    conference = f"call-{uuid.uuid4().hex[:8]}"
    page.goto(python_runs.serve("monitor.html", CALL) + f"?conference={conference}#{quote(json.dumps(app))}")
    wait_until(page, "seen.init.length && seen.stats.length >= 3", timeout=90_000)
    assert page.evaluate("seen.init")[0] == ["success", "authentication successful"]
    assert page.evaluate("callstats.mode") == python_runs.mode

    deadline = time.time() + 60
    while time.time() < deadline:  # until every fabric has 3 uploads stored
        samples = read(collector, app, conference, "/stats") or []
        per_fabric = {}
        for s in samples:
            per_fabric.setdefault(s["connectionID"], []).append(s)
        if len(per_fabric) == 2 and all(len(v) >= 3 for v in per_fabric.values()):
            break
        time.sleep(1)
    assert len(per_fabric) == 2 and all(len(v) >= 3 for v in per_fabric.values()), per_fabric.keys()

    events = read(collector, app, conference, "/events")
    paths = [e["path"] for e in events]
    assert paths[0] == "join" and "events/userdetails" in paths
    join = events[0]["body"]
    assert join["endpointInfo"]["type"] == "browser" and join["endpointInfo"]["appVersion"] == "test 1.0"
    assert join["siteID"] == "lab"
    setups = [e for e in events if e["path"] == "events/fabric/setup"]
    assert len(setups) == 2 and all(0 < e["body"]["delay"] < 5000 for e in setups)
    for setup in setups:  # with the candidates and the pair in use
        pairs = {p["id"] for p in setup["body"]["iceCandidatePairs"]}
        assert setup["body"]["selectedCandidatePairID"] in pairs and setup["body"]["localIceCandidates"]
    # the SSRCs the descriptions announced cover every RTP stream in the stats
    mapped = {str(s["ssrc"]) for e in events if e["path"] == "events/ssrcmap" for s in e["body"]["ssrcData"]}
    rtp = {str(e["ssrc"]) for s in samples for e in s["stats"] if e["type"] in ("inbound-rtp", "outbound-rtp")}
    assert rtp and rtp <= mapped, (rtp, mapped)
    assert any(e["path"] == "events/sdp" and "a=ssrc" in e["body"].get("localSDP", "") for e in events)
    for connection in per_fabric:
        ice = [e["body"]["newState"] for e in events if e["path"] == "events/fabric/statechange"
               and e["connectionID"] == connection and e["body"]["changedState"] == "iceConnectionState"]
        assert ice[:2] == ["checking", "connected"], ice

    # non-zero bitrate for audio and video, sent and received, in the rebuilt samples
    for connection, stored in per_fabric.items():
        first, last = stored[0]["stats"], stored[-1]["stats"]
        for kind, counter in (("outbound-rtp", "bytesSent"), ("inbound-rtp", "bytesReceived")):
            for media in ("audio", "video"):
                before = sum(e.get(counter, 0) for e in first if e["type"] == kind and e.get("kind") == media)
                after = sum(e.get(counter, 0) for e in last if e["type"] == kind and e.get("kind") == media)
                assert after > before, (connection, kind, media)

    # what the collector rebuilt from the deltas is what the browser had
    state = page.evaluate("callstats._inspect()")
    for fabric in state["fabrics"]:
        uploaded = fabric["lastUploaded"]
        latest = read(collector, app, conference, "/stats")
        mine = [sorted(s["stats"], key=lambda e: e["id"]) for s in latest if s["connectionID"] == fabric["connectionID"]]
        assert sorted(uploaded, key=lambda e: e["id"]) in mine[-3:]  # the newest, or one sent since

    # csStatsCallback: the SPEC payload, and a clean loopback call rates audio excellent or good
    payload = page.evaluate("seen.stats[seen.stats.length - 1]")
    assert payload["conferenceID"] == conference and payload["connectionState"] == "online"
    assert payload["fabricState"] == "established" and len(payload["fabrics"]) == 2
    # (over every interval after the first). The E-model counts the receiver's jitter buffer as
    # delay, and on a loaded machine (two engines' calls at once, or Python on Firefox's main
    # thread) a browser's buffer grows to a few hundred ms for an interval or two: those rate fair
    # or poor, honestly. A clean call is still never bad, and most of its intervals rate well.
    later = page.evaluate("seen.stats")[1:]
    audio = [s for p in later for s in p["mediaStreamTracks"] if s["mediaType"] == "audio" and s["mos"] is not None]
    rated = [(s["quality"], s["jitter"], s["rtt"], s["fractionLoss"]) for s in audio]
    assert audio and "bad" not in [q for q, *_ in rated], rated
    assert sum(q in ("excellent", "good") for q, *_ in rated) >= 0.5 * len(rated), rated
    video = [s for s in payload["mediaStreamTracks"] if s["mediaType"] == "video"]
    assert video and all(s["bitrate"] and s["bitrate"] > 0 for s in video)
    assert set(payload["streams"]) == {s["ssrc"] for s in payload["mediaStreamTracks"]}
    # what this engine's stats lack is null, never made up; where the engine gives it, it is there
    sent_video = [s for s in payload["mediaStreamTracks"] if s["statsType"] == "outbound-rtp" and s["mediaType"] == "video"]
    for field in {f for fields in ABSENT.values() for f in fields}:
        values = [s[field] for s in sent_video]
        assert values and (all(v is None for v in values) if field in ABSENT.get(browser_name, {})
                           else all(v is not None for v in values)), (field, values)


def test_an_ice_restart_is_reported_with_the_new_pair(page, serve_page, collector):
    app = run_cli("apps", "create", "--name", "restart", "--data-dir", str(collector.data_dir))
    conference = f"restart-{uuid.uuid4().hex[:8]}"
    open_call(page, serve_page, app, conference)
    # the client has seen the first pair (at setup or a poll), or the restart's would be its first
    wait_for_state(page, "(s) => s.fabrics.every((f) => f.selectedPair)", timeout=30_000)
    page.evaluate("""(async () => {
      const offer = await pc1.createOffer({iceRestart: true});
      await pc1.setLocalDescription(offer); await pc2.setRemoteDescription(offer);
      const answer = await pc2.createAnswer();
      await pc2.setLocalDescription(answer); await pc1.setRemoteDescription(answer);
    })()""")
    pc1 = page.evaluate("callstats._inspect().then((s) => s.fabrics.find((f) => f.pcId === 0).connectionID)")
    deadline, restarted, changed = time.time() + 30, [], []
    while time.time() < deadline and not (restarted and changed):
        time.sleep(1)
        events = read(collector, app, conference, "/events") or []
        restarted = [e for e in events if e["path"] == "events/ice/status" and e["connectionID"] == pc1
                     and e["body"]["eventType"] == "iceRestarted"]
        changed = [e for e in events if e["path"] == "events/fabric/transportchange" and e["connectionID"] == pc1]
    assert restarted and changed
    body = changed[0]["body"]
    assert body["prevIceCandidatePair"]["id"] != body["currIceCandidatePair"]["id"]
    assert body["currIceCandidatePair"]["localCandidate"]["candidateType"] == "host"
    assert body["currIceCandidatePair"]["localCandidate"]["address"]  # collectIP is on by default


FIRST_FRAME = """<!doctype html><html><body><video id="remote" autoplay muted playsinline></video>""" + LOOPBACK_CALL + """
<script src="{collector}callstats.js"></script>
<script>
const conference = new URLSearchParams(location.search).get("conference");
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
callstats.initialize(app.appID, app.appSecret, "alice");
const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
callstats.addNewFabric(pc2, "bob", "multiplex", conference);
// before Python is ready, and before the element has anything to show
callstats.associateMstWithUserID(pc2, "bob", conference, "1234", "camera", "remote");
pc2.ontrack = (e) => { document.getElementById("remote").srcObject = e.streams[0]; };
loopbackCall(pc1, pc2, false);
</script></body></html>"""


def test_time_to_first_frame_on_the_associated_video_element(page, serve_page, collector):
    import json
    from urllib.parse import quote

    app = run_cli("apps", "create", "--name", "frames", "--data-dir", str(collector.data_dir))
    conference = f"frames-{uuid.uuid4().hex[:8]}"
    page.goto(serve_page("frames.html", FIRST_FRAME) + f"?conference={conference}#{quote(json.dumps(app))}")
    deadline, started = time.time() + 60, []
    while time.time() < deadline and not started:
        time.sleep(1)
        started = [e for e in read(collector, app, conference, "/events") or [] if e["path"] == "events/media/pipeline"]
    if not started:  # what there was instead: the events stored, and the element's own state
        paths = [e["path"] for e in read(collector, app, conference, "/events") or []]
        video = page.evaluate("(v => [v.readyState, v.currentTime, !!v.srcObject])(document.getElementById('remote'))")
        raise AssertionError(f"no mediaPlaybackStart; stored: {paths}; video readyState, time, stream: {video}")
    assert len(started) == 1, started
    body = started[0]["body"]
    assert body["eventType"] == "mediaPlaybackStart" and body["ssrc"] == "1234"
    assert 0 < body["timeToFirstFrame"] < 10_000, body


def open_call(page, serve_page, app, conference, query=""):
    import json
    from urllib.parse import quote

    page.goto(serve_page("monitor.html", CALL) + f"?conference={conference}{query}#{quote(json.dumps(app))}")
    wait_until(page, "seen.init.length", timeout=90_000)
    page.evaluate("callstats.ready")
    page.wait_for_timeout(2000)


def fabric_events(collector, app, conference):
    """(connectionIDs terminated, user/left count, connectionIDs set up) stored for the conference."""
    events = read(collector, app, conference, "/events") or []
    ended = {e["connectionID"] for e in events if e["path"] == "events/fabric/terminated"}
    left = sum(e["path"] == "events/user/left" for e in events)
    setups = {e["connectionID"] for e in events if e["path"] == "events/fabric/setup"}
    return ended, left, setups


def goodbyes(collector, app, conference, wait_s=15.0):
    """fabric_events(), once both fabrics' goodbyes arrived or time ran out."""
    deadline = time.time() + wait_s
    while True:
        ended, left, setups = fabric_events(collector, app, conference)
        if (len(ended) == 2 and left) or time.time() > deadline:
            return ended, left, setups
        time.sleep(0.2)


def setups_stored(collector, app, conference, count, wait_s=30.0):
    """fabric_events()'s set-up connectionIDs, once there are `count` or time ran out."""
    deadline = time.time() + wait_s
    while True:
        setups = fabric_events(collector, app, conference)[2]
        if len(setups) >= count or time.time() > deadline:
            return setups
        time.sleep(0.2)


def test_closing_or_leaving_the_page_says_goodbye_for_every_fabric(new_context, collector, app_origin, python_runs):
    app = run_cli("apps", "create", "--name", "goodbye", "--data-dir", str(collector.data_dir))
    context = new_context()
    results = []
    for run in range(20):
        conference = f"close-{run}-{uuid.uuid4().hex[:6]}"
        page = context.new_page()
        open_call(page, python_runs.serve, app, conference)
        assert page.evaluate("callstats.mode") == python_runs.mode
        # both fabrics set up first (a loaded machine may take longer than open_call's 2 s): a
        # fabric closed before it connected is terminated without ever having been set up
        assert len(setups_stored(collector, app, conference, count=2)) == 2
        page.close(run_before_unload=True)
        ended, left, setups = goodbyes(collector, app, conference)
        results.append((run, sorted(ended), left, sorted(setups)))
    missed = [(run, ended, left, setups) for run, ended, left, setups in results
              if not (len(ended) == 2 and ended == setups and left >= 1)]
    assert missed == []

    elsewhere = python_runs.serve("elsewhere.html", "<!doctype html><p>another page of the site</p>")
    for run in range(3):  # navigating away, rather than closing
        conference = f"leave-{run}-{uuid.uuid4().hex[:6]}"
        page = context.new_page()
        open_call(page, python_runs.serve, app, conference)
        assert len(setups_stored(collector, app, conference, count=2)) == 2
        if run == 0:  # the page leaves within a few ms of a poll's figures: the farewell must hold them
            with page.expect_navigation(url=elsewhere, timeout=30_000):
                page.evaluate("""(elsewhere) => {
                  const polls = seen.stats.length;
                  const check = () => seen.stats.length > polls ? location.assign(elsewhere) : setTimeout(check, 2);
                  check();
                }""", elsewhere)
        else:
            page.goto(elsewhere)
        page.goto("about:blank")
        ended, left, setups = goodbyes(collector, app, conference)
        assert len(ended) == 2 and ended == setups and left >= 1, (run, ended, left, setups)
        page.close()

    # the page's own onbeforeunload ran each time (it wrote to localStorage)
    check = context.new_page()
    check.goto(app_origin.url + "monitor.html#check")
    assert check.evaluate("localStorage.getItem('ownHandlerRan')").startswith("leave-2")
    check.close()
    context.close()


def test_disable_before_unload_handler_sends_no_goodbye(new_context, serve_page, collector, app_origin):
    app = run_cli("apps", "create", "--name", "nogoodbye", "--data-dir", str(collector.data_dir))
    context = new_context()
    conference = f"quiet-{uuid.uuid4().hex[:6]}"
    page = context.new_page()
    open_call(page, serve_page, app, conference, "&noGoodbye=1")
    page.close(run_before_unload=True)
    ended, left, setups = goodbyes(collector, app, conference, wait_s=4)
    assert ended == set() and left == 0 and len(setups) == 2
    check = context.new_page()
    check.goto(app_origin.url + "monitor.html#check")
    assert check.evaluate("localStorage.getItem('ownHandlerRan')") == conference
    context.close()
