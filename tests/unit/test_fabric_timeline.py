"""The fabric rebuilds the state timeline the loader recorded while Python was starting."""

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
