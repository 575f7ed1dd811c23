"""Every body the client builds (pyclient.events) is one the collector accepts: each builder's
Event, encoded as the transport sends it, validates against callwire.messages, the models the
collector checks with. A builder added without a case here fails the last test."""

import inspect
import json

import pytest

from callwire import messages
from pyclient import batches, events
from pyclient.buffer import new_item
from pyclient.events import Sender
from pyclient.fabric import Fabric

from .fakeport import NEW_PC

T0 = 1_700_000_000_000.0
SENDER = Sender("alice", "device-1")
PAIR = {"id": "P1", "state": "succeeded", "localCandidate": {"id": "L1", "candidateType": "relay"},
        "remoteCandidate": {"id": "R1", "candidateType": "host"}, "relayType": "turn/udp"}
ERROR = {"name": "NotAllowedError", "message": "denied", "stack": "at x", "constraintName": None}
DEVICES = {"deviceList": [{"deviceId": "d1", "kind": "audioinput", "label": "mic", "groupId": "g"}]}


def fabric() -> Fabric:
    made = Fabric(pc_id=1, conference_id="room", remote_user_id={"aliasName": "bob"}, usage="multiplex",
                  attributes={"remoteEndpointType": "peer", "fabricTransmissionDirection": "sendrecv"}, added_at=T0)
    made.start(dict(NEW_PC), [{"t": T0 + 10, "kind": "iceconnectionstatechange", "state": "checking"},
                              {"t": T0 + 90, "kind": "iceconnectionstatechange", "state": "connected"}])
    made.pair = PAIR
    return made


def built() -> dict[str, list[events.Event]]:
    """builder name -> the Events it made, over its cases."""
    f = fabric()
    change = {"t": T0 + 500, "changedState": "iceConnectionState", "prevState": "disconnected", "newState": "connected"}
    candidates = {"localIceCandidates": [{"id": "L1"}], "remoteIceCandidates": [{"id": "R1"}],
                  "iceCandidatePairs": [{"id": "P1"}], "selectedCandidatePairID": "P1"}
    return {
        "join": [events.join(SENDER, T0, {"type": "browser", "buildName": "Chrome", "os": None}, "site",
                             {"tenant": "t1"}),
                 events.join(SENDER, T0, {}, None, {})],
        "user_details": [events.user_details(SENDER, T0, "Alice", False)],
        "user_alive": [events.user_alive(SENDER, T0)],
        "user_left": [events.user_left(SENDER, T0)],
        "precall": [events.precall(SENDER, T0, {"automatic": True, "mediaConnectivity": True}),
                    events.precall(SENDER, T0, {"automatic": False})],
        "feedback": [events.feedback(SENDER, T0, 4, 5, None, "fine"), events.feedback(SENDER, T0, 1, None, None, None)],
        "custom_event": [events.custom_event(SENDER, f, T0, {"what": 1}, T0 - 5),
                         events.custom_event(SENDER, None, T0, {}, T0)],
        "custom_stats": [events.custom_stats(SENDER, f, T0, [{"a": 1}]), events.custom_stats(SENDER, None, T0, {"a": 1})],
        "state_change": [events.state_change(SENDER, f, change),
                         events.state_change(SENDER, f, {**change, "changedState": "signalingState", "prevState": None,
                                                          "newState": "stable"})],
        "setup": [events.setup(SENDER, f, T0 + 90, candidates)],
        "setup_failed": [events.setup_failed(SENDER, f, T0, "createOffer", ERROR, "v=0", None),
                         events.setup_failed(SENDER, None, T0, "getUserMedia", {"message": "no"}, None, None)],
        "error_log": [events.error_log(SENDER, f, T0, "iceConnectionFailure", ERROR),
                      events.error_log(SENDER, None, T0, "applicationLog", {"name": "n"})],
        "ice_status": [events.ice_status(SENDER, f, change, "iceDisruptionEnd"),
                       events.ice_status(SENDER, f, change, "iceRestarted")],
        "transport_change": [events.transport_change(SENDER, f, T0, PAIR, {**PAIR, "id": "P0"})],
        "ssrc_map": [events.ssrc_map(SENDER, f, T0, [{"ssrc": "1234", "streamType": "outbound", "userID": "alice"}])],
        "descriptions": [events.descriptions(SENDER, f, T0, {"localSDP": "v=0", "remoteSDP": "v=0"})],
        "fabric_event": [events.fabric_event(SENDER, f, T0, name, DEVICES if name == "activeDeviceList"
                                             else {"message": "oops"} if name == "applicationErrorLog" else None)
                         for name in events.FABRIC_EVENT_KINDS if name != "fabricTerminated"],
        "terminated": [events.terminated(SENDER, f, T0), events.terminated(SENDER, f, T0, {"why": "hangup"})],
        "call_details": [events.call_details(SENDER, f, T0, {"callType": "audio", "role": "caller"})],
        "playback_start": [events.playback_start(SENDER, f, "1234", {"t": T0 + 700}),
                           events.playback_start(SENDER, f, "1234", {"t": T0, "already": True})],
        "stats": [events.stats(SENDER, f, T0), events.stats(SENDER, f, T0, {
            "batteryStatus": {"batteryLevel": 0.5, "isBatteryCharging": True}, "wifiStats": {"rssi": -51}})],
        "stats_dropped": [events.stats_dropped(events.stats(SENDER, f, T0).body, T0, 3, T0 - 15000, T0 - 5000)],
    }


SAMPLE = {"O1": {"id": "O1", "type": "outbound-rtp", "timestamp": T0, "ssrc": 1234, "bytesSent": 100}}


def as_sent(event: events.Event) -> dict:
    """The body as the transport encodes it: collector clock, itemID, and for stats the sample's delta."""
    sample = SAMPLE if event.kind == "stats" else None
    return json.loads(batches.encode(new_item("room", event.kind, event.body, sample), None, 250.0))


def model_of(kind: str):
    if kind == "join":
        return messages.JoinBody
    return messages.EVENT_KINDS.get(kind) or messages.STATS_KINDS[kind]


@pytest.mark.parametrize("name", sorted(built()))
def test_each_body_is_one_the_collector_accepts(name):
    for event in built()[name]:
        assert event.kind == "join" or event.kind in messages.EVENT_KINDS or event.kind in messages.STATS_KINDS
        body = as_sent(event)
        model_of(event.kind).model_validate(body)  # raises, naming the field, if the collector would refuse it
        assert body["localID"] == "alice" and body["deviceID"] == "device-1"
        assert None not in body.values()  # left out, not sent as null


def test_every_sendFabricEvent_value_has_a_kind_the_collector_knows():
    assert set(events.FABRIC_EVENT_KINDS.values()) <= set(messages.EVENT_KINDS)


def test_every_builder_is_checked_here():
    builders = {name for name, fn in inspect.getmembers(events, inspect.isfunction)
                if fn.__module__ == events.__name__ and inspect.signature(fn).return_annotation is events.Event}
    assert builders == set(built())
