"""Every item body the client sends (SPEC part 2), built here and nowhere else: what the page's
calls and its pcs' changes become on the wire.

Each builder returns an Event: the kind (the path after .../{ucID}/, or "join") and its body.
Timestamps are on the page's clock; the transport corrects them to the collector's when it sends.
Fields that are None are left out. Every kind and body here validates against callwire.messages,
the models the collector checks with (tests/unit/test_events.py builds each one and checks it).
"""

import json
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from . import __version__

VERSION = f"pyclient-{__version__}"  # the wire's callstatsVersion

# sendFabricEvent value -> the kind it is sent as
FABRIC_EVENT_KINDS = {
    "fabricHold": "events/fabric/actions", "fabricResume": "events/fabric/actions",
    "callUnAnswered": "events/fabric/actions",
    "audioMute": "events/media/actions", "audioUnmute": "events/media/actions",
    "videoPause": "events/media/actions", "videoResume": "events/media/actions",
    "screenShareStart": "events/media/actions", "screenShareStop": "events/media/actions",
    "fabricUsageEvent": "events/fabric/usage", "fabricTerminated": "events/fabric/terminated",
    "dominantSpeaker": "events/dominantspeaker", "activeDeviceList": "events/devices/list",
    "applicationErrorLog": "events/app/logs", "callDetails": "events/calldetails",
}
# reportError's webRTCFunction -> the setup failure reason (the deployed client's names)
FAILURE_REASONS = {
    "getUserMedia": "MediaPermissionError", "createOffer": "SDPGenerationError",
    "createAnswer": "SDPGenerationError", "setLocalDescription": "NegotiationFailure",
    "setRemoteDescription": "NegotiationFailure", "addIceCandidate": "TransportFailure",
    "iceConnectionFailure": "IceConnectionFailure", "signalingError": "SignalingError",
}
LOG_ONLY = ("applicationLog", "applicationError")  # reportError functions that are logs, never setup failures


class Event(NamedTuple):
    kind: str
    body: dict


@dataclass(frozen=True)
class Sender:
    """Whose the items are: the local user on this device. Every body starts with this."""

    user_id: str
    device_id: str

    def body(self, at: float, **fields) -> dict:
        return {"localID": self.user_id, "deviceID": self.device_id, "timestamp": at,
                "callstatsVersion": VERSION, **_present(fields)}

    def fabric_body(self, fabric, at: float, **fields) -> dict:
        """A fabric's body: it names the remote user and the connection (fabric: pyclient.fabric.Fabric)."""
        return self.body(at, remoteID=user_text(fabric.remote_user_id), connectionID=fabric.connection_id, **fields)

    def either_body(self, fabric, at: float, **fields) -> dict:
        """A fabric's body when the call named a pc, else the user's."""
        return self.fabric_body(fabric, at, **fields) if fabric else self.body(at, **fields)


def user_text(user) -> str:
    """A user id as the wire carries it: the id, or an object's aliasName."""
    return user if isinstance(user, str) else (user or {}).get("aliasName", "")


# ---- the user in a conference ----

def join(sender: Sender, at: float, endpoint_info: dict, site_id: Optional[str], additional_ids: dict) -> Event:
    return Event("join", sender.body(at, eventType="userJoined", endpointInfo=_present(endpoint_info),
                                     siteID=site_id, additionalIDs=additional_ids or None))


def user_details(sender: Sender, at: float, user_name: Optional[str], collect_ip: bool) -> Event:
    return Event("events/userdetails", sender.body(at, eventType="userDetails", userName=user_name, collectIP=collect_ip))


def user_alive(sender: Sender, at: float) -> Event:
    return Event("events/user/alive", sender.body(at, eventType="userAlive"))


def user_left(sender: Sender, at: float) -> Event:
    return Event("events/user/left", sender.body(at, eventType="userLeft"))


def precall(sender: Sender, at: float, results: dict) -> Event:
    kind = "precallTestResultsAutomatic" if results.get("automatic") else "precallTestResultsManual"
    return Event("events/precall", sender.body(at, eventType=kind, results=results))


