"""Test pages: a real call between two pcs in one page, with the fake camera and microphone."""

# A <script> that defines loopbackCall(pc1, pc2, both): pc1 sends audio and video to pc2 (and
# pc2 back to pc1 when `both`), ICE candidates handed across; resolves once negotiated.
LOOPBACK_CALL = """<script>
async function loopbackCall(pc1, pc2, both) {
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  media.getTracks().forEach((t) => { pc1.addTrack(t, media); if (both) pc2.addTrack(t.clone(), media); });
  const offer = await pc1.createOffer();
  await pc1.setLocalDescription(offer);
  await pc2.setRemoteDescription(offer);
  const answer = await pc2.createAnswer();
  await pc2.setLocalDescription(answer);
  await pc1.setRemoteDescription(answer);
  return media;
}
</script>"""

# {collector} is replaced with the collector's URL by the serve_page fixture.
CALL_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>call</title></head><body>""" + LOOPBACK_CALL + """
<script>window.pageStart = performance.now();</script>
<script src="{collector}callstats.js"></script>
<script>
window.log = { calls: {}, connected: {}, pageStart, scriptStart: performance.now() };
const stamp = () => performance.timeOrigin + performance.now();
// Before initialize: a bad call and a call that needs initialize fail at once.
log.calls.early = callstats.addNewFabric(null, "bob", "audio", "conf");
const cs = new callstats();
log.calls.initialize = cs.initialize("1234", "not-a-real-secret", "alice", null, null, {});
log.beforePc = performance.now();
const pc1 = new RTCPeerConnection();
const pc2 = new RTCPeerConnection();
for (const [name, pc] of [["pc1", pc1], ["pc2", pc2]]) {
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "connected") log.connected[name] = stamp();
  });
}
log.afterPc = performance.now();
log.calls.add1 = callstats.addNewFabric(pc1, "bob", callstats.fabricUsage.multiplex, "conf-1");
log.calls.add2 = cs.addNewFabric(pc2, "alice", "multiplex", "conf-1", {remoteEndpointType: "peer"});
log.calls.bad = callstats.addNewFabric(pc1, "bob", "nonsense", "conf-1");
log.calls.badConference = callstats.sendFabricEvent(pc1, "audioMute", "another-conference");
log.calls.setupFailedViaEvent = callstats.sendFabricEvent(pc1, "fabricSetupFailed", "conf-1");
log.addedWithinMs = performance.now() - log.scriptStart;
log.loaderMs = log.scriptStart - pageStart;  // fetching and running callstats.js (a blocking script)
log.pythonWasReady = callstats.mode !== null;  // false: the loader answered and queued

loopbackCall(pc1, pc2, false);
callstats.ready.then(() => { log.readyAt = stamp(); });
</script></body></html>
"""
