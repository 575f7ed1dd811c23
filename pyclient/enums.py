"""The callstats.js enums, with their exact deployed values (SPEC part 1, "Enums")."""

fabricUsage = {k: k for k in ("audio", "video", "data", "screen", "multiplex", "unbundled")}

fabricEvent = {
    k: k
    for k in (
        "fabricSetupFailed", "fabricHold", "fabricResume", "audioMute", "audioUnmute",
        "videoPause", "videoResume", "fabricUsageEvent", "fabricTerminated",
        "screenShareStart", "screenShareStop", "dominantSpeaker", "activeDeviceList",
        "applicationErrorLog", "callDetails", "callUnAnswered",
    )
}

webRTCFunctions = {
    k: k
    for k in (
        "createOffer", "createAnswer", "setLocalDescription", "setRemoteDescription",
        "addIceCandidate", "getUserMedia", "iceConnectionFailure", "signalingError",
        "applicationError", "applicationLog",
    )
}

csError = {
    **{
        k: k
        for k in (
            "httpError", "authError", "wsChannelFailure", "success", "csProtoError",
            "appConnectivityError", "tokenGenerationError", "authOngoing",
        )
    },
    "ok": "OK",
    "invalidWebRTCFunctionName": "Invalid WebRTC function name",
    "invalidEndPointType": "Invalid EndPoint Type",
    "invalidTransmissionDirection": "Invalid fabric transmission direction",
}

callStatsAPIReturnStatus = {"success": "success", "failure": "failure"}

qualityRating = {"excellent": 5, "good": 4, "fair": 3, "poor": 2, "bad": 1}

userIDType = {"local": "local", "remote": "remote"}
endpointType = {"peer": "peer", "server": "server"}
transmissionDirection = {k: k for k in ("sendonly", "receiveonly", "sendrecv", "inactive")}
callType = {k: k for k in ("unknown", "inbound", "outbound", "monitoring")}
roles = {k: k for k in ("agent", "participant", "manager")}

# Everything the loader puts on `callstats` and on the instance, by its public name.
ALL = {
    "fabricUsage": fabricUsage,
    "fabricEvent": fabricEvent,
    "webRTCFunctions": webRTCFunctions,
    "csError": csError,
    "callStatsAPIReturnStatus": callStatsAPIReturnStatus,
    "qualityRating": qualityRating,
    "userIDType": userIDType,
    "endpointType": endpointType,
    "transmissionDirection": transmissionDirection,
    "callType": callType,
    "roles": roles,
}