def feedback(sender: Sender, at: float, overall: int, audio: Optional[int], video: Optional[int],
             comment: Optional[str]) -> Event:
    ratings = {"overallRating": overall, "audioQualityRating": audio, "videoQualityRating": video, "comments": comment}
    return Event("events/feedback", sender.body(at, eventType="feedback", feedback=_present(ratings)))


def custom_event(sender: Sender, fabric, at: float, data: dict, happened: float) -> Event:
    """happened: when the page made the call (the event's own timestamp in eventList)."""
    return Event("events/customevent", sender.either_body(fabric, at, eventType="customEvent",
                                                          eventList=[{"timestamp": happened, **data}]))


def custom_stats(sender: Sender, fabric, at: float, stats: Any) -> Event:
    return Event("customstats", sender.either_body(fabric, at, eventType="customStats", stats=stats))


# ---- a fabric ----

def state_change(sender: Sender, fabric, change: dict) -> Event:
    return Event("events/fabric/statechange", sender.fabric_body(
        fabric, change["t"], eventType="fabricStateChange", changedState=change["changedState"],
        prevState=change["prevState"], newState=change["newState"]))


def setup(sender: Sender, fabric, at: float, candidates: dict) -> Event:
    """fabricSetup, with the delays the fabric measured and the candidates of a getStats() (pyclient.stats.ice_candidates)."""
    return Event("events/fabric/setup", sender.fabric_body(
        fabric, at, eventType="fabricSetup", delay=fabric.setup_delay, iceGatheringDelay=fabric.ice_gathering_delay,
        iceConnectivityDelay=fabric.ice_connectivity_delay,
        remoteEndpointType=fabric.attributes["remoteEndpointType"],
        fabricTransmissionDirection=fabric.attributes["fabricTransmissionDirection"], **candidates))


def setup_failed(sender: Sender, fabric, at: float, function: str, error: dict,
                 local_sdp: Optional[str], remote_sdp: Optional[str]) -> Event:
    """reportError before the fabric connected; error: {message, name, stack, constraintName}."""
    return Event("events/fabric/setupfailed", sender.either_body(
        fabric, at, eventType="fabricSetupFailed", reason=FAILURE_REASONS.get(function, "SignalingError"),
        function=function, message=error.get("message"), localSDP=local_sdp, remoteSDP=remote_sdp,
        **_error_fields(error)))


def error_log(sender: Sender, fabric, at: float, function: str, error: dict) -> Event:
    """reportError as a log: an application's own log or error, or a failure once connected."""
    level = "info" if function == "applicationLog" else "error"
    return Event("events/app/logs", sender.either_body(
        fabric, at, eventType=function, level=level, messageType="domError",
        message=error.get("message") or error.get("name") or "", **_error_fields(error)))


def ice_status_of(prev: Optional[str], new: str) -> Optional[str]:
    """The ice/status event an iceConnectionState change is, if any (the deployed client's names).
    A restart is told by a new ICE ufrag (browsers may stay "connected" through one)."""
    up = ("connected", "completed")
    if prev in up and new == "disconnected":
        return "iceDisruptionStart"
    if prev == "disconnected" and new in up:
        return "iceDisruptionEnd"
    if prev == "checking" and new == "disconnected":
        return "iceConnectionDisruptionStart"
    if prev == "disconnected" and new == "checking":
        return "iceConnectionDisruptionEnd"
    if new == "failed":
        return "iceFailed"
    if new == "closed":
        return "iceTerminated" if prev in (*up, "disconnected") else "iceAborted"
    return None


def ice_status(sender: Sender, fabric, change: dict, event: str) -> Event:
    since = fabric.state_since("iceConnectionState")
    delay = max(0.0, change["t"] - since) if event.endswith("End") and since is not None else None
    return Event("events/ice/status", sender.fabric_body(
        fabric, change["t"], eventType=event, prevIceConnectionState=change["prevState"],
        currIceConnectionState=change["newState"], prevIceConnectionStateTs=since,
        currIceCandidatePair=fabric.pair, delay=delay))


