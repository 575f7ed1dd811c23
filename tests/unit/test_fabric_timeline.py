"""The fabric rebuilds the state timeline the loader recorded while Python was starting."""

import json

from pyclient.api import Callstats

from .fakeport import NEW_PC, FakePort
from .test_api_arguments import VALID

PC = {"$js": "pc", "id": 7}


def added(port: FakePort, at: float):
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    assert api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=at)["status"] == "success"
    return api.fabrics[7]


def test_the_backlog_is_replayed_with_its_original_timestamps():
    port = FakePort()
    t0 = port.now() - 3000  # the page added the pc 3 s before Python was ready
    port.pcs[7] = {"initial": dict(NEW_PC), "backlog": [
        {"t": t0 + 10, "kind": "signalingstatechange", "state": "have-local-offer"},
        {"t": t0 + 20, "kind": "signalingstatechange", "state": "stable"},
        {"t": t0 + 40, "kind": "iceconnectionstatechange", "state": "checking"},
        {"t": t0 + 45, "kind": "connectionstatechange", "state": "connecting"},
        {"t": t0 + 250, "kind": "iceconnectionstatechange", "state": "connected"},
        {"t": t0 + 260, "kind": "connectionstatechange", "state": "connected"},
    ]}
    fabric = added(port, at=t0)
    assert [(c["changedState"], c["newState"]) for c in fabric.timeline] == [
        ("signalingState", "have-local-offer"), ("signalingState", "stable"),
        ("iceConnectionState", "checking"), ("connectionState", "connecting"),
        ("iceConnectionState", "connected"), ("connectionState", "connected"),
    ]
    assert fabric.timeline[4]["prevState"] == "checking"
    assert fabric.connected_at == t0 + 250
    assert fabric.setup_delay == 260  # set up when connectionState is: ICE and DTLS done
    # live events keep coming after the replay
    port.pc_event(7, "connectionstatechange", "disconnected", at=t0 + 5000)
    assert fabric.states["connectionState"] == "disconnected"
    assert fabric.timeline[-1]["prevState"] == "connected"


def test_a_pc_connected_before_it_was_added_unseen_has_no_invented_setup_delay():
    port = FakePort()
    port.pcs[7] = {"initial": dict(NEW_PC, iceConnectionState="connected", connectionState="connected"),
                   "backlog": []}
    fabric = added(port, at=port.now())
    assert fabric.connected_at == port.now() and fabric.setup_delay is None
    assert fabric.timeline == []


def test_a_pc_seen_from_its_creation_has_its_setup_delay_from_creation_however_late_it_is_added():
    port = FakePort()
    created = port.now() - 6000  # made 6 s before the page handed it over (from csInitCallback, say)
    port.pcs[7] = {"initial": dict(NEW_PC), "created": created, "backlog": [
        {"t": created + 30, "kind": "iceconnectionstatechange", "state": "checking"},
        {"t": created + 410, "kind": "iceconnectionstatechange", "state": "connected"},
        {"t": created + 420, "kind": "connectionstatechange", "state": "connected"},
    ]}
    fabric = added(port, at=port.now())
    assert fabric.setup_delay == 420
    assert fabric.ice_connectivity_delay == 380


def test_where_the_browser_has_no_connection_state_ice_ends_the_setup():
    port = FakePort()
    port.pcs[7] = {"initial": dict(NEW_PC, connectionState=None), "backlog": [
        {"t": port.now() + 30, "kind": "iceconnectionstatechange", "state": "checking"},
        {"t": port.now() + 300, "kind": "iceconnectionstatechange", "state": "completed"},
    ]}
    fabric = added(port, at=port.now())
    assert fabric.setup_delay == 300


def setup_bodies(port, api):
    return [i.body for i in api.session.transport.pending() if i.kind == "events/fabric/setup"]


def test_a_pc_up_when_handed_over_gets_its_setup_at_once_with_candidates_and_pair():
    port = FakePort(background=True)
    port.collector = lambda *request: None  # nothing is sent: the queue is looked at
    port.reports[7] = [report("P1")]
    port.pcs[7] = {"initial": dict(NEW_PC, signalingState="stable", iceConnectionState="connected",
                                   connectionState="connected"), "backlog": []}
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    port.run(budget=40)
    (setup,) = setup_bodies(port, api)
    assert setup["selectedCandidatePairID"] == "P1" and setup["localIceCandidates"]
    assert "delay" not in setup  # not seen connecting: no delay rather than a made-up one
    port.pc_event(7, "connectionstatechange", "disconnected")
    port.pc_event(7, "connectionstatechange", "connected")
    port.run(budget=40)
    assert len(setup_bodies(port, api)) == 1  # one setup per fabric


