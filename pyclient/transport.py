"""Everything that goes to the collector goes through here, in order, one request at a time.

Before the first item: an access token (/authenticate) and the clock offset (/clockSync, 5 samples).
Before a conference's first item: the join, which gives the ucID the later paths carry. Then each
item is posted with the Bearer token. On 401 the token is renewed (forceNew for a token generator)
and the item sent again; on a network error, 5xx or 429 the same item is retried after a backoff
(429: after its Retry-After); an item the collector refuses as bad (other 4xx) is dropped and
logged, so it cannot block the queue. Every item carries an itemID, so a retry is stored once.

All I/O is through the port (`request`, `sleep`, `spawn`): tested in CPython with a fake one.
"""

import json
import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import quote, urlencode

from . import auth

BACKOFF_FIRST_MS = 1000
BACKOFF_MAX_MS = 30000
CLOCK_SAMPLES = 5
KEEPALIVE_BUDGET = 64 * 1024  # what a page may have in flight with keepalive (fetch spec)


@dataclass
class Urls:
    """Where things go (SPEC part 2); each ends in "/"."""

    auth: str
    collector: str
    events: str  # the .../v1/apps/ base
    stats: str

    @classmethod
    def of(cls, base: str, proxy) -> "Urls":
        base = base if base.endswith("/") else base + "/"
        return cls(auth=proxy.authServiceURL or base, collector=proxy.collectorURL or base,
                   events=proxy.restEventURL or base + "v1/apps/", stats=proxy.restStatsURL or base + "v1/apps/")


