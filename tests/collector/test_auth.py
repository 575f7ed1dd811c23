"""Authentication: what is accepted, and each way a code is refused with a clear description."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .wire import authenticate, bearer, body, code, join, reader


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for name, key in (("ec", ec.generate_private_key(ec.SECP256R1())), ("rsa", rsa.generate_private_key(65537, 2048))):
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        (folder / f"{name}.pem").write_bytes(pem)
        made[name] = (key, folder / f"{name}.pem", pem.decode())
    return made


@pytest.fixture(scope="module")
def apps(collector, keys):
    """App A with an EC key "k-ec" and an RSA key "k-rsa" and an origin whitelist; app B plain."""
    a = collector.app("https://a.example")
    for name in ("ec", "rsa"):
        collector.cli("apps", "add-key", "--app", a["appID"], "--key-id", f"k-{name}", "--public-key", str(keys[name][1]))
    return a, collector.app()


def third_party(app, keys, kind="ec", **override):
    now = int(time.time())
    claims = {"userID": "alice", "appID": app["appID"], "keyID": f"k-{kind}", "iat": now, "exp": now + 300,
              "nbf": now - 300, "jti": f"jti-{time.time_ns()}"}
    claims.update(override)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, keys[kind][0], algorithm="ES256" if kind == "ec" else "RS256")


ORIGIN = {"Origin": "https://a.example"}


def refused(client, app, token, status, words, **headers):
    answer = authenticate(client, app, code_value=token, **(headers or ORIGIN))
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error", "error_description"}
    assert words in answer.json()["error_description"], answer.json()


def test_good_codes_are_accepted(collector, apps, keys):
    a, b = apps
    with collector.client() as client:
        basic = authenticate(client, a, **ORIGIN)
        assert basic.status_code == 200 and basic.json()["token_type"] == "bearer"
        for kind in ("ec", "rsa"):
            answer = authenticate(client, a, code_value=third_party(a, keys, kind), **ORIGIN)
            assert answer.status_code == 200, answer.text
        key_id_spelling = third_party(a, keys, keyID=None, keyId="k-ec")
        assert authenticate(client, a, code_value=key_id_spelling, **ORIGIN).status_code == 200
        assert authenticate(client, b).status_code == 200  # no whitelist: any origin, or none


def test_each_bad_code_is_refused_with_its_reason(collector, apps, keys):
    a, b = apps
    now = int(time.time())
    with collector.client() as client:
        refused(client, a, jwt.encode({"userID": "alice", "appID": a["appID"]}, "wrong-secret-" * 3, algorithm="HS256"),
                401, "bad signature")
        refused(client, a, code(b), 401, "bad signature")  # B's secret, for A
        refused(client, a, jwt.encode({"userID": "alice", "appID": b["appID"]}, a["appSecret"], algorithm="HS256"),
                403, "another app")
        refused(client, a, third_party(a, keys, exp=now - 600, iat=now - 900, nbf=now - 900), 401, "expired")
        refused(client, a, third_party(a, keys, nbf=now + 600, iat=now), 401, "not valid yet")
        replayed = third_party(a, keys, jti="once")
        assert authenticate(client, a, code_value=replayed, **ORIGIN).status_code == 200
        refused(client, a, replayed, 401, "jti replayed")
        refused(client, a, third_party(a, keys, keyID="k-unknown"), 401, "unknown keyID")
        unsigned = jwt.encode({"userID": "alice", "appID": a["appID"], "keyID": "k-ec"}, None, algorithm="none")
        refused(client, a, unsigned, 401, "alg 'none'")
        public_pem = keys["ec"][2].encode()
        confused = _hs256_with_key(public_pem, {"userID": "alice", "appID": a["appID"], "keyID": "k-ec",
                                                "iat": now, "exp": now + 300})
        refused(client, a, confused, 401, "bad signature")
        refused(client, a, third_party(a, keys, exp=None), 401, "missing claim exp")
        refused(client, a, third_party(a, keys, userID=None), 401, "missing claim userID")
        refused(client, a, third_party(a, keys, userID="mallory"), 401, "userID does not match")
        refused(client, a, code(a), 403, "origin https://evil.example", Origin="https://evil.example")


def _hs256_with_key(secret: bytes, claims: dict) -> str:
    """HS256 "signed" with the app's public key: pyjwt refuses to make it, so build it by hand."""
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(claims).encode())
    return (head + b"." + b64(hmac.new(secret, head, hashlib.sha256).digest())).decode()


def test_one_apps_token_neither_writes_nor_reads_another(collector, apps):
    a, b = apps
    with collector.client() as client:
        token_a = bearer(client, a)
        token_b = bearer(client, b)
        conference, uc_b = join(client, b, token_b)
        assert client.post(f"/v1/apps/{b['appID']}/conferences/x", headers=token_a, json=body()).status_code == 403
        assert client.post(f"/v1/apps/{a['appID']}/conferences/{conference}/{uc_b}/events/user/alive",
                           headers=token_a, json=body()).status_code == 403  # B's ucID under A's path
        assert client.get(f"/v1/apps/{b['appID']}/conferences", headers=reader(a)).status_code == 403
        assert client.get(f"/v1/apps/{b['appID']}/conferences", headers=token_a).status_code == 401
        assert client.get(f"/v1/apps/{b['appID']}/conferences", headers=reader(b)).status_code == 200
        no_token = client.post(f"/v1/apps/{b['appID']}/conferences/x", json=body())
        assert no_token.status_code == 401
        expired = jwt.encode({"appID": int(b["appID"]), "exp": int(time.time()) - 10}, "x" * 40, algorithm="HS256")
        assert client.post(f"/v1/apps/{b['appID']}/conferences/x", json=body(),
                           headers={"Authorization": f"Bearer {expired}"}).status_code == 401