def test_repeated_states_and_unknown_events_are_ignored():
    port = FakePort()
    fabric = added(port, at=port.now())
    port.pc_event(7, "iceconnectionstatechange", "new")
    port.pc_event(7, "track", "whatever")
    assert fabric.timeline == []



def test_a_negotiation_sends_its_ssrc_map_and_descriptions_once():
    from .test_sdp import read

    port = FakePort()
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    sent = lambda kind: [i.body for i in api.session.transport.pending() if i.kind == kind]  # noqa: E731
    port.pc_event(7, "signalingstatechange", "have-local-offer")
    port.sinks[7]({"t": port.now(), "kind": "signalingstatechange", "state": "stable",
                   "localSDP": read("firefox-offer").replace("IN IP4 0.0.0.0", "IN IP4 192.0.2.7"),
                   "remoteSDP": read("firefox-answer")})
    (ssrcmap,) = sent("events/ssrcmap")
    ssrcs = {e["ssrc"]: e for e in ssrcmap["ssrcData"]}
    assert set(ssrcs) == {"143843186", "3630407244", "3884054979"}
    assert ssrcs["3884054979"]["userID"] == "bob" and ssrcs["143843186"]["streamType"] == "outbound"
    (descriptions,) = sent("events/sdp")
    assert "a=ssrc:143843186" in descriptions["localSDP"] and "a=ssrc:3884054979" in descriptions["remoteSDP"]
    assert "192.0.2.7" not in descriptions["localSDP"]  # collectIP is false here: addresses redacted
    # a renegotiation that changed nothing the map holds: no second ssrcmap
    port.pc_event(7, "signalingstatechange", "have-remote-offer")
    port.sinks[7]({"t": port.now(), "kind": "signalingstatechange", "state": "stable",
                   "remoteSDP": read("firefox-answer").replace("a=sendrecv", "a=sendrecv\r\na=x-same:1", 1)})
    assert len(sent("events/ssrcmap")) == 1 and len(sent("events/sdp")) == 2


def test_ice_state_changes_are_named_as_the_deployed_client_names_them():
    from pyclient.events import ice_status_of as ice_status

    assert ice_status("connected", "disconnected") == "iceDisruptionStart"
    assert ice_status("disconnected", "completed") == "iceDisruptionEnd"
    assert ice_status("checking", "disconnected") == "iceConnectionDisruptionStart"
    assert ice_status("disconnected", "checking") == "iceConnectionDisruptionEnd"
    assert ice_status("disconnected", "failed") == "iceFailed"
    assert ice_status("checking", "closed") == "iceAborted" and ice_status("connected", "closed") == "iceTerminated"
    assert ice_status("new", "checking") is None and ice_status("checking", "connected") is None


def report(pair_id: str, local_type: str = "host") -> str:
    import json

    return json.dumps([
        {"id": "T1", "type": "transport", "selectedCandidatePairId": pair_id},
        {"id": pair_id, "type": "candidate-pair", "localCandidateId": f"L-{pair_id}", "remoteCandidateId": "R1",
         "state": "succeeded", "nominated": True, "currentRoundTripTime": 0.01},
        {"id": f"L-{pair_id}", "type": "local-candidate", "candidateType": local_type, "protocol": "udp",
         "address": "192.0.2.1", "port": 5000, "relayProtocol": "tcp" if local_type == "relay" else None},
        {"id": "R1", "type": "remote-candidate", "candidateType": "srflx", "protocol": "udp", "address": "198.51.100.2"},
    ])


