"""Every API method and every fabricEvent value reaches the collector as its kind with its fields;
with collectIP: false no IP address is in any stored body; a pc added after it connected is
measured too."""

import json
import re
import time
import uuid
from urllib.parse import quote

import httpx

from ..servers import run_cli
from .call_page import LOOPBACK_CALL

PAGE = """<!doctype html><html><body>""" + LOOPBACK_CALL + """
<script src="{collector}callstats.js"></script>
<script>
window.done = false; window.answers = {}; window.figures = [];
const conference = new URLSearchParams(location.search).get("conference");
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
callstats.initialize(app.appID, app.appSecret, {userName: "Alice", aliasName: "alice-1"}, null,
                     (p) => figures.push(p), {collectIP: false, additionalIDs: {customerID: "c-9"}});
const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
(async () => {
  await loopbackCall(pc1, pc2, false);
  while (pc1.connectionState !== "connected") await new Promise((r) => setTimeout(r, 50));
  await callstats.ready;
  // pc1 is handed over only now, connected for a while: it must still be measured
  const a = (name, value) => { answers[name] = value.status; };
  a("add", callstats.addNewFabric(pc1, "bob", "multiplex", conference));
  const ssrc = [...(await pc1.getStats()).values()].find((s) => s.type === "outbound-rtp").ssrc;
  a("mst", callstats.associateMstWithUserID(pc1, "alice-1", conference, ssrc, "camera", "v1"));
  a("details", callstats.sendCallDetails(pc1, conference, {callType: "inbound", role: "agent"}));
  for (const event of ["fabricHold", "fabricResume", "audioMute", "audioUnmute", "videoPause", "videoResume",
                       "fabricUsageEvent", "screenShareStart", "screenShareStop", "dominantSpeaker",
                       "callDetails", "callUnAnswered"]) {
    a(event, callstats.sendFabricEvent(pc1, event, conference));
  }
  a("devices", callstats.sendFabricEvent(pc1, "activeDeviceList", conference,
    {deviceList: (await navigator.mediaDevices.enumerateDevices())}));
  a("appLog", callstats.sendFabricEvent(pc1, "applicationErrorLog", conference, {message: "it broke"}));
  a("feedback", callstats.sendUserFeedback(conference, {userID: "alice-1", overall: 4, audio: 5, comment: "ok"}));
  a("custom", callstats.sendCustomEvent(pc1, conference, {raised: "hand"}));
  a("customStats", callstats.sendCustomStats(pc1, conference, {cpu: 0.5}));
  a("error", callstats.reportError(null, conference, "getUserMedia",
    new DOMException("Permission denied", "NotAllowedError"), pc1.localDescription.sdp, pc1.remoteDescription.sdp));
  a("log", callstats.reportError(pc1, conference, "applicationLog", {message: "hello"}));
  await new Promise((r) => setTimeout(r, 6000));  // a few polls
  a("end", callstats.sendFabricEvent(pc1, "fabricTerminated", conference));
  window.done = true;
})();
</script></body></html>"""

KINDS = {
    "fabricHold": "events/fabric/actions", "fabricResume": "events/fabric/actions",
    "callUnAnswered": "events/fabric/actions", "audioMute": "events/media/actions",
    "audioUnmute": "events/media/actions", "videoPause": "events/media/actions",
    "videoResume": "events/media/actions", "screenShareStart": "events/media/actions",
    "screenShareStop": "events/media/actions", "fabricUsageEvent": "events/fabric/usage",
    "dominantSpeaker": "events/dominantspeaker", "callDetails": "events/calldetails",
    "activeDeviceList": "events/devices/list", "applicationErrorLog": "events/app/logs",
    "fabricTerminated": "events/fabric/terminated",
}
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def test_every_method_and_event_arrives_as_its_kind_without_addresses(page, serve_page, collector):
    app = run_cli("apps", "create", "--name", "api", "--data-dir", str(collector.data_dir))
    conference = f"api-{uuid.uuid4().hex[:8]}"
    page.goto(serve_page("api.html", PAGE) + f"?conference={conference}#{quote(json.dumps(app))}")
    page.wait_for_function("window.done", timeout=120_000)
    assert set(page.evaluate("answers").values()) == {"success"}, page.evaluate("answers")

    read = {"Authorization": f"Bearer {app['readKey']}"}
    base = f"{collector.url}v1/apps/{app['appID']}/conferences/{conference}"
    with httpx.Client(verify=False) as client:
        deadline = time.time() + 30
        while time.time() < deadline:
            events = client.get(base + "/events", headers=read).json()
            if any(e["path"] == "events/fabric/terminated" for e in events):
                break
            time.sleep(0.5)
        stats = client.get(base + "/stats", headers=read).json()
    by_type = {}
    for e in events:
        by_type.setdefault(e["body"].get("eventType"), []).append(e)
    for event, kind in KINDS.items():
        times = 2 if event == "callDetails" else 1  # sendCallDetails and sendFabricEvent("callDetails")
        assert [e["path"] for e in by_type.get(event, [])] == [kind] * times, (event, by_type.get(event))
    devices = by_type["activeDeviceList"][0]["body"]["mediaDeviceList"]
    assert devices and {"mediaDeviceID", "kind", "label", "groupID"} <= set(devices[0])
    assert by_type["applicationErrorLog"][0]["body"]["message"] == "it broke"
    assert by_type["feedback"][0]["body"]["feedback"] == {"overallRating": 4, "audioQualityRating": 5,
                                                          "comments": "ok"}
    # the descriptions' map (every SSRC of the call), and the page's association
    mapped = [s for e in by_type["ssrcMap"] for s in e["body"]["ssrcData"]]
    assert [s["userID"] for s in mapped if s.get("usageLabel") == "camera"] == ["alice-1"]
    assert "outbound" in {s.get("streamType") for s in mapped}
    assert by_type["callDetails"][0]["body"]["callType"] == "inbound"  # (sendCallDetails)
    assert by_type["customEvent"][0]["body"]["eventList"][0]["raised"] == "hand"
    failed = by_type["fabricSetupFailed"][0]
    assert failed["path"] == "events/fabric/setupfailed" and failed["body"]["reason"] == "MediaPermissionError"
    assert failed["body"]["name"] == "NotAllowedError"
    assert by_type["applicationLog"][0]["path"] == "events/app/logs"
    join = next(e for e in events if e["path"] == "join")["body"]
    assert join["localID"] == "alice-1" and join["additionalIDs"] == {"customerID": "c-9"}
    assert any(s["path"] == "customstats" for s in stats)

    # a pc handed over after it connected is measured: its stats arrive with moving counters
    samples = [s for s in stats if s["path"] == "stats"]
    assert len(samples) >= 2
    sent = [sum(e.get("bytesSent", 0) for e in s["stats"] if e["type"] == "outbound-rtp") for s in samples]
    assert sent[-1] > sent[0] > 0, (sent, [s["timestamp"] for s in samples])
    assert page.evaluate("figures.length") >= 1

    # collectIP: false -> no IPv4 or IPv6 address in anything stored (the user agent's version
    # number looks like an IPv4 address, so it is left out of the search)
    stored = json.dumps([e["body"] for e in events] + [s["stats"] for s in stats])
    stored = stored.replace(json.dumps(join["endpointInfo"]), "")
    found = [m for m in IPV4.findall(stored) if m not in ("0.0.0.0",)]
    assert found == [], found[:5]
    assert "::1" not in stored and not re.search(r"\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}\b", stored)
