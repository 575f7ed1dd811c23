"""A whole session replayed exactly as the deployed callstats.js (3.7x, REST) sends it."""

import time
from urllib.parse import quote

import jwt

from .wire import reader

USER = "Alice Smith (ü)"  # deployed clients URL-encode the user id
CONFERENCE = "meet.example.com/tenant/Weekly Sync"


def chrome_stats(now: float, bytes_sent: int) -> list[dict]:
    """Full getStats() entries as Chrome gives them, plus the deployed client's csio* fields."""
    return [
        {"id": "OT01A1234", "type": "outbound-rtp", "timestamp": now, "ssrc": 1234, "kind": "audio",
         "mediaType": "audio", "transportId": "T01", "codecId": "COT01_111", "packetsSent": bytes_sent // 100,
         "bytesSent": bytes_sent, "headerBytesSent": 1200, "retransmittedPacketsSent": 0, "nackCount": 0,
         "targetBitrate": 32000, "mid": "0", "csioIntBRKbps": 31.5, "csioAvgBRKbps": 30.9, "csioAvgRtt": 1.2},
        {"id": "RI01A1234", "type": "remote-inbound-rtp", "timestamp": now, "ssrc": 1234, "kind": "audio",
         "packetsLost": 0, "jitter": 0.0012, "roundTripTime": 0.0011, "fractionLost": 0, "localId": "OT01A1234"},
        {"id": "CP01", "type": "candidate-pair", "timestamp": now, "transportId": "T01", "localCandidateId": "I1",
         "remoteCandidateId": "I2", "state": "succeeded", "nominated": True, "currentRoundTripTime": 0.001,
         "availableOutgoingBitrate": 3000000, "bytesSent": bytes_sent + 5000},
        {"id": "T01", "type": "transport", "timestamp": now, "dtlsState": "connected", "selectedCandidatePairId": "CP01"},
    ]


