// webrtc-issue-detector: watches every new RTCPeerConnection, parses getStats every interval.
import WebRTCIssueDetector from "webrtc-issue-detector";

window.startDetector = (interval) => {
  const detector = new WebRTCIssueDetector({ getStatsInterval: interval, autoAddPeerConnections: true,
                                             onIssues: () => {}, onNetworkScoresUpdated: () => {} });
  detector.watchNewPeerConnections();
  return detector;
};
