"""TURN for the pre-call test: short-lived credentials in coturn's REST-API scheme.

The token response carries them (`iceServers`), so no long-lived TURN password reaches a page:
coturn started with `use-auth-secret` and `static-auth-secret=S` accepts the username
`<expiry unix seconds>:<userID>` with the password base64(HMAC-SHA1(S, username)) until expiry.
"""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

TRANSPORTS = ("udp", "tcp")  # the pre-call test tries UDP first, then TCP


@dataclass(frozen=True)
class Turn:
    url: str  # turn:host:port, or turns:..., or with ?transport=udp|tcp to offer only that one
    secret: str

    def urls(self) -> list[str]:
        if "?" in self.url or self.url.startswith("turns:"):
            return [self.url]
        return [f"{self.url}?transport={transport}" for transport in TRANSPORTS]


def parse_url(url: str) -> str:
    """The --turn-url, checked: turn:host:port or turns:host:port (ValueError says what is wrong)."""
    scheme, _, rest = url.partition(":")
    if scheme not in ("turn", "turns") or not rest:
        raise ValueError(f"{url!r} is not turn:host:port or turns:host:port")
    host_port = rest.split("?", 1)[0]
    if not urlsplit("//" + host_port).hostname:
        raise ValueError(f"{url!r} has no host")
    return url


def credentials(turn: Turn, user_id: str, ttl_s: int, now: Optional[float] = None) -> dict:
    """An RTCIceServer the browser can use until now + ttl_s."""
    expiry = int(time.time() if now is None else now) + ttl_s
    username = f"{expiry}:{user_id}"
    digest = hmac.new(turn.secret.encode(), username.encode(), hashlib.sha1).digest()
    return {"urls": turn.urls(), "username": username, "credential": base64.b64encode(digest).decode()}