def test_a_deployed_client_session_is_stored_and_readable(collector):
    app = collector.app()
    with collector.client() as client:
        assert client.get("/clockSync").json()["now"] > 0
        code = jwt.encode({"userID": quote(USER, safe=""), "appID": app["appID"], "keyId": None,
                           "generateTurnCredentials": False}, app["appSecret"], algorithm="HS256")
        auth = client.post("/authenticate", data={"grant_type": "authorization_code",
                                                  "client_id": f"{quote(USER, safe='')}@{int(app['appID'])}",
                                                  "code": code})
        assert auth.status_code == 200, auth.text
        answer = auth.json()
        assert answer["token_type"] == "bearer" and answer["expires_in"] > 0
        claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
        assert claims["appID"] == int(app["appID"]) and isinstance(claims["appID"], int)
        assert claims["userID"] == quote(USER, safe="")
        assert claims["expiry"].endswith("Z") and time.strptime(claims["expiry"], "%Y-%m-%dT%H:%M:%SZ")
        assert claims["submissionInterval"] == 15000 and claims["collectSDP"] is True
        # the deployed client sends feedback, SDPs and app logs only when the token lists them
        assert {"userFeedback", "sdpSubmissionEvent", "applicationErrorLog"} <= set(claims["ingestedEvents"])
        headers = {"Authorization": f"Bearer {answer['access_token']}", "Origin": "https://meet.example.com"}
        assert client.post("/generics", json={"appID": int(app["appID"]), "userID": quote(USER, safe=""),
                                              "version": "3.73.21", "eventType": "log",
                                              "data": {"msg": "clock sync done"}}).status_code == 200
        assert client.post(f"/{app['appID']}/configurations", headers=headers,
                           json={"rtpCapabilities": {"codecs": []}}).status_code == 200

        now = time.time() * 1000
        common = {"callstatsVersion": "3.73.21", "localID": USER, "deviceID": "0f8e8a4c-3b7d", "timestamp": now}
        conf = quote(CONFERENCE, safe="")
        join = client.post(f"/v1/apps/{app['appID']}/conferences/{conf}", headers=headers, json={
            **common, "eventType": "userJoined", "siteID": "/", "additionalIDs": {"tenantID": "t1"},
            "userName": "Alice", "disableGeoIP": False, "remoteID": USER,
            "endpointInfo": {"type": "browser", "buildName": "Chrome", "buildVersion": "120.0", "os": "Linux",
                             "osVersion": "x86_64", "appVersion": "meet (chrome)", "userAgent": "Mozilla/5.0"}})
        assert join.status_code == 200 and join.json()["status"] == "success"
        uc = join.json()["ucID"]
        base = f"/v1/apps/{app['appID']}/conferences/{conf}/{uc}"
        fabric = {**common, "remoteID": "bob", "connectionID": "a1b2c3"}
        sent = [
            ("events/userdetails", {**common, "eventType": "userDetails", "userName": "Alice", "collectIP": True}),
            ("events/fabric/setup", {**fabric, "eventType": "fabricSetup", "delay": 812, "iceGatheringDelay": 12,
                                     "iceConnectivityDelay": 640, "fabricTransmissionDirection": "sendrecv",
                                     "remoteEndpointType": "server", "sdpSemantics": "unified-plan",
                                     "localIceCandidates": [{"id": "I1", "type": "local-candidate", "ip": "csio-5000",
                                                             "port": 5000, "candidateType": "host",
                                                             "transport": "udp"}],
                                     "remoteIceCandidates": [], "iceCandidatePairs": [], "selectedCandidatePairID": "CP01"}),
            ("events/fabric/statechange", {**fabric, "eventType": "fabricStateChange", "changedState": "iceConnectionState",
                                           "prevState": "checking", "newState": "connected"}),
            ("events/ssrcmap", {**fabric, "eventType": "ssrcMap", "ssrcData": [
                {"ssrc": "1234", "cname": "x", "msid": "m", "mslabel": "m", "label": "a", "streamType": "outbound",
                 "reportType": "local", "mediaType": "audio", "userID": USER, "localStartTime": now}]}),
            ("events/user/alive", {**common, "eventType": "userAlive"}),
            ("events/media/actions", {**fabric, "eventType": "audioMute", "mediaDeviceID": "default", "remoteIDList": ["bob"]}),
            ("events/sdp", {**fabric, "timestamp": now + 1, "localSDP": "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\n",
                            "remoteSDP": "v=0\r\no=- 7305 2 IN IP4 127.0.0.1\r\n"}),
            ("events/app/logs", {**fabric, "timestamp": now + 2, "level": "error", "messageType": "json",
                                 "message": '{"name":"OverconstrainedError","constraintName":"width"}'}),
            ("events/feedback", {**common, "timestamp": now + 3, "remoteID": "bob",
                                 "feedback": {"overallRating": 4, "comments": "a little echo"}}),
            ("stats", {**fabric, "eventType": "stats", "stats": chrome_stats(now, 20000),
                       "batteryStatus": {"batteryLevel": 1, "isBatteryCharging": True}}),
            ("stats", {**fabric, "eventType": "stats", "timestamp": now + 15000, "stats": chrome_stats(now + 15000, 80000)}),
            ("events/fabric/terminated", {**fabric, "eventType": "fabricTerminated"}),
            ("events/user/left", {**common, "eventType": "userLeft"}),
        ]
        for path, item in sent:
            answer = client.post(f"{base}/{path}", headers=headers, json=item)
            assert answer.status_code == 200 and answer.json()["status"] == "success", (path, answer.text)

        events = client.get(f"/v1/apps/{app['appID']}/conferences/{conf}/events", headers=reader(app)).json()
        stored = {(e["path"], e["body"]["timestamp"]): e["body"] for e in events}
        for path, item in sent:
            if path == "stats":
                continue
            assert stored[(path, item["timestamp"])] == item  # every field as received, unknown ones too
        samples = client.get(f"/v1/apps/{app['appID']}/conferences/{conf}/stats", headers=reader(app)).json()
        assert [s["stats"] for s in samples] == [body["stats"] for path, body in sent if path == "stats"]
        detail = client.get(f"/v1/apps/{app['appID']}/conferences/{conf}", headers=reader(app)).json()
        assert detail["conferenceID"] == CONFERENCE
        (person,) = detail["participants"]
        assert person["localID"] == USER and person["endpointInfo"]["buildName"] == "Chrome"
        assert person["fabrics"][0]["setupDelay"] == 812 and person["fabrics"][0]["state"] == "terminated"
