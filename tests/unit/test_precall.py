"""The pre-call test's logic in CPython: what is probed, the figures from what a probe measured,
why a test failed, and when a session runs it (the probes themselves are the browser tests')."""

import json
from types import SimpleNamespace

from pyclient import precall

from .fakeport import FakePort

MEASURED = {"connected": True, "relayCandidates": 1, "trips": [10, 14, 12, 30, 11], "tripsSent": 1000,
            "tripsReceived": 980, "rampReceived": [18_750, 37_500, 62_500, 61_000, 40_000], "rampStepMs": 500,
            "bytesSent": 4_000_000, "candidateErrors": [], "stopped": None, "error": None}


def test_servers_are_split_by_transport():
    servers = [{"urls": ["turn:t:3478?transport=udp", "turn:t:3478?transport=tcp", "stun:t:3478"],
                "username": "u", "credential": "c"}, {"urls": "turns:t:5349"}, {"urls": "turn:plain:3478"}]
    assert precall.servers_for(servers, "udp") == [
        {"urls": ["turn:t:3478?transport=udp"], "username": "u", "credential": "c"}, {"urls": ["turn:plain:3478"]}]
    assert precall.servers_for(servers, "tcp") == [
        {"urls": ["turn:t:3478?transport=tcp"], "username": "u", "credential": "c"}, {"urls": ["turns:t:5349"]}]
    assert precall.servers_for([{"urls": "stun:t"}], "udp") == []


def test_rest_api_credentials_expire_by_their_username():
    assert precall.credentials_expired([{"urls": "turn:t", "username": "100:alice"}], now_s=101)
    assert not precall.credentials_expired([{"urls": "turn:t", "username": "200:alice"}], now_s=101)
    assert not precall.credentials_expired([{"urls": "turn:t", "username": "long-term"}], now_s=101)


def test_figures():
    found = precall.figures(MEASURED)
    assert found["rtt"] == 12  # the median
    assert found["jitter"] == (4 + 2 + 18 + 19) / 4  # the mean change between successive trips
    assert found["fractionalLoss"] == 0.02
    assert found["throughput"] == 1000.0  # at most 62,500 bytes arrived in a half-second step: 1,000 kbit/s


def test_a_connected_test_succeeds_with_udp_figures():
    status, body = precall.results({"udp": MEASURED, "tcp": {"connected": True, "trips": [20]}}, 1.0, 2.0, True)
    assert status == "success"
    assert body["mediaConnectivity"] and body["transport"] == "udp" and body["rtt"] == 12
    assert body["relayConnectivity"] == {"udp": True, "tcp": True}
    assert body["bytesSent"] == 4_000_000 and body["automatic"] is True
    assert precall.recommendation(status, body)["recommendation"] == "audioVideo"


def test_why_a_test_failed():
    nothing = {"connected": False, "relayCandidates": 0, "trips": [], "candidateErrors": []}
    refused = {**nothing, "candidateErrors": [{"errorCode": 401, "errorText": "Unauthorized"}]}
    no_path = {**nothing, "relayCandidates": 2}
    assert precall.results({"udp": nothing, "tcp": nothing}, 1, 2, False)[1]["reason"] == "turnUnreachable"
    assert precall.results({"udp": refused, "tcp": nothing}, 1, 2, False)[1]["reason"] == "turnCredentialsRefused"
    assert precall.results({"udp": no_path, "tcp": None}, 1, 2, False)[1]["reason"] == "noMediaPath"
    status, body = precall.results({"udp": {**MEASURED, "stopped": "callStarted"}, "tcp": None}, 1, 2, False)
    assert (status, body["reason"], body["mediaConnectivity"]) == ("failure", "callStarted", True)
    assert body["message"] == precall.REASONS["callStarted"]


def session_of(port, servers, live=False, ingested=("precallTestResultsAutomatic",)):
    sent = []
    claims = {"ingestedEvents": list(ingested)}
    transport = SimpleNamespace(authenticated=True, ice_servers=servers, claim=lambda name: claims.get(name),
                                renew=lambda: None)
    session = SimpleNamespace(transport=transport, live_call=lambda: live, listeners={}, app_id="42",
                              precall_done=sent.append)
    return session, sent


SERVERS = [{"urls": ["turn:t:3478?transport=udp", "turn:t:3478?transport=tcp"], "username": "9999999999:alice",
            "credential": "c"}]


def test_the_automatic_test_runs_once_probing_udp_then_tcp():
    port = FakePort(background=True)
    port.probe_answer = lambda options: MEASURED
    session, sent = session_of(port, SERVERS)
    session.listeners["preCallTestResults"] = "on-results"
    test = precall.Precall(port, session)
    test.automatic()
    test.automatic()  # a renewed token: not again
    port.run()
    assert len(port.probes) == 2
    assert port.probes[0]["iceServers"][0]["urls"] == ["turn:t:3478?transport=udp"]
    assert port.probes[0]["ramp"] and port.probes[1]["ramp"] is None  # TCP: connectivity only
    (fn, (status, body)), = port.called
    assert (fn, status, body["automatic"]) == ("on-results", "success", True)
    assert sent == [body] and test.latest == body
    assert json.loads(port.storage["callstats.precall.42"]) == [body]


def test_nothing_runs_automatically_during_a_call_or_when_the_collector_does_not_ingest_it():
    for live, ingested in ((True, ("precallTestResultsAutomatic",)), (False, ("userFeedback",))):
        port = FakePort(background=True)
        session, sent = session_of(port, SERVERS, live=live, ingested=ingested)
        precall.Precall(port, session).automatic()
        port.run()
        assert port.probes == [] and sent == []


def test_a_manual_test_without_turn_fails_with_the_reason_and_is_kept_nowhere():
    port = FakePort(background=True)
    session, sent = session_of(port, [])
    precall.Precall(port, session).start(callback="cb")
    port.run()
    (fn, (status, body)), = port.called
    assert (fn, status, body["reason"]) == ("cb", "failure", "noTurnServer")
    assert port.probes == [] and sent == [] and port.storage == {}


def test_local_storage_keeps_the_last_50():
    port = FakePort(background=True)
    port.probe_answer = lambda options: MEASURED
    port.storage["callstats.precall.42"] = json.dumps([{"n": i} for i in range(50)])
    session, _ = session_of(port, SERVERS)
    precall.Precall(port, session).start()
    port.run()
    kept = json.loads(port.storage["callstats.precall.42"])
    assert len(kept) == 50 and kept[0] == {"n": 1} and kept[-1]["mediaConnectivity"] is True


def test_a_test_stopped_between_its_probes_starts_no_other():
    port = FakePort(background=True)
    session, sent = session_of(port, SERVERS)
    test = precall.Precall(port, session)

    def udp_done_as_a_call_starts(options):
        test.stop("callStarted")  # the probe had just finished: nothing to stop in the page
        return MEASURED

    port.probe_answer = udp_done_as_a_call_starts
    test.start(callback="cb")
    port.run()
    assert len(port.probes) == 1 and port.probe_stops == ["callStarted"]
    (_, (status, body)), = [c for c in port.called if c[0] == "cb"]
    assert (status, body["reason"], body["rtt"]) == ("failure", "callStarted", 12)
    assert sent == [body]
