"""Every endpoint of SPEC part 2 against the running collector, over TLS with an HTTP/2 client."""

import uuid

import pytest

from callwire import messages as models

from .wire import bearer, body, fabric, join, reader

SPECIFIC = {
    "events/fabric/setup": {"delay": 420.5, "iceGatheringDelay": 20, "iceConnectivityDelay": 300,
                            "localIceCandidates": [{"id": "l1", "type": "host"}], "selectedCandidatePairID": "p1"},
    "events/fabric/statechange": {"changedState": "iceConnectionState", "prevState": "new", "newState": "checking"},
    "events/ssrcmap": {"ssrcData": [{"ssrc": "1234", "streamType": "outbound", "mediaType": "audio"}]},
    "events/feedback": {"feedback": {"overallRating": 4, "comments": "fine"}},
    "events/devices/list": {"mediaDeviceList": [{"mediaDeviceID": "d", "kind": "audioinput", "label": "Mic"}]},
    "stats": {"stats": [{"id": "o1", "type": "outbound-rtp", "ssrc": 1234, "bytesSent": 1000, "timestamp": 1}]},
    "customstats": {"stats": {"cpu": 0.5}},
}


def valid_body(path: str) -> dict:
    model = {**models.EVENT_KINDS, **models.STATS_KINDS}[path]
    make = fabric if issubclass(model, models.FabricBody) else body
    return make(eventType=path.rsplit("/", 1)[-1], **SPECIFIC.get(path, {}))


def test_clock_sync_and_generics(collector):
    with collector.client() as client:
        clock = client.get("/clockSync")
        assert clock.http_version == "HTTP/2" and clock.status_code == 200
        assert clock.json()["now"] > 1.7e12
        log = client.post("/generics", json={"appID": 1, "userID": "u", "version": "3", "eventType": "log",
                                             "data": {"msg": "hello"}})
        assert log.http_version == "HTTP/2" and log.json() == {"status": "success"}
        assert client.post("/generics", content=b"{not json").status_code == 400


def test_authenticate_answers_the_deployed_shape(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        answer = client.post("/authenticate", data={"grant_type": "authorization_code",
                                                     "client_id": f"alice@{app['appID']}", "code": "x.y.z"})
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_grant"
        config = client.post(f"/{app['appID']}/configurations", headers=headers, json={"rtp": {}})
        assert config.http_version == "HTTP/2" and config.json() == {"status": "success"}


@pytest.mark.parametrize("path", sorted({**models.EVENT_KINDS, **models.STATS_KINDS}))
def test_every_kind_is_stored_and_read_back(collector, path):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        sent = valid_body(path)
        answer = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/{path}",
                             headers=headers, json=sent)
        assert answer.http_version == "HTTP/2"
        assert answer.status_code == 200 and answer.json() == {"status": "success"}, answer.text
        if path in models.STATS_KINDS:
            stored = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/stats", headers=reader(app)).json()
            assert [s["path"] for s in stored] == [path]
        else:
            stored = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/events", headers=reader(app)).json()
            mine = [e for e in stored if e["path"] == path]
            assert len(mine) == 1 and mine[0]["body"]["timestamp"] == sent["timestamp"]
            assert mine[0]["ucID"] == uc_id


def test_a_bad_body_is_refused_naming_the_field(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        base = f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}"
        bad = client.post(f"{base}/events/fabric/statechange", headers=headers,
                          json=fabric(changedState="nonsense", newState="x"))
        assert bad.status_code == 400 and bad.json()["msg"].startswith("changedState:")
        missing = client.post(f"{base}/events/user/alive", headers=headers, json={"deviceID": "d", "timestamp": 1})
        assert missing.status_code == 400 and "localID" in missing.json()["msg"]
        rating = client.post(f"{base}/events/feedback", headers=headers, json=body(feedback={"overallRating": 9}))
        assert rating.status_code == 400 and "feedback.overallRating" in rating.json()["msg"]
        unknown = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/nope/events/user/alive",
                              headers=headers, json=body())
        assert unknown.status_code == 404


