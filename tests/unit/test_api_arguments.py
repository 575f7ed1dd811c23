"""Every API method with valid arguments and with each kind of bad argument (table-driven).

Arguments are given as the loader projects them (models.py): functions {"$js": "function"},
pcs {"$js": "pc", "id": n}. Each case asserts the exact status and that a failure message names
the method and the argument.
"""

import copy

import pytest

from pyclient import models
from pyclient.api import Callstats

from .fakeport import FakePort

FN = {"$js": "function"}
MISSING = object()
ADDED_PC, NEW_PC, CONF = 1, 2, "conf-1"


def pc(pc_id=ADDED_PC):
    return {"$js": "pc", "id": pc_id}


VALID = {
    "initialize": {"AppID": "123", "AppSecret": "secret", "localUserID": "alice", "csInitCallback": FN,
                   "csStatsCallback": FN,
                   "configParams": {"applicationVersion": "1.0", "siteID": "site", "collectIP": False,
                                    "additionalIDs": {"customerID": "c1", "sessionID": "s1"}}},
    "addNewFabric": {"pc": pc(NEW_PC), "remoteUserID": "bob", "fabricUsage": "multiplex", "conferenceID": CONF,
                     "fabricAttributes": {"remoteEndpointType": "server", "fabricTransmissionDirection": "sendonly"},
                     "pcCallback": FN},
    "reportError": {"pc": pc(), "conferenceID": CONF, "webRTCFunction": "createOffer",
                    "domError": {"name": "OperationError", "message": "boom", "stack": "at x"},
                    "localSDP": "v=0\r\n", "remoteSDP": None},
    "sendFabricEvent": {"pc": pc(), "fabricEvent": "audioMute", "conferenceID": CONF},
    "sendCallDetails": {"pc": pc(), "conferenceID": CONF, "callAttributes": {"callType": "inbound", "role": "agent"}},
    "associateMstWithUserID": {"pc": pc(), "userID": "alice", "conferenceID": CONF, "SSRC": "12345",
                               "usageLabel": "front-camera", "associatedVideoTag": "remote-video"},
    "sendUserFeedback": {"conferenceID": CONF, "feedback": {"userID": "alice", "overall": 4, "audio": 5,
                                                            "video": 3, "comment": "ok"}, "pcCallback": FN},
    "sendCustomEvent": {"pc": pc(), "conferenceID": CONF, "eventData": {"kind": "raiseHand"}},
    "sendCustomStats": {"pc": pc(), "conferenceID": CONF, "stats": {"cpu": 0.4}},
    "setIdentifiers": {"identifiers": {"customerID": "c1", "tenantID": "t1"}, "pcCallback": FN},
    "on": {"event": "stats", "callback": FN},
    "setProxyConfig": {"config": {"collectorURL": "https://collector.example/", "authServiceURL":
                                  "https://auth.example/", "restEventURL": "https://events.example/v1/apps/",
                                  "restStatsURL": "https://stats.example/v1/apps/"}},
    "makePrecallTest": {"iceServers": [{"urls": ["turn:turn.example:3478?transport=udp"], "username": "1:alice",
                                        "credential": "c"}], "callback": FN},
    "startPrecallTests": {},
    "stopPrecallTests": {},
    "attachWifiStatsHandler": {"handler": FN},
    "resetWifiStatsHandler": {},
}

E2, E3 = "é", "€"  # 2 and 3 UTF-8 bytes, 1 character each