@dataclass
class Item:
    conference_id: str
    kind: str  # "join" | "events/fabric/setup" | "stats" | ...
    body: dict
    item_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Transport:
    def __init__(self, port, app_id: str, user_id: str, urls: Urls, get_code: Callable,
                 on_auth: Callable[[str, str], None]):
        self.port = port
        self.app_id, self.user_id, self.urls = app_id, user_id, urls
        self.get_code = get_code  # async (force_new) -> code
        self.on_auth = on_auth  # (csError status, message), once per outcome change
        self.queue: deque[Item] = deque()
        self.token: Optional[str] = None
        self.claims: dict = {}
        self.clock_offset: Optional[float] = None
        self.uc_ids: dict[str, str] = {}
        self.force_new = False
        self.backoff_ms = 0.0
        self.running = False
        self.sent = 0
        self.dropped = 0

    # ---- what the rest of pyclient calls ----

    def start(self) -> None:
        """Authenticate and sync the clock now, before there is anything to send."""
        if not self.running:
            self.running = True
            self.port.spawn(self._pump())

    def send(self, conference_id: str, kind: str, body: dict) -> None:
        self.queue.append(Item(conference_id, kind, body))
        self.start()

    def now(self) -> float:
        """The page's clock, corrected to the collector's (once known)."""
        return self.port.now() + (self.clock_offset or 0.0)

    @property
    def submission_interval_ms(self) -> float:
        return float(self.claims.get("submissionInterval", 15000))

    def drain_for_unload(self, budget: int = KEEPALIVE_BUDGET) -> list[dict]:
        """The page is going away: what is queued, as requests for fetch(..., {keepalive: true}),
        one batch per conference, within the browser's 64 KB keepalive budget. Synchronous: there
        is no later. Items that cannot go (no token or ucID yet, or over budget) stay queued."""
        if self.token is None:
            return []
        batches: dict[str, list] = {}
        used, kept = 0, deque()
        for item in self.queue:
            uc_id = self.uc_ids.get(item.conference_id)
            body = self._stamped(item.body, item.item_id)
            if uc_id is None or item.kind == "join" or used + len(body) + 64 > budget - 1024:
                kept.append(item)
                continue
            used += len(body) + 64
            batches.setdefault(item.conference_id, []).append(f'{{"kind":{json.dumps(item.kind)},"body":{body}}}')
        self.queue = kept
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        return [{"url": self.urls.events + f"{self.app_id}/conferences/{quote(conference, safe='')}/"
                        f"{self.uc_ids[conference]}/batch",
                 "headers": headers, "body": '{"items":[' + ",".join(items) + "]}"}
                for conference, items in batches.items()]

    # ---- the pump ----

    async def _pump(self) -> None:
        try:
            while self.queue or self.token is None or self.clock_offset is None:
                if await self._step():
                    self.backoff_ms = 0.0
                else:
                    await self._back_off()
        finally:
            self.running = False

    async def _step(self) -> bool:
        """One step forward; False when the collector could not be reached (back off)."""
        if self.token is None:
            return await self._authenticate()
        if self.clock_offset is None:
            return await self._sync_clock()
        if not self.queue:
            return True
        item = self.queue[0]
        if item.conference_id not in self.uc_ids:
            return await self._join(item.conference_id, item.body)
        if item.kind == "join":  # joined already
            self.queue.popleft()
            return True
        status = await self._post_item(item)
        if status == 200:
            self.queue.popleft()
            self.sent += 1
            return True
        if status == 401:
            self.token, self.force_new = None, True
            return True
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            self.port.log("warn", f"collector refused {item.kind} ({status}); dropped")
            self.queue.popleft()
            self.dropped += 1
            return True
        return False

    async def _authenticate(self) -> bool:
        try:
            code = await self.get_code(self.force_new)
        except Exception as exc:
            self.on_auth("tokenGenerationError", f"token generator failed: {exc}")
            return False
        form = urlencode({"grant_type": "authorization_code", "client_id": f"{quote(self.user_id, safe='')}@{self.app_id}",
                          "code": code})
        answer = await self.port.request("POST", self.urls.auth + "authenticate",
                                         {"Content-Type": "application/x-www-form-urlencoded"}, form)
        if answer is None or answer[0] >= 500:
            self.on_auth("httpError", "the collector could not be reached")
            return False
        status, _, text = answer
        data = _json(text)
        if status != 200 or data.get("token_type") != "bearer":
            self.force_new = True
            self.on_auth("authError", data.get("error_description") or f"authentication failed ({status})")
            return False
        self.token, self.force_new = data["access_token"], False
        self.claims = auth.token_claims(self.token)
        urls = (data.get("metadata") or {}).get("urls") or {}
        self.urls.events = urls.get("events") or self.urls.events
        self.urls.stats = urls.get("stats") or self.urls.stats
        self.on_auth("success", "authentication successful")
        return True

    async def _sync_clock(self) -> bool:
        offsets = []
        for _ in range(CLOCK_SAMPLES):
            sent = self.port.now()
            answer = await self.port.request("GET", self.urls.collector + "clockSync", {}, None)
            if answer is None or answer[0] != 200:
                return False
            received = self.port.now()
            server_now = _json(answer[2]).get("now")
            if not isinstance(server_now, (int, float)):
                return False
            offsets.append(server_now + (received - sent) / 2 - received)
        self.clock_offset = sum(offsets) / len(offsets)
        return True

    async def _join(self, conference_id: str, body: dict) -> bool:
        join = next((i for i in self.queue if i.kind == "join" and i.conference_id == conference_id), None)
        payload = join.body if join else {"localID": self.user_id, "deviceID": body.get("deviceID", ""),
                                          "timestamp": self.port.now()}
        status, text = await self._post(self.urls.events + f"{self.app_id}/conferences/{quote(conference_id, safe='')}",
                                        self._stamped(payload, join.item_id if join else uuid.uuid4().hex))
        if status == 200 and _json(text).get("ucID"):
            self.uc_ids[conference_id] = _json(text)["ucID"]
            if join:
                self.queue.remove(join)
            return True
        if status == 401:
            self.token, self.force_new = None, True
            return True
        return False

    async def _post_item(self, item: Item) -> Optional[int]:
        uc_id = self.uc_ids[item.conference_id]
        base = self.urls.stats if item.kind in ("stats", "customstats") else self.urls.events
        url = base + f"{self.app_id}/conferences/{quote(item.conference_id, safe='')}/{uc_id}/{item.kind}"
        status, _ = await self._post(url, self._stamped(item.body, item.item_id))
        return status

    def _stamped(self, body: dict, item_id: str) -> str:
        # timestamps were taken on the page's clock; correct them now that the offset is known
        stamped = {**body, "timestamp": body["timestamp"] + (self.clock_offset or 0.0), "itemID": item_id}
        return json.dumps(stamped, separators=(",", ":"))

    async def _post(self, url: str, body: str) -> tuple[Optional[int], str]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        answer = await self.port.request("POST", url, headers, body)
        if answer is None:
            return None, ""
        status, response_headers, text = answer
        if status == 429:
            retry = response_headers.get("retry-after", "")
            self.backoff_ms = max(self.backoff_ms, float(retry) * 1000 if retry.isdigit() else BACKOFF_FIRST_MS)
        return status, text

    async def _back_off(self) -> None:
        """Exponential, with full jitter; a Retry-After the collector gave is waited in full."""
        ceiling = min(BACKOFF_MAX_MS, max(BACKOFF_FIRST_MS, self.backoff_ms * 2))
        wait = max(self.backoff_ms, random.uniform(0, ceiling))
        self.backoff_ms = ceiling
        await self.port.sleep(wait)


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}