def test_setup_carries_candidates_and_a_new_selected_pair_is_a_transport_change():
    port = FakePort(background=True)
    port.collector = lambda *request: None  # nothing is sent: the queue is looked at
    port.reports[7] = [report("P1"), report("P1"), report("P2", "relay")]
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    sent = lambda kind: [i.body for i in api.session.transport.pending() if i.kind == kind]  # noqa: E731
    for coroutine in port.spawned:  # no poll loop, no sending: this test polls by hand
        coroutine.close()
    port.spawned.clear()
    port.pc_event(7, "iceconnectionstatechange", "checking")
    port.pc_event(7, "iceconnectionstatechange", "connected")
    port.pc_event(7, "connectionstatechange", "connected")
    port.run(budget=20)
    (setup,) = sent("events/fabric/setup")
    assert setup["selectedCandidatePairID"] == "P1" and setup["localIceCandidates"][0]["candidateType"] == "host"
    assert "address" not in setup["remoteIceCandidates"][0]  # collectIP: false
    port.poll()
    assert sent("events/fabric/transportchange") == []  # the same pair as at setup
    port.poll()
    (change,) = sent("events/fabric/transportchange")
    assert change["prevIceCandidatePair"]["id"] == "P1" and change["currIceCandidatePair"]["id"] == "P2"
    assert change["relayType"] == "turn/tcp"
    port.pc_event(7, "iceconnectionstatechange", "disconnected")
    port.clock += 1500
    port.pc_event(7, "iceconnectionstatechange", "connected")
    start, end = sent("events/ice/status")
    assert (start["eventType"], end["eventType"], end["delay"]) == ("iceDisruptionStart", "iceDisruptionEnd", 1500)
    assert end["currIceCandidatePair"]["id"] == "P2"


def test_the_associated_video_elements_first_frame_is_time_to_first_frame():
    port = FakePort()
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now() - 800)
    answer = api.call("associateMstWithUserID", {"pc": PC, "userID": "bob", "conferenceID": VALID["addNewFabric"]["conferenceID"],
                                                 "SSRC": "1234", "usageLabel": "camera", "associatedVideoTag": "remote"})
    assert answer["status"] == "success", answer
    port.frame_sinks["remote"]({"t": port.now(), "already": False})
    (started,) = [i.body for i in api.session.transport.pending() if i.kind == "events/media/pipeline"]
    assert started["eventType"] == "mediaPlaybackStart" and started["ssrc"] == "1234"
    assert started["timeToFirstFrame"] == 800 and started["mediaType"] == "video"


def alive_events(with_stats: bool) -> int:
    port = FakePort(background=True)
    port.collector = lambda *request: None  # the collector is away: what is queued stays in view
    if with_stats:
        port.reports[7] = [report("P1")]
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    port.run(budget=300)
    return len([i for i in api.session.transport.pending() if i.kind == "events/user/alive"])


def test_user_alive_only_when_nothing_else_tells_the_collector():
    quiet, busy = alive_events(with_stats=False), alive_events(with_stats=True)
    assert quiet >= 2 and busy < quiet  # stats uploads (every 15 s here) stand in for most of them


def test_python_is_woken_by_the_pages_poll_clock_only_with_every_report_in_hand():
    # each wake-up of Python is page main-thread time: the loader's timer polls and calls once a poll
    from pyclient.session import POLL_MS

    port = FakePort()
    port.reports = {7: [report("P1")], 8: [report("P2")]}
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    for pc_id in (7, 8):
        api.call("addNewFabric", dict(VALID["addNewFabric"], pc={"$js": "pc", "id": pc_id}), at=port.now())
    assert port.poll_clock[:2] == (POLL_MS, [7, 8])
    api.session.transport.handshake.claims["submissionInterval"] = POLL_MS  # as the collector's token says
    for took_ms, early_ms in ((5, 0), (1, 3), (5, 0), (1, 2), (5, 0)):  # getStats() takes a while, not
        port.poll(took_ms, early_ms)  # always as long, timers fire a little early: every poll uploads
    assert len(api.session.poll_ms) == 5 and api.fabrics[7].last_sample and api.fabrics[8].last_sample
    uploads = [i for i in api.session.transport.pending() if i.kind == "stats"]
    assert len(uploads) == 10  # the interval is the poll's here (5 s): every poll uploads both pcs
    api.call("sendFabricEvent", {"pc": {"$js": "pc", "id": 7}, "fabricEvent": "fabricTerminated",
                                 "conferenceID": VALID["addNewFabric"]["conferenceID"]})
    assert port.poll_clock[:2] == (POLL_MS, [8])
    api.call("sendFabricEvent", {"pc": {"$js": "pc", "id": 8}, "fabricEvent": "fabricTerminated",
                                 "conferenceID": VALID["addNewFabric"]["conferenceID"]})
    assert port.poll_clock[:2] == (None, [])  # the call is over: the clock stops


