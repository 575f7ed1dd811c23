"""What must be in place before an item can go: an access token (/authenticate), the clock offset
(/clockSync, 5 samples), and for each conference the join's ucID, which the later paths carry.

A token about to expire is renewed before it is used; after a 401 a new one is fetched (forceNew
for a token generator). What came with the token is kept: its claims (submission interval,
collectSDP, ingestedEvents), TURN servers for the pre-call test, and the collector's own URLs.
"""

import json
from typing import Callable, Optional
from urllib.parse import quote, urlencode

from . import auth

CLOCK_SAMPLES = 5
RENEW_BEFORE_S = 60  # renew the access token this long before it expires
GRANT_TYPE = "authorization_code"
TOKEN_TYPE = "bearer"  # exactly: the deployed client checks it
# csError status -> the message csInitCallback gets. The loader words its first handshake with
# these too (build.py puts them in its META), so the page hears the same whoever ran it.
OUTCOMES = {
    "success": "authentication successful",
    "httpError": "the collector could not be reached",
    "authError": "authentication failed ({status})",  # when the collector gave no error_description
    "tokenGenerationError": "token generator failed: {error}",
}


def form(user_id: str, app_id: str, code: str) -> str:
    """/authenticate's form body. web/handshake.js makes the same bytes (tests/unit/test_handshake_js.py)."""
    return urlencode({"grant_type": GRANT_TYPE, "client_id": f"{quote(user_id, safe='')}@{app_id}", "code": code})


class Handshake:
    def __init__(self, port, app_id: str, user_id: str, urls, get_code: Callable,
                 on_auth: Callable[[str, str, bool], None], request: Callable):
        """get_code: async (force_new) -> the code to authenticate with; on_auth: (csError status,
        message, told: whether the loader told the page already) after each attempt; request: the
        transport's (method, url, headers, body)."""
        self.port = port
        self.app_id, self.user_id, self.urls = app_id, user_id, urls
        self.get_code, self.on_auth, self.request = get_code, on_auth, request
        self.token: Optional[str] = None
        self.claims: dict = {}
        self.ice_servers: list = []  # TURN servers with credentials, from the token response
        self.clock_offset: Optional[float] = None
        self.uc_ids: dict[tuple, str] = {}  # target (origin, conference) -> ucID
        self.force_new = False
        self.asked_early = False  # whether the loader's first handshake was looked for

    def needs_token(self, now_ms: float) -> bool:
        return self.token is None or self._expiring(now_ms)

    def forget_token(self) -> None:
        """The collector refused it (401): a new one, and a new code for it."""
        self.token, self.force_new = None, True

    def headers(self) -> dict:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}

    def _expiring(self, now_ms: float) -> bool:
        expires, issued = self.claims.get("exp"), self.claims.get("iat")
        if not isinstance(expires, (int, float)):
            return False
        margin = min(RENEW_BEFORE_S, (expires - issued) / 2) if isinstance(issued, (int, float)) else RENEW_BEFORE_S
        return now_ms / 1000 > expires - margin

    async def authenticate(self) -> bool:
        """False: the collector could not be reached, or refused (back off). The first time, the
        answer may be the loader's: it ran this handshake while Python was starting (and told the
        page's csInitCallback already)."""
        if not self.asked_early:
            self.asked_early = True
            early = await self.port.early_handshake()
            if early is not None:
                return self._outcome(early.get("status"), early.get("text") or "", early.get("error"), told=True)
        if self.token is not None:  # renewing: a generator's earlier token was used already
            self.force_new = True
        try:
            code = await self.get_code(self.force_new)
        except Exception as exc:
            return self._outcome(None, "", str(exc))
        answer = await self.request("POST", self.urls.auth + "authenticate",
                                    {"Content-Type": "application/x-www-form-urlencoded"}, form(self.user_id, self.app_id, code))
        status, text = (None, "") if answer is None else (answer[0], answer[2])
        return self._outcome(status, text)

    def _outcome(self, status: Optional[int], text: str, generator_error: Optional[str] = None,
                 told: bool = False) -> bool:
        """What /authenticate's answer means (the loader reads it by the same rules, from META)."""
        if generator_error is not None:
            self.on_auth("tokenGenerationError", OUTCOMES["tokenGenerationError"].format(error=generator_error), told)
            return False
        if status is None or status >= 500:
            self.on_auth("httpError", OUTCOMES["httpError"], told)
            return False
        data = answer_fields(text)
        if status != 200 or data.get("token_type") != TOKEN_TYPE:
            self.forget_token()
            self.on_auth("authError", data.get("error_description") or OUTCOMES["authError"].format(status=status), told)
            return False
        self._took(data)
        self.on_auth("success", OUTCOMES["success"], told)
        return True

    def _took(self, data: dict) -> None:
        self.token, self.force_new = data["access_token"], False
        self.claims = auth.token_claims(self.token)
        servers = data.get("iceServers") or data.get("turnServers")
        self.ice_servers = servers if isinstance(servers, list) else []
        urls = (data.get("metadata") or {}).get("urls") or {}
        self.urls.events = urls.get("events") or self.urls.events
        self.urls.stats = urls.get("stats") or self.urls.stats

    async def sync_clock(self) -> bool:
        offsets = []
        for _ in range(CLOCK_SAMPLES):
            sent = self.port.now()
            answer = await self.request("GET", self.urls.collector + "clockSync", {}, None)
            if answer is None or answer[0] != 200:
                return False
            received = self.port.now()
            server_now = answer_fields(answer[2]).get("now")
            if not isinstance(server_now, (int, float)):
                return False
            offsets.append(server_now + (received - sent) / 2 - received)
        self.clock_offset = sum(offsets) / len(offsets)
        return True

    def joined(self, target: tuple, status: Optional[int], text: str) -> bool:
        """What the join's answer says: True when it gave the target's ucID."""
        uc_id = answer_fields(text).get("ucID") if status == 200 else None
        if uc_id:
            self.uc_ids[target] = uc_id
            return True
        if status == 401:
            self.forget_token()
        return False


def answer_fields(text: str) -> dict:
    """A collector's answer as a JSON object ({} when it is not one)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}