def test_batch_and_deltas_rebuild_full_values(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        first = [{"id": "o1", "type": "outbound-rtp", "ssrc": 7, "bytesSent": 100, "packetsSent": 1},
                 {"id": "c1", "type": "candidate-pair", "currentRoundTripTime": 0.01}]
        items = [{"kind": "events/fabric/setup", "body": fabric(delay=300)},
                 {"kind": "stats", "body": fabric(stats=first, seq=0)},
                 {"kind": "stats", "body": fabric(stats=[{"id": "o1", "bytesSent": 900}], delta=True, seq=1)},
                 {"kind": "stats", "body": fabric(stats=[{"id": "c1", "removed": True}], delta=True, seq=2)}]
        answer = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/batch",
                             headers=headers, json={"items": items})
        assert answer.status_code == 200, answer.text
        samples = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/stats", headers=reader(app)).json()
        assert [sorted(e["id"] for e in s["stats"]) for s in samples] == [["c1", "o1"], ["c1", "o1"], ["o1"]]
        assert samples[1]["stats"][0] == {"id": "o1", "type": "outbound-rtp", "ssrc": 7, "bytesSent": 900,
                                          "packetsSent": 1}
        series = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/stats?series=bytesSent",
                            headers=reader(app)).json()
        assert [s["values"] for s in series] == [[100, 900, 900]]
        bad = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/batch", headers=headers,
                          json={"items": [{"kind": "events/nope", "body": body()}]})
        assert bad.status_code == 400 and "items.0.kind" in bad.json()["msg"]


def test_battery_and_wifi_of_stats_bodies_reach_the_participant_row(collector):
    """As the deployed client sends them with every stats body: kept with each sample, the newest
    shown with the participant."""
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        base = f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}"
        entry = [{"id": "o1", "type": "outbound-rtp", "ssrc": 7, "bytesSent": 100}]
        low = {"batteryLevel": 0.42, "isBatteryCharging": False}
        wifi = {"signal": 70, "rssi": -51}
        for n, battery in enumerate([low, low, {"batteryLevel": 0.4, "isBatteryCharging": True}]):
            sample = fabric(stats=entry, seq=n, batteryStatus=battery, wifiStats=wifi if n else None, itemID=f"s{n}")
            answer = client.post(f"{base}/stats", headers=headers, json=sample)
            assert answer.status_code == 200, answer.text
        assert client.post(f"{base}/stats", headers=headers, json=sample).status_code == 200  # a retry: stored once
        client.post(f"{base}/stats", headers=headers, json=fabric(stats=entry, seq=4, itemID="s4"))  # none
        (person,) = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}",
                               headers=reader(app)).json()["participants"]
        assert person["batteryStatus"] == {"batteryLevel": 0.4, "isBatteryCharging": True}  # the newest
        assert person["wifiStats"] == wifi
        samples = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/stats", headers=reader(app)).json()
        assert [s.get("batteryStatus", {}).get("batteryLevel") for s in samples] == [0.42, 0.42, 0.4, None]
        assert [s.get("wifiStats") for s in samples] == [None, wifi, wifi, None]


def test_the_read_api(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers, conference="tenant/room 1")
        encoded = "tenant%2Froom%201"
        base = f"/v1/apps/{app['appID']}/conferences/{encoded}/{uc_id}"
        client.post(f"{base}/events/fabric/setup", headers=headers, json=fabric(delay=250))
        client.post(f"{base}/events/fabric/setupfailed", headers=headers,
                    json=fabric(connectionID="conn-2", reason="IceConnectionFailure"))
        client.post(f"{base}/events/user/left", headers=headers, json=body())
        listing = client.get(f"/v1/apps/{app['appID']}/conferences", headers=reader(app))
        assert listing.http_version == "HTTP/2"
        (item,) = [c for c in listing.json() if c["conferenceID"] == conference]
        assert item["participants"] == 1 and item["fabrics"] == 1 and item["failures"] == 1
        detail = client.get(f"/v1/apps/{app['appID']}/conferences/{encoded}", headers=reader(app)).json()
        (person,) = detail["participants"]
        assert person["ucID"] == uc_id and person["left"] is not None
        assert {f["connectionID"]: f["state"] for f in person["fabrics"]} == {"conn-1": "established",
                                                                            "conn-2": "failed"}
        assert [f["setupDelay"] for f in person["fabrics"] if f["connectionID"] == "conn-1"] == [250]
        events = client.get(f"/v1/apps/{app['appID']}/conferences/{encoded}/events", headers=reader(app)).json()
        assert [e["path"] for e in events] == ["join", "events/fabric/setup", "events/fabric/setupfailed",
                                               "events/user/left"]


