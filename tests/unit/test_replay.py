"""A page that closed before Python was ready: the next page replays what the loader kept."""

import json

from pyclient.api import Callstats
from pyclient.storage import KEYS

EARLY_PREFIX = KEYS["early"]

from .fakeport import NEW_PC, FakePort

T0 = 1_699_999_990_000.0


def early_record(user="alice", app="123") -> str:
    """As web/callstats.js keepEarly() writes it: the queued calls and each pc's recording."""
    calls = [
        {"method": "initialize", "at": T0, "args": json.dumps({
            "AppID": app, "AppSecret": "-", "localUserID": user, "csInitCallback": {"$js": "function"}})},
        {"method": "addNewFabric", "at": T0 + 100, "args": json.dumps({
            "pc": {"$js": "pc", "id": 0}, "remoteUserID": "bob", "fabricUsage": "multiplex", "conferenceID": "room"})},
        {"method": "sendFabricEvent", "at": T0 + 900, "args": json.dumps({
            "pc": {"$js": "pc", "id": 0}, "fabricEvent": "audioMute", "conferenceID": "room"})},
    ]
    backlog = [{"t": T0 + 300, "kind": "iceconnectionstatechange", "state": "checking"},
               {"t": T0 + 700, "kind": "iceconnectionstatechange", "state": "connected"},
               {"t": T0 + 710, "kind": "connectionstatechange", "state": "connected"}]
    return json.dumps({"app": app, "user": user, "closedAt": T0 + 1500, "calls": calls,
                       "pcs": {"0": {"initial": dict(NEW_PC), "backlog": backlog}}})


def test_the_next_page_replays_a_page_closed_before_ready_as_its_own_member():
    port = FakePort()
    port.storage[f"{EARLY_PREFIX}123.a"] = early_record()
    port.storage[f"{EARLY_PREFIX}123.b"] = early_record(user="someone else")
    api = Callstats(port)
    assert api.call("initialize", {"AppID": "123", "AppSecret": "s", "localUserID": "alice"})["status"] == "success"
    replayed = [i for i in api.session.transport.pending() if i.origin == f"{EARLY_PREFIX}123.a"]
    kinds = [i.kind for i in replayed]
    assert kinds[:2] == ["join", "events/userdetails"]
    assert {"events/fabric/statechange", "events/fabric/setup", "events/media/actions", "events/fabric/terminated",
            "events/user/left"} <= set(kinds)
    by_kind = {i.kind: i.body for i in replayed}
    assert by_kind["join"]["timestamp"] == T0 + 100  # when the closed page named the conference
    assert by_kind["events/fabric/setup"]["delay"] == 610  # added at +100, connectionState connected at +710
    assert by_kind["events/media/actions"]["timestamp"] == T0 + 900
    assert by_kind["events/user/left"]["timestamp"] == T0 + 1500
    # the other user's record stays for a page of that user; ours is gone
    assert set(port.storage) == {f"{EARLY_PREFIX}123.b"}
    assert not [i for i in api.session.transport.pending() if i.origin == "" and i.kind != "join"
                and i.kind != "events/userdetails"]


def test_a_broken_record_is_dropped_not_fatal():
    port = FakePort()
    port.storage[f"{EARLY_PREFIX}123.x"] = "{not json"
    api = Callstats(port)
    assert api.call("initialize", {"AppID": "123", "AppSecret": "s", "localUserID": "alice"})["status"] == "success"
    assert port.storage == {} and port.logged