def test_the_tokens_interval_sets_the_cadence_as_soon_as_it_is_known():
    port = FakePort()
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    assert port.poll_clock[0] == 5000  # before the token: the poll's own cadence
    api.session.transport.handshake.claims["submissionInterval"] = 2000
    api.session._auth_outcome("success", "authentication successful")
    assert port.poll_clock[0] == 2000


def test_a_failing_poll_is_logged_and_the_next_one_goes_on():
    port = FakePort()
    port.reports = {7: ["[{not JSON", report("P1")]}
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    port.poll()
    assert [level for level, text in port.logged if "a stats poll failed" in text] == ["error"]
    port.poll()
    assert api.fabrics[7].last_sample and "P1" in api.fabrics[7].last_sample


def test_a_farewell_is_the_goodbye_as_it_would_be_now_and_changes_nothing():
    # the loader holds the farewell for pagehide in case Python cannot answer then: if both reach
    # the collector, the same itemIDs make them one
    port = FakePort()
    port.reports[7] = [report("P1")]
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    port.poll()
    clock = port.poll_clock[:2]

    def items(goodbye):
        return {(i["k"], json.loads(i["b"])["itemID"]) for i in json.loads(goodbye["record"])["items"]}

    farewell = api.goodbye(keep=True)
    assert api.goodbye(keep=True) == farewell  # nothing moved
    assert not api.fabrics[7].terminated and port.poll_clock[:2] == clock
    goodbye = api.goodbye()
    kinds = [k for k, _ in items(goodbye)]
    assert {"stats", "events/fabric/terminated", "events/user/left"} <= set(kinds)
    assert items(farewell) <= items(goodbye) and goodbye["key"] == farewell["key"]
    assert api.fabrics[7].terminated and port.poll_clock[:2] == (None, [])


def test_an_error_report_carries_no_address_when_collect_ip_is_false():
    """A Firefox DOMException's stack names the page's URL: with an address for a host, redacted."""
    port = FakePort()
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])  # collectIP: false
    stack = "@https://192.0.2.7:8443/call.html:46:5"
    for function in ("getUserMedia", "applicationLog"):
        answer = api.call("reportError", {"pc": None, "conferenceID": "conf", "webRTCFunction": function,
                                          "domError": {"name": "NotAllowedError", "message": "from 192.0.2.7",
                                                       "stack": stack}})
        assert answer["status"] == "success"
    bodies = [i.body for i in api.session.transport.pending() if i.kind in ("events/fabric/setupfailed", "events/app/logs")]
    assert len(bodies) == 2
    assert "192.0.2.7" not in json.dumps(bodies)
    assert all(b["stack"] == "@https://0.0.0.0:8443/call.html:46:5" and b["name"] == "NotAllowedError" for b in bodies)


def test_the_end_of_a_fabric_adds_no_second_copy_of_a_sample_already_uploaded():
    from pyclient.session import POLL_MS

    port = FakePort()
    port.reports[7] = [report("P1"), report("P2")]
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.session.transport.handshake.claims["submissionInterval"] = POLL_MS  # every poll uploads
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    port.poll()  # uploaded: the goodbye leaves it where it is
    goodbye = api.goodbye()
    stamps = [json.loads(i["b"])["timestamp"] for i in json.loads(goodbye["record"])["items"] if i["k"] == "stats"]
    assert len(stamps) == len(set(stamps)) == 1

    port = FakePort()
    port.reports[7] = [report("P1"), report("P2")]
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.session.transport.handshake.claims["submissionInterval"] = 4 * POLL_MS
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    port.poll()
    port.poll()  # not due: the second sample is only the fabric's; its end sends it
    fabric = api.fabrics[7]
    assert not fabric.last_sample_queued
    goodbye = api.goodbye()
    stamps = [json.loads(i["b"])["timestamp"] for i in json.loads(goodbye["record"])["items"] if i["k"] == "stats"]
    assert len(stamps) == len(set(stamps)) == 2  # the first poll's upload and the final sample