def test_pagination_and_time_filters(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        for i in range(5):
            client.post(f"/v1/apps/{app['appID']}/conferences/page-{i}", headers=headers,
                        json=body(timestamp=1_000_000 + i * 1000))
        seen, cursor = [], None
        while True:
            answer = client.get(f"/v1/apps/{app['appID']}/conferences", headers=reader(app),
                                params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            seen += [c["conferenceID"] for c in answer.json()]
            cursor = answer.headers.get("x-next-cursor")
            if not cursor:
                break
        assert seen == [f"page-{i}" for i in (4, 3, 2, 1, 0)]
        window = client.get(f"/v1/apps/{app['appID']}/conferences", headers=reader(app),
                            params={"since": 1_001_000, "until": 1_003_000}).json()
        assert [c["conferenceID"] for c in window] == ["page-3", "page-2", "page-1"]


def audio_in(t, received, lost, jitter):
    return [{"id": "i1", "type": "inbound-rtp", "kind": "audio", "ssrc": 9, "timestamp": t,
             "packetsReceived": received, "packetsLost": lost, "jitter": jitter, "bytesReceived": received * 100}]


def test_quality_is_worked_out_at_ingest_for_charts_and_the_list(collector):
    """MOS and rating per interval, by the client's own code, in the series and the conference list."""
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers, conference=f"quality-{uuid.uuid4().hex[:6]}")
        clean, lossy = audio_in(1000, 500, 0, 0.002), audio_in(6000, 1000, 0, 0.002)
        worse = audio_in(11000, 1250, 250, 0.03)  # half of the interval's packets lost
        base = f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/stats"
        for n, entries in enumerate((clean, lossy, worse)):
            answer = client.post(base, headers=headers, json=fabric(stats=entries, timestamp=1_700_000_000_000 + n))
            assert answer.status_code == 200, answer.text
        url = f"/v1/apps/{app['appID']}/conferences"
        (mos,) = client.get(f"{url}/{conference}/stats", params={"series": "csioMos"}, headers=reader(app)).json()
        assert len(mos["values"]) == 2 and mos["values"][0] > 4.3 > 3.1 > mos["values"][1]  # excellent, then bad
        listed = client.get(url, params={"q": conference}, headers=reader(app)).json()
        assert [(c["conferenceID"], c["worstQuality"]) for c in listed] == [(conference, "bad")]
        assert client.get(url, params={"q": conference, "quality": "bad"}, headers=reader(app)).json() == listed
        detail = client.get(f"{url}/{conference}", headers=reader(app)).json()
        assert detail["summary"]["worstQuality"] == "bad"
        refused = client.get(url, params={"quality": "awful"}, headers=reader(app))
        assert refused.status_code == 400 and "quality" in refused.json()["msg"]


def test_a_retried_join_is_the_same_member(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        url = f"/v1/apps/{app['appID']}/conferences/retried"
        first = client.post(url, headers=headers, json=body(itemID="join-1")).json()["ucID"]
        again = client.post(url, headers=headers, json=body(itemID="join-1")).json()["ucID"]
        other = client.post(url, headers=headers, json=body(itemID="join-2")).json()["ucID"]
        assert first == again != other
        detail = client.get(url, headers=reader(app)).json()
        assert sorted(p["ucID"] for p in detail["participants"]) == sorted([first, other])


def test_events_page_by_time_even_when_they_arrive_late(collector):
    """Events sent after an outage arrive after newer ones: paging by time still sees each once."""
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        base = f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/events/user/alive"
        for t in (5000, 1000, 4000, 2000, 2000, 3000):  # arrival order differs from time order
            assert client.post(base, headers=headers, json=body(timestamp=1_700_000_000_000 + t)).status_code == 200
        seen, cursor = [], None
        while True:
            answer = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/events", headers=reader(app),
                                params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert answer.status_code == 200, answer.text
            seen += [e["timestamp"] - 1_700_000_000_000 for e in answer.json() if e["path"] != "join"]
            cursor = answer.headers.get("x-next-cursor")
            if not cursor:
                break
        assert seen == [1000, 2000, 2000, 3000, 4000, 5000]
        bad = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/events", headers=reader(app),
                         params={"cursor": "yesterday"})
        assert bad.status_code == 400 and "cursor" in bad.json()["msg"]


def test_cors_answers_only_allowed_origins(collector):
    app = collector.app("https://good.example")
    open_app = collector.app()
    with collector.client() as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        good = client.options(f"/v1/apps/{app['appID']}/conferences/x",
                              headers={"Origin": "https://good.example", **preflight})
        assert good.status_code == 204
        assert good.headers["access-control-allow-origin"] == "https://good.example"
        bad = client.options(f"/v1/apps/{app['appID']}/conferences/x", headers={"Origin": "https://evil.example",
                                                                                  **preflight})
        assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers
        anyone = client.options(f"/v1/apps/{open_app['appID']}/conferences/x",
                                headers={"Origin": "https://anyone.example", **preflight})
        assert anyone.headers["access-control-allow-origin"] == "https://anyone.example"
        static = client.get("/callstats.js", headers={"Origin": "https://anyone.example"})
        assert static.status_code == 200 and static.headers["access-control-allow-origin"] == "*"


def test_gzip_bodies_are_inflated_within_the_limit(collector):
    import gzip
    import json as jsonlib

    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        url = f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/stats"
        sample = fabric(stats=[{"id": "o1", "type": "outbound-rtp", "ssrc": 7, "bytesSent": 100}])
        packed = {**headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        ok = client.post(url, headers=packed, content=gzip.compress(jsonlib.dumps(sample).encode()))
        assert ok.status_code == 200, ok.text
        stored = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/stats", headers=reader(app)).json()
        assert stored[-1]["stats"] == sample["stats"]
        bomb = gzip.compress(b'{"pad": "' + b"0" * (4 << 20) + b'"}')  # 4 MiB inflated from a few KB
        assert len(bomb) < 64 * 1024
        too_big = client.post(url, headers=packed, content=bomb)
        assert too_big.status_code == 413 and "inflated" in too_big.json()["msg"]
        broken = client.post(url, headers=packed, content=b"not gzip at all")
        assert broken.status_code == 400 and "gzip" in broken.json()["msg"]
        other = client.post(url, headers={**packed, "Content-Encoding": "br"}, content=b"x")
        assert other.status_code == 415 and "gzip" in other.json()["msg"]


def test_an_answer_given_without_reading_the_body_still_arrives_over_http1(collector):
    """A method a path does not take is answered 405, the page files included, over HTTP/1.1 too,
    with the body read first: a client still sending it gets the answer, not a reset (schemathesis
    once saw such resets, under load; they do not come on demand)."""
    body = b'{"localID": "0", "deviceID": "0", "timestamp": 0.0}' * 40
    with collector.client(http2=False) as client:  # HTTP/1.1, as requests (schemathesis) speaks it
        for path in ("/v1/apps/0/conferences/0/0/events/fabric/setupfailed", "/dashboard/index.html"):
            for _ in range(20):
                answer = client.request("DELETE", path, content=body, headers={"Content-Type": "application/json"})
                assert answer.status_code == 405 and answer.http_version == "HTTP/1.1"


def test_limits(collector):
    app = collector.app()
    with collector.client() as client:
        headers = bearer(client, app)
        conference, uc_id = join(client, app, headers)
        huge = fabric(stats=[{"id": f"x{i}", "type": "codec", "pad": "y" * 1000} for i in range(1500)])
        too_big = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/stats",
                              headers=headers, json=huge)
        assert too_big.status_code == 413
        long_id = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/events/user/alive",
                              headers=headers, json=body(localID="x" * 600))
        assert long_id.status_code == 400 and long_id.json()["msg"].startswith("localID")
