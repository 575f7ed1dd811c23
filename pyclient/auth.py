"""The code a client brings to /authenticate, and reading the access token it gets back.

Basic: the client signs the code itself with the AppSecret (HS256, claims userID, appID,
generateTurnCredentials, iat), as the deployed callstats.js does (it adds no iat; we do).
Third-party: the page's tokenGenerator(forceNew, callback) gets one from the app's server.
"""

import time
import warnings
from typing import Optional

import jwt


def basic_code(app_id: str, user_id: str, secret: str, now: Optional[float] = None) -> str:
    claims = {"userID": user_id, "appID": app_id, "generateTurnCredentials": False,
              "iat": int(time.time() if now is None else now)}
    with warnings.catch_warnings():
        # the AppSecret is whatever the app was given, short or not: not the page's console's business
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, algorithm="HS256")


def token_claims(access_token: str) -> dict:
    """The claims clients read (appID, userID, expiry, submissionInterval, collectSDP). The
    collector verifies the token; the client only reads it. An unreadable one reads as no claims."""
    try:
        return jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def user_id_text(local_user_id) -> str:
    """The wire's localID: a string id as given, an object's aliasName (as deployed clients do)."""
    if isinstance(local_user_id, str):
        return local_user_id
    return local_user_id.aliasName