def transport_change(sender: Sender, fabric, at: float, current: dict, previous: dict) -> Event:
    ice = fabric.states.get("iceConnectionState")
    return Event("events/fabric/transportchange", sender.fabric_body(
        fabric, at, eventType="fabricTransportChange", currIceCandidatePair=current, prevIceCandidatePair=previous,
        currIceConnectionState=ice, prevIceConnectionState=ice, relayType=current.get("relayType")))


def ssrc_map(sender: Sender, fabric, at: float, entries: list[dict]) -> Event:
    return Event("events/ssrcmap", sender.fabric_body(fabric, at, eventType="ssrcMap", ssrcData=entries))


def descriptions(sender: Sender, fabric, at: float, sdps: dict) -> Event:
    """sdps: {"localSDP"/"remoteSDP": text}, those that changed."""
    return Event("events/sdp", sender.fabric_body(fabric, at, eventType="sdp", **sdps))


def fabric_event(sender: Sender, fabric, at: float, event: str, data: Optional[dict]) -> Event:
    """sendFabricEvent (data already valid for the event: pyclient.models)."""
    fields: dict = {"eventType": event}
    if event == "activeDeviceList":
        fields["mediaDeviceList"] = [{"mediaDeviceID": d["deviceId"], "kind": d["kind"], "label": d.get("label", ""),
                                      "groupID": d.get("groupId", "")} for d in data["deviceList"]]
    elif event == "applicationErrorLog":
        fields.update(level="error", message=data["message"], messageType="text")
    elif data:
        fields["eventData"] = data
    return Event(FABRIC_EVENT_KINDS[event], sender.fabric_body(fabric, at, **fields))


def terminated(sender: Sender, fabric, at: float, data: Optional[dict] = None) -> Event:
    """fabricTerminated: the pc closed, the page said so (sendFabricEvent, maybe with eventData), or it left."""
    return Event("events/fabric/terminated", sender.fabric_body(fabric, at, eventType="fabricTerminated",
                                                                eventData=data or None))


def call_details(sender: Sender, fabric, at: float, attributes: dict) -> Event:
    return Event("events/calldetails", sender.fabric_body(fabric, at, eventType="callDetails", **attributes))


def playback_start(sender: Sender, fabric, ssrc: str, frame: dict) -> Event:
    """mediaPlaybackStart: the time to first frame since the fabric was added (unknown if the
    element was showing before it was watched)."""
    ttff = None if frame.get("already") else max(0.0, frame["t"] - fabric.added_at)
    return Event("events/media/pipeline", sender.fabric_body(
        fabric, frame["t"], eventType="mediaPlaybackStart", mediaType="video", ssrc=ssrc, timeToFirstFrame=ttff))


def stats(sender: Sender, fabric, at: float, device: Optional[dict] = None) -> Event:
    """A stats item's body; its entries are the sample the transport turns into a delta when it
    sends. device: {batteryStatus?, wifiStats?}, as the deployed client puts them in each body."""
    device = device or {}
    return Event("stats", sender.fabric_body(fabric, at, eventType="stats", batteryStatus=device.get("batteryStatus"),
                                             wifiStats=device.get("wifiStats")))


def stats_dropped(dropped_body: dict, at: float, count: int, first: float, last: float) -> Event:
    """The warning that samples of a stream were dropped (the buffer was full): it names the
    stream as its dropped stats body did."""
    who = {k: dropped_body[k] for k in ("localID", "deviceID", "callstatsVersion", "remoteID", "connectionID")
           if k in dropped_body}
    message = {"droppedSamples": count, "from": first, "to": last,
               "reason": "the collector was unreachable and the buffer was full"}
    return Event("events/app/logs", {**who, "timestamp": at, "eventType": "statsDropped", "level": "warn",
                                     "messageType": "json", "message": json.dumps(message)})


def _error_fields(error: dict) -> dict:
    return {k: error.get(k) for k in ("name", "stack", "constraintName")}


def _present(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}