def id_cases(method, path, limit, required=True):
    """A user id or conference id: a string of at most `limit` bytes."""
    yield method, path, "x" * limit, "success"
    yield method, path, E2 * (limit // 2), "success"  # multi-byte, exactly at the limit
    yield method, path, E3 * (limit // 3) + "a" * (limit % 3), "success"
    yield method, path, "x" * (limit + 1), "failure"  # one byte over
    yield method, path, E2 * (limit // 2) + "a", "failure"
    yield method, path, "", "failure"
    yield method, path, 42 if path[-1] != "SSRC" else [], "failure"
    yield method, path, ["a"], "failure"
    if required:
        yield method, path, MISSING, "failure"
        yield method, path, None, "failure"


def chars_cases(method, path, limit, required=True):
    yield method, path, E2 * limit, "success"  # characters, not bytes
    yield method, path, "x" * (limit + 1), "failure"
    yield method, path, 7, "failure"
    if required:
        yield method, path, MISSING, "failure"
        yield method, path, "", "failure"


def enum_cases(method, path, values, required=True):
    for value in values:
        yield method, path, value, "success"
    yield method, path, "nonsense", "failure"
    yield method, path, values[0].upper(), "failure"
    yield method, path, 1, "failure"
    if required:
        yield method, path, MISSING, "failure"
        yield method, path, None, "failure"


def function_cases(method, path, required=False):
    yield method, path, "not a function", "failure"
    yield method, path, {"call": 1}, "failure"
    yield method, path, MISSING, "failure" if required else "success"
    yield method, path, None, "failure" if required else "success"


def pc_cases(method, nullable, adds=False):
    yield method, ("pc",), MISSING, "failure"
    yield method, ("pc",), None, "success" if nullable else "failure"
    yield method, ("pc",), "pc", "failure"
    yield method, ("pc",), {"$js": "object"}, "failure"
    yield method, ("pc",), pc(99), "success" if adds else "failure"  # never added before


def object_user_cases(method, path):
    yield method, path, {"userName": "Alice", "aliasName": "alice-1"}, "success"
    yield method, path, {"userName": "Alice", "aliasName": "alice-1", "loginID": "a@x"}, "success"
    yield method, path, {"userName": E2 * 128, "aliasName": "a"}, "success"
    yield method, path, {"userName": "x" * 129, "aliasName": "a"}, "failure"
    yield method, path, {"userName": "Alice"}, "failure"
    yield method, path, {"aliasName": "alice"}, "failure"
    yield method, path, {}, "failure"


def rating_cases(method, path, required):
    for value in (1, 5):
        yield method, path, value, "success"
    for value in (0, 6, "5", 4.5, True):
        yield method, path, value, "failure"
    yield method, path, MISSING, "failure" if required else "success"


def cases():
    m = "initialize"
    yield m, ("AppID",), 123, "success"
    yield m, ("AppID",), "0042", "success"
    for bad in ("abc", "12a", "", -1, 1.5, None, True, MISSING):
        yield m, ("AppID",), bad, "failure"
    yield m, ("AppSecret",), FN, "success"
    for bad in ("", 5, None, MISSING, {"$js": "object"}):
        yield m, ("AppSecret",), bad, "failure"
    yield from id_cases(m, ("localUserID",), 128)
    yield from object_user_cases(m, ("localUserID",))
    yield from function_cases(m, ("csInitCallback",))
    yield from function_cases(m, ("csStatsCallback",))
    yield m, ("configParams",), MISSING, "success"
    yield m, ("configParams",), {}, "success"
    yield m, ("configParams",), "yes", "failure"
    yield from chars_cases(m, ("configParams", "applicationVersion"), 30, required=False)
    yield m, ("configParams", "siteID"), "x" * 256, "success"
    yield m, ("configParams", "siteID"), E2 * 128 + "x", "failure"
    for flag in ("disableBeforeUnloadHandler", "disablePrecalltest", "collectLegacyStats", "collectIP"):
        yield m, ("configParams", flag), True, "success"
        yield m, ("configParams", flag), "true", "failure"
    for name in ("customerID", "tenantID", "productName", "meetingsName", "serverName", "pbxID",
                 "pbxExtensionID", "fqExtensionID", "sessionID"):
        yield m, ("configParams", "additionalIDs", name), E2 * 128, "success"
        yield m, ("configParams", "additionalIDs", name), "x" * 257, "failure"
    yield m, ("configParams", "additionalIDs"), [], "failure"

    m = "addNewFabric"
    yield from pc_cases(m, nullable=False, adds=True)
    yield m, ("pc",), pc(ADDED_PC), "success"  # the same pc again: one fabric
    yield from id_cases(m, ("remoteUserID",), 128)
    yield from object_user_cases(m, ("remoteUserID",))
    yield from enum_cases(m, ("fabricUsage",), ["audio", "video", "data", "screen", "multiplex", "unbundled"])
    yield from id_cases(m, ("conferenceID",), 256)
    yield from enum_cases(m, ("fabricAttributes", "remoteEndpointType"), ["peer", "server"], required=False)
    yield from enum_cases(m, ("fabricAttributes", "fabricTransmissionDirection"),
                          ["sendonly", "receiveonly", "sendrecv", "inactive"], required=False)
    yield m, ("fabricAttributes",), MISSING, "success"
    yield m, ("fabricAttributes",), "peer", "failure"
    yield from function_cases(m, ("pcCallback",))

    m = "reportError"
    yield from pc_cases(m, nullable=True)
    yield from id_cases(m, ("conferenceID",), 256)
    yield from enum_cases(m, ("webRTCFunction",), ["createOffer", "createAnswer", "setLocalDescription",
                                                   "setRemoteDescription", "addIceCandidate", "getUserMedia",
                                                   "iceConnectionFailure", "signalingError", "applicationError",
                                                   "applicationLog"])
    yield m, ("domError",), None, "success"
    yield m, ("domError",), MISSING, "success"
    yield m, ("domError",), "a plain message", "success"
    yield m, ("domError",), {"name": "NotAllowedError", "message": "denied", "constraintName": "width"}, "success"
    yield m, ("domError",), 12, "failure"
    yield m, ("domError", "name"), 12, "failure"
    yield m, ("localSDP",), 5, "failure"
    yield m, ("remoteSDP",), "v=0\r\n", "success"
    yield m, ("remoteSDP",), ["v=0"], "failure"

    m = "sendFabricEvent"
    yield from pc_cases(m, nullable=False)
    plain = ["fabricHold", "fabricResume", "audioMute", "audioUnmute", "videoPause", "videoResume",
             "fabricUsageEvent", "screenShareStart", "screenShareStop", "dominantSpeaker", "callDetails",
             "callUnAnswered", "fabricTerminated"]
    yield from enum_cases(m, ("fabricEvent",), plain)
    yield m, ("fabricEvent",), "fabricSetupFailed", "failure"  # reported with reportError
    yield from id_cases(m, ("conferenceID",), 256)
    yield m, ("conferenceID",), "another-conference", "failure"
    yield m, ("eventData",), {"anything": 1}, "success"
    yield m, ("eventData",), "text", "failure"


def more_cases():
    m = "sendFabricEvent"
    base = {"pc": pc(), "conferenceID": CONF}
    devices = {"deviceList": [{"deviceId": "d1", "kind": "audioinput", "label": "Mic", "groupId": "g"}]}
    yield m, {**base, "fabricEvent": "activeDeviceList", "eventData": devices}, "success", None
    yield m, {**base, "fabricEvent": "activeDeviceList"}, "failure", "eventData"
    yield m, {**base, "fabricEvent": "activeDeviceList", "eventData": {}}, "failure", "eventData.deviceList"
    yield m, {**base, "fabricEvent": "activeDeviceList", "eventData": {"deviceList": [{"kind": "x"}]}}, \
        "failure", "eventData.deviceList.0.deviceId"
    yield m, {**base, "fabricEvent": "applicationErrorLog", "eventData": {"message": "oops"}}, "success", None
    yield m, {**base, "fabricEvent": "applicationErrorLog", "eventData": {"message": ""}}, \
        "failure", "eventData.message"
    yield m, {**base, "fabricEvent": "applicationErrorLog", "eventData": {}}, "failure", "eventData.message"
    yield m, {**base, "fabricEvent": "applicationErrorLog"}, "failure", "eventData"


def cases_rest():
    m = "sendCallDetails"
    yield from pc_cases(m, nullable=False)
    yield from id_cases(m, ("conferenceID",), 256)
    yield from enum_cases(m, ("callAttributes", "callType"), ["unknown", "inbound", "outbound", "monitoring"],
                          required=False)
    yield from enum_cases(m, ("callAttributes", "role"), ["agent", "participant", "manager"], required=False)
    yield m, ("callAttributes",), MISSING, "failure"

    m = "associateMstWithUserID"
    yield from pc_cases(m, nullable=False)
    yield from id_cases(m, ("userID",), 128)
    yield from object_user_cases(m, ("userID",))
    yield from id_cases(m, ("conferenceID",), 256)
    yield m, ("SSRC",), 4294967295, "success"
    yield m, ("SSRC",), "4294967295", "success"
    for bad in ("", "abc", -1, 4294967296, None, MISSING, 1.5):
        yield m, ("SSRC",), bad, "failure"
    yield m, ("usageLabel",), "x" * 20, "success"
    yield m, ("usageLabel",), E2 * 10, "success"
    yield m, ("usageLabel",), E2 * 10 + "x", "failure"
    yield m, ("usageLabel",), "x" * 21, "failure"
    yield m, ("usageLabel",), MISSING, "failure"
    yield m, ("associatedVideoTag",), MISSING, "success"
    yield m, ("associatedVideoTag",), 5, "failure"

    m = "sendUserFeedback"
    yield from id_cases(m, ("conferenceID",), 256)
    yield from id_cases(m, ("feedback", "userID"), 128)
    yield from rating_cases(m, ("feedback", "overall"), required=True)
    yield from rating_cases(m, ("feedback", "audio"), required=False)
    yield from rating_cases(m, ("feedback", "video"), required=False)
    yield m, ("feedback", "comment"), 5, "failure"
    yield m, ("feedback",), MISSING, "failure"
    yield from function_cases(m, ("pcCallback",))

    for m, field in (("sendCustomEvent", "eventData"), ("sendCustomStats", "stats")):
        yield from pc_cases(m, nullable=True)
        yield from id_cases(m, ("conferenceID",), 256)
        yield m, (field,), MISSING, "failure"
        yield m, (field,), "text", "failure"
        yield m, (field,), [1, 2], "failure"
        yield m, (field,), {}, "success"

    m = "setIdentifiers"
    yield m, ("identifiers",), {}, "success"
    yield m, ("identifiers",), MISSING, "failure"
    yield m, ("identifiers",), "c1", "failure"
    yield m, ("identifiers", "customerID"), "x" * 257, "failure"
    yield from function_cases(m, ("pcCallback",))

    m = "on"
    yield from enum_cases(m, ("event",), ["stats", "error", "defaultConfig", "recommendedConfig",
                                          "preCallTestResults", "connectionRecommendation"])
    yield from function_cases(m, ("callback",), required=True)

    m = "setProxyConfig"
    for name in ("collectorURL", "authServiceURL", "restEventURL", "restStatsURL"):
        yield m, ("config", name), "https://host.example:8443/base/", "success"
        yield m, ("config", name), "https://host.example/no-slash", "failure"
        yield m, ("config", name), "http://host.example/", "failure"
        yield m, ("config", name), 5, "failure"
    yield m, ("config",), MISSING, "failure"
    yield m, ("config",), {}, "success"

    m = "makePrecallTest"
    yield m, ("iceServers",), MISSING, "success"
    yield m, ("iceServers",), None, "success"
    yield m, ("iceServers",), FN, "success"  # makePrecallTest(callback)
    yield m, ("iceServers",), [], "failure"
    yield m, ("iceServers",), "turn:turn.example:3478", "failure"
    yield m, ("iceServers",), [{"urls": "turns:turn.example:5349"}], "success"
    yield m, ("iceServers",), [{"urls": "http://turn.example/"}], "failure"
    yield m, ("iceServers",), [{"urls": []}], "failure"
    yield m, ("iceServers",), [{"urls": "turn:a"}] * 11, "failure"
    yield m, ("iceServers",), [{"username": "u"}], "failure"
    yield m, ("iceServers",), [{"urls": "turn:a", "credential": 5}], "failure"
    yield from function_cases(m, ("callback",))

    m = "attachWifiStatsHandler"
    yield m, ("handler",), MISSING, "failure"
    yield m, ("handler",), None, "failure"
    yield m, ("handler",), '{"rssi": -50}', "failure"  # the figures themselves: a handler is wanted


def with_value(args: dict, path: tuple, value) -> dict:
    args = copy.deepcopy(args)
    node = args
    for step in path[:-1]:
        node = node.setdefault(step, {}) if isinstance(node.get(step), dict) or step not in node else node[step]
    if value is MISSING:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return args


def build_table():
    table = []
    for method, path, value, status in [*cases(), *cases_rest()]:
        table.append((method, with_value(VALID[method], path, value), status, ".".join(path)))
    table.extend(more_cases())
    for method in VALID:
        table.append((method, copy.deepcopy(VALID[method]), "success", None))
    return table


TABLE = build_table()


def ready_api(method: str, conference: str = CONF) -> tuple[Callstats, FakePort]:
    """An API in the state each method needs: initialized, with pc 1 added for `conference`.
    setProxyConfig must come before initialize, initialize is tested on a fresh one."""
    port = FakePort()
    api = Callstats(port)
    if method in ("setProxyConfig", "initialize"):
        return api, port
    assert api.call("initialize", VALID["initialize"], {"csInitCallback": print})["status"] == "success"
    added = dict(VALID["addNewFabric"], pc=pc(ADDED_PC), conferenceID=conference)
    assert api.call("addNewFabric", added)["status"] == "success"
    return api, port


def test_the_table_is_big_enough():
    assert len(TABLE) >= 150
    assert {m for m, *_ in TABLE} == set(models.METHODS)


@pytest.mark.parametrize(("method", "args", "status", "arg"), TABLE,
                         ids=[f"{m}-{i}-{a or 'valid'}" for i, (m, _, _, a) in enumerate(TABLE)])
def test_argument(method, args, status, arg):
    # a valid conferenceID is tested with the pc added for that very conference
    conference = args["conferenceID"] if arg == "conferenceID" and status == "success" else CONF
    api, _ = ready_api(method, conference)
    answer = api.call(method, args)
    assert answer["status"] == status, answer
    assert answer["msg"] == answer["message"]
    if status == "failure":
        assert answer["msg"].startswith(f"{method}: ")
        assert arg.split(".")[0] in answer["msg"], answer["msg"]
        assert arg in answer["msg"] or arg.rsplit(".", 1)[0] in answer["msg"], answer["msg"]


@pytest.mark.parametrize("method", [m for m in VALID if models.METHODS[m].needs_init])
def test_methods_need_initialize(method):
    api = Callstats(FakePort())
    answer = api.call(method, VALID[method])
    assert answer == {"status": "failure", "msg": f"{method}: not initialized (call initialize first)",
                      "message": f"{method}: not initialized (call initialize first)"}


@pytest.mark.parametrize("method", sorted(models.UNSUPPORTED))
def test_unsupported_methods_answer_failure(method):
    answer = Callstats(FakePort()).call(method, {})
    assert answer["status"] == "failure" and answer["msg"] == f"{method}: not supported"


def test_bad_enum_message_is_worded_as_documented():
    api, _ = ready_api("addNewFabric")
    answer = api.call("addNewFabric", dict(VALID["addNewFabric"], fabricUsage="nonsense"))
    assert answer["msg"] == "addNewFabric: Invalid fabricUsage value nonsense"


def test_a_pc_cannot_join_a_second_conference():
    api, _ = ready_api("addNewFabric")
    answer = api.call("addNewFabric", dict(VALID["addNewFabric"], pc=pc(ADDED_PC), conferenceID="other"))
    assert answer["status"] == "failure" and "conferenceID conf-1" in answer["msg"]


def test_events_on_a_terminated_fabric_are_refused():
    api, _ = ready_api("sendFabricEvent")
    ended = api.call("sendFabricEvent", dict(VALID["sendFabricEvent"], fabricEvent="fabricTerminated"))
    assert ended["status"] == "success"
    again = api.call("sendFabricEvent", VALID["sendFabricEvent"])
    assert again["status"] == "failure" and "pc" in again["msg"]


def test_set_proxy_config_after_initialize_is_refused():
    api, _ = ready_api("sendFabricEvent")
    answer = api.call("setProxyConfig", VALID["setProxyConfig"])
    assert answer["status"] == "failure" and "config" in answer["msg"]


def test_arguments_that_are_not_an_object_fail_cleanly():
    api = Callstats(FakePort())
    assert api.call("initialize", None)["status"] == "failure"
    assert api.call("initialize", ["123"])["status"] == "failure"
    assert api.call("noSuchMethod", {})["msg"] == "noSuchMethod: no such method"


def test_an_internal_error_is_answered_and_reported_not_raised(monkeypatch):
    api, port = ready_api("sendCustomEvent")
    listener = object()
    api.call("on", {"event": "error", "callback": FN}, {"callback": listener})

    def explode(*_):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(api, "_sendCustomEvent", explode)
    answer = api.call("sendCustomEvent", VALID["sendCustomEvent"])
    assert answer["status"] == "failure" and answer["msg"] == "sendCustomEvent: internal error (RuntimeError)"
    fn, (payload,) = port.called[-1]
    assert fn is listener and "kaboom" in payload["msg"]
    # ...and the good calls keep working
    assert api.call("sendFabricEvent", VALID["sendFabricEvent"])["status"] == "success"


def test_callbacks_are_answered_asynchronously():
    port = FakePort()
    api = Callstats(port)
    api.call("initialize", VALID["initialize"])
    callback = object()
    answer = api.call("addNewFabric", VALID["addNewFabric"], {"pcCallback": callback})
    assert answer["status"] == "success"
    assert port.called == [(callback, ("success", "addNewFabric: monitoring started"))]


def test_positional_arguments_are_in_the_deployed_order():
    """The loader maps positional arguments to these names: the order is the API."""
    deployed = {
        "initialize": ["AppID", "AppSecret", "localUserID", "csInitCallback", "csStatsCallback", "configParams"],
        "addNewFabric": ["pc", "remoteUserID", "fabricUsage", "conferenceID", "fabricAttributes", "pcCallback"],
        "reportError": ["pc", "conferenceID", "webRTCFunction", "domError", "localSDP", "remoteSDP"],
        "sendFabricEvent": ["pc", "fabricEvent", "conferenceID", "eventData"],
        "sendCallDetails": ["pc", "conferenceID", "callAttributes"],
        "associateMstWithUserID": ["pc", "userID", "conferenceID", "SSRC", "usageLabel", "associatedVideoTag"],
        "sendUserFeedback": ["conferenceID", "feedback", "pcCallback"],
        "sendCustomEvent": ["pc", "conferenceID", "eventData"],
        "sendCustomStats": ["pc", "conferenceID", "stats"],
        "setIdentifiers": ["identifiers", "pcCallback"],
        "on": ["event", "callback"],
        "setProxyConfig": ["config"],
        "makePrecallTest": ["iceServers", "callback"],
        "startPrecallTests": [],
        "stopPrecallTests": [],
        "attachWifiStatsHandler": ["handler"],
        "resetWifiStatsHandler": [],
    }
    assert {name: m.arg_names for name, m in models.METHODS.items()} == deployed
    for variant in (models.PlainFabricEvent, models.DeviceListEvent, models.AppErrorLogEvent):
        assert list(variant.model_fields) == deployed["sendFabricEvent"]
