"""The fabric rebuilds the state timeline the loader recorded while Python was starting."""

from pyclient.api import Callstats

from ..servers import run_async
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
    assert fabric.setup_delay == 250
    # live events keep coming after the replay
    port.pc_event(7, "connectionstatechange", "disconnected", at=t0 + 5000)
    assert fabric.states["connectionState"] == "disconnected"
    assert fabric.timeline[-1]["prevState"] == "connected"


def test_a_pc_connected_before_it_was_added_has_no_invented_setup_delay():
    port = FakePort()
    port.pcs[7] = {"initial": dict(NEW_PC, iceConnectionState="connected", connectionState="connected"),
                   "backlog": []}
    fabric = added(port, at=port.now())
    assert fabric.connected_at == port.now() and fabric.setup_delay == 0
    assert fabric.timeline == []


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
    sent = lambda kind: [i.body for i in api.session.transport.events if i.kind == kind]  # noqa: E731
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
    from pyclient.fabric import ice_status

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
    sent = lambda kind: [i.body for i in api.session.transport.events if i.kind == kind]  # noqa: E731
    for coroutine in port.spawned:  # no poll loop, no sending: this test polls by hand
        coroutine.close()
    port.spawned.clear()
    port.pc_event(7, "iceconnectionstatechange", "checking")
    port.pc_event(7, "iceconnectionstatechange", "connected")
    port.run(budget=20)
    (setup,) = sent("events/fabric/setup")
    assert setup["selectedCandidatePairID"] == "P1" and setup["localIceCandidates"][0]["candidateType"] == "host"
    assert "address" not in setup["remoteIceCandidates"][0]  # collectIP: false
    run_async(api.session.poll_once())
    assert sent("events/fabric/transportchange") == []  # the same pair as at setup
    run_async(api.session.poll_once())
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
    (started,) = [i.body for i in api.session.transport.events if i.kind == "events/media/pipeline"]
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
    return len([i for i in api.session.transport.events if i.kind == "events/user/alive"])


def test_user_alive_only_when_nothing_else_tells_the_collector():
    quiet, busy = alive_events(with_stats=False), alive_events(with_stats=True)
    assert quiet >= 2 and busy < quiet  # stats uploads (every 15 s here) stand in for most of them


def test_python_wakes_only_to_poll_and_gets_every_pcs_stats_in_one_crossing():
    # each wake-up is page main-thread time: no ticks between polls, one getStats() crossing a poll
    from pyclient.session import POLL_MS

    class Port(FakePort):
        slept: list = []

        async def sleep(self, ms):
            self.slept.append(ms)
            if len(self.slept) == 6:  # the call ends after six polls
                for fabric in api.fabrics.values():
                    fabric.terminated = True
            await super().sleep(ms)

        async def get_stats(self, pc_ids):
            self.clock += 5 if self.stats_calls % 2 else 1  # getStats() takes a while, not always as long:
            # the uploads must keep the polls' cadence all the same
            return await super().get_stats(pc_ids)

    port = Port()
    port.reports = {7: [report("P1")], 8: [report("P2")]}
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    for pc_id in (7, 8):
        api.call("addNewFabric", dict(VALID["addNewFabric"], pc={"$js": "pc", "id": pc_id}), at=port.now())
    api.session.transport.claims["submissionInterval"] = POLL_MS  # as the collector's token says
    run_async(api.session._poll_forever())
    assert len(port.slept) == 6 and min(port.slept) >= POLL_MS - 5  # to the next poll, less what getStats took
    assert port.stats_calls == 5 and len(api.session.poll_ms) == 5  # the sixth wake-up found the call over
    assert api.fabrics[7].last_sample and api.fabrics[8].last_sample
    uploads = [i for i in api.session.transport.samples if i.kind == "stats"]
    assert len(uploads) == 10  # the interval is the poll's here (5 s): every poll uploads both pcs


def test_the_tokens_interval_sets_the_cadence_as_soon_as_it_is_known():
    from pyclient.session import TOKEN_WAIT_MS

    class Port(FakePort):
        slept: list = []

        async def sleep(self, ms):
            self.slept.append(ms)
            if len(self.slept) == 2:  # the token arrives a second in: polls every 2 s from now on
                api.session.transport.claims["submissionInterval"] = 2000
            if len(self.slept) == 5:
                api.fabrics[7].terminated = True
            await super().sleep(ms)

    port = Port()
    port.reports = {7: [report("P1")]}
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    api.call("addNewFabric", dict(VALID["addNewFabric"], pc=PC), at=port.now())
    run_async(api.session._poll_forever())
    assert port.slept == [TOKEN_WAIT_MS, TOKEN_WAIT_MS, 2000, 2000, 2000]
