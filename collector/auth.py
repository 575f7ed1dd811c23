"""Authentication (SPEC part 2): the code a client brings to /authenticate, and our access tokens.

A code is either signed by the client with the app's secret (HS256, as deployed callstats.js does,
with no iat/exp) or by the app's own server with a private key whose public half is registered
for the app under a key id (ES256; RS256 accepted). Each algorithm is verified only with its own
kind of key, so a token "signed" with HS256 using a public key is refused.
"""

import datetime
import time
from typing import Optional
from urllib.parse import quote, unquote

import jwt

from .turn import Turn, credentials as turn_credentials

LEEWAY_S = 5
THIRD_PARTY_ALGORITHMS = ("ES256", "RS256")
# The kinds the deployed callstats.js sends only when its token lists them (SPEC part 2): this
# collector stores them all, and the automatic pre-call test runs only when the first is listed.
INGESTED_EVENTS = (
    "precallTestResultsAutomatic", "precallTestResultsManual", "userFeedback", "sdpSubmissionEvent",
    "applicationErrorLog", "activeDeviceList", "connectedDeviceList", "dominantSpeaker", "mediaPlaybackStart",
    "mediaPlaybackSuspended", "oneWayMediaStart", "oneWayMediaStop", "circuitBreaker",
)


class AuthError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def split_client_id(client_id: str) -> tuple[str, int]:
    """'<localUserID>@<AppID>' (the user id may itself contain '@': the app id is after the last)."""
    user, _, app = client_id.rpartition("@")
    if not user or not app.isdigit() or len(app) > 18:
        raise AuthError(400, "invalid_client", "client_id must be <localUserID>@<AppID>")
    return unquote(user), int(app)


async def verify_code(store, app: dict, user_id: str, code: str) -> dict:
    """The code's claims, once its signature, times, app and user are right."""
    try:
        header = jwt.get_unverified_header(code)
    except jwt.PyJWTError:
        raise AuthError(401, "invalid_grant", "code is not a JWT")
    alg = header.get("alg")
    if alg == "HS256":
        claims = _decode(code, app["secret"], ["HS256"], required=[])
    elif alg in THIRD_PARTY_ALGORITHMS:
        claims = await _third_party(store, app, code, header)
    else:
        raise AuthError(401, "invalid_grant", f"alg {alg!r} is not accepted (HS256 with the AppSecret, or ES256/RS256)")
    if str(claims.get("appID")) != str(app["app_id"]):
        raise AuthError(403, "invalid_grant", "the code is for another app")
    if claims.get("userID") is None or unquote(str(claims["userID"])) != user_id:
        raise AuthError(401, "invalid_grant", "the code's userID does not match client_id")
    return claims


async def _third_party(store, app: dict, code: str, header: dict) -> dict:
    unverified = jwt.decode(code, options={"verify_signature": False})
    key_id = unverified.get("keyID") or unverified.get("keyId") or header.get("kid")
    if not key_id:
        raise AuthError(401, "invalid_grant", "missing keyID claim")
    public_key = await store.key(app["app_id"], str(key_id))
    if public_key is None:
        raise AuthError(401, "invalid_grant", f"unknown keyID {key_id}")
    claims = _decode(code, public_key, list(THIRD_PARTY_ALGORITHMS), required=["exp", "iat", "appID", "userID"])
    jti = claims.get("jti")
    if jti is not None and not await store.use_jti(app["app_id"], str(jti), float(claims["exp"]) + LEEWAY_S):
        raise AuthError(401, "invalid_grant", "this token was used before (jti replayed)")
    return claims


def _decode(code: str, key: str, algorithms: list[str], required: list[str]) -> dict:
    try:
        return jwt.decode(code, key, algorithms=algorithms, leeway=LEEWAY_S,
                          options={"require": required, "verify_aud": False})
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "invalid_grant", "the code has expired")
    except jwt.ImmatureSignatureError:
        raise AuthError(401, "invalid_grant", "the code is not valid yet (nbf/iat in the future)")
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(401, "invalid_grant", f"missing claim {exc.claim}")
    except jwt.InvalidSignatureError:
        raise AuthError(401, "invalid_grant", "bad signature (wrong secret or key)")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise AuthError(401, "invalid_grant", f"invalid code: {exc}")


def issue(app_id: int, user_id: str, signing_key: str, submission_interval_ms: int, lifetime_s: int,
          turn: Optional[Turn] = None, now: Optional[float] = None) -> dict:
    """The /authenticate answer. Claims are what deployed clients read: appID as a number (the
    AppID is all digits), userID URL-encoded, expiry as an ISO date-time, submissionInterval,
    ingestedEvents. With a TURN server configured, `iceServers` carries credentials for it."""
    now = time.time() if now is None else now
    expires = int(now) + lifetime_s
    claims = {
        "appID": app_id,
        "userID": quote(user_id, safe=""),
        "expiry": datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
        "submissionInterval": submission_interval_ms,
        "collectSDP": True,
        "ingestedEvents": list(INGESTED_EVENTS),
        "iat": int(now),
        "exp": expires,
    }
    token = jwt.encode(claims, signing_key, algorithm="HS256")
    answer = {"access_token": token, "token_type": "bearer", "expires_in": lifetime_s}
    if turn is not None:
        # as long as the access token: the renewed token brings fresh ones
        answer["iceServers"] = [turn_credentials(turn, user_id, lifetime_s, now)]
    return answer


def verify_access(header: Optional[str], signing_key: str) -> dict:
    if not header or not header.lower().startswith("bearer "):
        raise AuthError(401, "invalid_token", "missing Authorization: Bearer <access_token>")
    try:
        return jwt.decode(header[7:].strip(), signing_key, algorithms=["HS256"], options={"require": ["exp", "appID"]})
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "invalid_token", "Token has expired")
    except jwt.PyJWTError:
        raise AuthError(401, "invalid_token", "invalid access token")
