// @jitsi/rtcstats as jitsi-meet sets it up: trace over a WebSocket, getStats every pollInterval.
import rtcstatsInit from "@jitsi/rtcstats/rtcstats";
import traceInit from "@jitsi/rtcstats/trace-ws";

window.startRtcstats = (endpoint, pollInterval) => {
  const trace = traceInit({ endpoint, meetingFqn: "bench", onCloseCallback() {} });
  rtcstatsInit(trace, { pollInterval, useLegacy: false, prefixesToWrap: [""] }); // 9.7's signature
  trace.connect();
  trace.identity("identity", null, { user: "alice", conference: "bench" });
  return trace;
};
