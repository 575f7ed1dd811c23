"""Requests as clients make them: codes, tokens, bodies."""

import time
from urllib.parse import quote
import uuid

import jwt


def code(app: dict, user: str = "alice", **claims) -> str:
    """The basic-auth code, as the deployed callstats.js signs it (no iat, no exp)."""
    payload = {"userID": user, "appID": app["appID"], "generateTurnCredentials": False, **claims}
    return jwt.encode(payload, app["appSecret"], algorithm="HS256", headers={"alg": "HS256"})


def authenticate(client, app: dict, user: str = "alice", code_value=None, **headers):
    return client.post("/authenticate", headers=headers, data={
        "grant_type": "authorization_code", "client_id": f"{user}@{app['appID']}",
        "code": code_value if code_value is not None else code(app, user)})


def bearer(client, app: dict, user: str = "alice") -> dict:
    answer = authenticate(client, app, user)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def reader(app: dict) -> dict:
    return {"Authorization": f"Bearer {app['readKey']}"}


def body(**fields) -> dict:
    return {"localID": "alice", "deviceID": "device-1", "timestamp": time.time() * 1000,
            "callstatsVersion": "3.73.21", **fields}


def fabric(**fields) -> dict:
    return body(**{"remoteID": "bob", "connectionID": "conn-1", **fields})


def join(client, app: dict, headers: dict, conference: str = None) -> tuple[str, str]:
    conference = conference or f"room-{uuid.uuid4().hex[:8]}"
    answer = client.post(f"/v1/apps/{app['appID']}/conferences/{quote(conference, safe='')}", headers=headers,
                         json=body(eventType="userJoined", endpointInfo={"type": "browser", "buildName": "Chrome"}))
    assert answer.status_code == 200, answer.text
    return conference, answer.json()["ucID"]
