"""Everything that goes to the collector goes through here: one send queue per page, one request at
a time, nothing lost.

Before the first item: an access token (/authenticate) and the clock offset (/clockSync, 5 samples).
Before a conference's first item: the join, which gives the ucID the later paths carry. Then what is
ready goes out, events before stats: one item on its kind's path (the deployed wire format), several
of the same conference together on .../batch.

- Network error, 5xx, 408, 429: the same items again after an exponential backoff with full jitter
  (429: not before its Retry-After). 401: a new token (forceNew for a token generator), then again;
  a token about to expire is renewed before it is used. Other 4xx: the item the collector names as
  bad is dropped and logged (it would block the queue for ever), the rest go on.
- Every item carries an itemID, so a retry the collector already stored is stored once.
- The buffer is bounded in bytes. Stats samples are kept whole and turned into deltas only when
  sent, against the last sample the collector acknowledged; so dropping a sample (oldest first, when
  the buffer is full) merges its changes into the next one. Events are never dropped. What was
  dropped is reported as an `events/app/logs` warning (eventType "statsDropped") once the collector
  answers again, so the gap is known.
- When the page goes away (`unload`), what is queued goes as keepalive requests within the 64 KB
  budget, and all of it is also kept in localStorage: whether keepalive requests arrive is not
  known, and itemIDs make a second delivery harmless. The next page of the same origin that
  initializes as the same app and user sends what it finds there (`adopt`).

All I/O is through the port (`request`, `sleep`, `spawn`): tested in CPython with a fake one.
"""

import json
import random
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import quote, urlencode

from . import auth, stats

BACKOFF_FIRST_MS = 1000
BACKOFF_MAX_MS = 30000
CLOCK_SAMPLES = 5
KEEPALIVE_BUDGET = 64 * 1024  # what a page may have in flight with keepalive (fetch spec)
BUFFER_BYTES = 1 << 20  # default bound of what waits in memory (the loader's data-buffer-bytes)
BATCH_BYTES = 256 * 1024  # one request's body, well under the collector's 1 MiB limit
BATCH_ITEMS = 200
RENEW_BEFORE_S = 60  # renew the access token this long before it expires
STORE_PREFIX = "callstats.unsent."  # localStorage keys: STORE_PREFIX + appID + "." + a random id
STATS_KINDS = ("stats", "customstats")


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


@dataclass(eq=False)
class Item:
    conference_id: str
    kind: str  # "join" | "events/fabric/setup" | "stats" | ...
    body: dict  # timestamps on the page's clock; a stats sample's entries are in `sample`
    sample: Optional[dict] = None  # stats: the whole getStats sample, made a delta when sent
    size: int = 0  # what it holds of the buffer, in bytes
    item_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    origin: str = ""  # "" for this page; an earlier page's storage key for items adopted from it
    text: Optional[str] = None  # an earlier page's item: its body as it was encoded then

    @property
    def target(self) -> tuple[str, str]:
        """Items of one target share a join (and so a ucID)."""
        return self.origin, self.conference_id

    @property
    def stream(self) -> tuple[str, str, str]:
        """Stats of one stream are deltas of each other."""
        return self.origin, self.conference_id, self.body.get("connectionID") or ""


@dataclass
class Unload:
    requests: list[dict]  # for fetch(..., {keepalive: true})
    key: Optional[str]  # where the record goes in localStorage
    record: Optional[str]  # all of it, for the next page (None: nothing was queued)
    complete: bool  # the requests carry all of it: once each answered 200, the record can go


class Transport:
    def __init__(self, port, app_id: str, user_id: str, urls: Urls, get_code: Callable,
                 on_auth: Callable[[str, str], None], buffer_bytes: int = BUFFER_BYTES):
        self.port = port
        self.app_id, self.user_id, self.urls = app_id, user_id, urls
        self.get_code = get_code  # async (force_new) -> code
        self.on_auth = on_auth  # (csError status, message), once per outcome change
        self.buffer_bytes = buffer_bytes
        self.events: deque[Item] = deque()
        self.samples: deque[Item] = deque()
        self.buffered = 0  # bytes held by events and samples
        self.in_flight: list[Item] = []
        self.acked: dict[tuple, dict] = {}  # stream -> the last sample the collector stored
        self.gaps: dict[tuple, dict] = {}  # stream -> what was dropped, until reported
        self.token: Optional[str] = None
        self.claims: dict = {}
        self.ice_servers: list = []  # TURN servers with credentials, from the token response (pre-call test)
        self.clock_offset: Optional[float] = None
        self.uc_ids: dict[tuple, str] = {}  # target -> ucID
        self.force_new = False
        self.backoff_ms = 0.0
        self.running = False
        self.tally: dict[str, int] = {}  # kind -> items queued (what the collector should end up with)
        self.requests = 0
        self.sent = 0
        self.dropped = 0  # refused by the collector as bad
        self.dropped_samples = 0  # dropped because the buffer was full
        self.unload_key = f"{STORE_PREFIX}{app_id}.{uuid.uuid4().hex}"  # this page's record for the next one

    # ---- what the rest of pyclient calls ----

    def start(self) -> None:
        """Authenticate and sync the clock now, before there is anything to send."""
        if not self.running:
            self.running = True
            self.port.spawn(self._pump())

    def renew(self) -> None:
        """Authenticate again now (what came with the token, e.g. TURN credentials, ran out)."""
        self.token = None
        self.start()

    def send(self, conference_id: str, kind: str, body: dict, sample: Optional[dict] = None,
             size: Optional[int] = None, origin: str = "", item_id: Optional[str] = None) -> None:
        """Queue an item. A stats sample comes whole, with its size (the report's JSON length);
        origin: "" for this page, else the earlier page the item is replayed from; item_id: a
        stable one, for an item that may also have gone out in a farewell (see `unload`)."""
        item = _item(conference_id, kind, body, sample, size, origin, item_id)
        (self.samples if sample is not None else self.events).append(item)
        self.buffered += item.size
        self.tally[kind] = self.tally.get(kind, 0) + 1
        self._bound()
        self.start()

    def now(self) -> float:
        """The page's clock, corrected to the collector's (once known)."""
        return self.port.now() + (self.clock_offset or 0.0)

    @property
    def submission_interval_ms(self) -> float:
        return float(self.claims.get("submissionInterval", 15000))

    @property
    def queued(self) -> int:
        return len(self.events) + len(self.samples)

    def acknowledged(self, conference_id: str, connection_id: str) -> Optional[dict]:
        """The newest sample of this page's stream that the collector has stored."""
        return self.acked.get(("", conference_id, connection_id))

    # ---- the bound ----

    def _bound(self) -> None:
        """Over the bound: drop stats samples, oldest first (never events, nor what is in flight, nor
        an earlier page's already-encoded deltas). The next sample of the stream covers the change."""
        while self.buffered > self.buffer_bytes:
            oldest = next((i for i in self.samples if i.text is None and i not in self.in_flight), None)
            if oldest is None:
                return
            self._remove(oldest)
            self.dropped_samples += 1
            gap = self.gaps.setdefault(oldest.stream, {"count": 0, "from": oldest.body["timestamp"],
                                                       "body": oldest.body})
            gap["count"] += 1
            gap["to"] = oldest.body["timestamp"]

    def _report_gaps(self) -> None:
        for gap in self._gap_reports():
            self.send(**gap)
        self.gaps = {}

    def _gap_reports(self) -> list[dict]:
        """send() arguments of one statsDropped warning per stream that lost samples. The itemID
        is stable: a farewell and the goodbye after it report the same gap once."""
        reports = []
        for stream, gap in self.gaps.items():
            conference_id = stream[1]
            who = {k: gap["body"][k] for k in ("localID", "deviceID", "callstatsVersion", "remoteID", "connectionID")
                   if k in gap["body"]}
            message = {"droppedSamples": gap["count"], "from": gap["from"], "to": gap["to"],
                       "reason": "the collector was unreachable and the buffer was full"}
            reports.append({"conference_id": conference_id, "kind": "events/app/logs", "body": {
                **who, "timestamp": self.port.now(), "eventType": "statsDropped", "level": "warn",
                "messageType": "json", "message": json.dumps(message)},
                "item_id": stable_id(self.unload_key, stream, gap["from"], gap["count"])})
        return reports

    def _remove(self, item: Item) -> None:
        (self.samples if item in self.samples else self.events).remove(item)
        self.buffered -= item.size

    # ---- the page goes away ----

    def unload(self, leaving: tuple = (), keep: bool = False, budget: int = KEEPALIVE_BUDGET) -> "Unload":
        """Everything queued, and the items `leaving` lists (send() arguments), now, as keepalive
        requests within the budget and as a record for the next page (one key per page).
        Synchronous: there is no later. The queue is empty afterwards, unless `keep`: then this
        is a farewell, what a goodbye would send now, and nothing changes."""
        extra = [_item(**args) for args in [*leaving, *self._gap_reports()]]
        if not keep:
            self.gaps = {}
            self.tally.update({i.kind: self.tally.get(i.kind, 0) + 1 for i in extra})
        events = [*self.events, *(i for i in extra if i.sample is None)]
        encoded = self._encode_all([*events, *self.samples, *(i for i in extra if i.sample is not None)])
        requests, carried = self._keepalive_requests(encoded, budget)
        if not keep:
            self.events.clear()
            self.samples.clear()
            self.buffered = 0
        if not encoded:
            return Unload([], None, None, True)
        record = {"app": self.app_id, "user": self.user_id, "saved": self.port.now(),
                  "items": [{"o": item.origin, "c": item.conference_id, "u": self.uc_ids.get(item.target),
                             "k": item.kind, "b": text} for item, text in encoded]}
        return Unload(requests, self.unload_key, json.dumps(record, separators=(",", ":")), carried == len(encoded))

    def _encode_all(self, items: list[Item]) -> list[tuple[Item, str]]:
        bases = dict(self.acked)
        out = []
        for item in items:
            out.append((item, self._encode(item, bases.get(item.stream))))
            if item.sample is not None:
                bases[item.stream] = item.sample
        return out

    def _keepalive_requests(self, encoded: list, budget: int) -> tuple[list[dict], int]:
        if self.token is None:
            return [], 0
        batches: dict[tuple, list] = {}
        used, carried = 0, 0
        for item, text in encoded:
            if item.target not in self.uc_ids or item.kind == "join" or used + len(text) + 64 > budget - 1024:
                continue
            used += len(text) + 64
            carried += 1
            batches.setdefault(item.target, []).append((item.kind, text))
        return [{"url": self._url(target, "batch"), "headers": self._headers(), "body": _batch_body(items)}
                for target, items in batches.items()], carried

    def adopt(self, key: str, text: str) -> int:
        """Queue an earlier page's record (from `unload`) if it is this app's and user's; how many
        items it held (0: not ours, or unreadable)."""
        try:
            record = json.loads(text)
            if record.get("app") != self.app_id or record.get("user") != self.user_id:
                return 0
            items = [Item(str(i["c"]), str(i["k"]), {}, origin=i.get("o") or key, text=str(i["b"]), size=len(i["b"]))
                     for i in record["items"]]
            uc_ids = {(i.get("o") or key, str(i["c"])): i["u"] for i in record["items"] if i.get("u")}
        except (ValueError, TypeError, KeyError, AttributeError):
            return 0
        self.uc_ids.update(uc_ids)
        for item in items:
            (self.samples if item.kind in STATS_KINDS else self.events).append(item)
            self.buffered += item.size
        self.start()
        return len(items)

    # ---- the pump ----

    async def _pump(self) -> None:
        try:
            while self.queued or self.token is None or self.clock_offset is None:
                if await self._step():
                    self.backoff_ms = 0.0
                else:
                    await self._back_off()
        finally:
            self.running = False

    async def _step(self) -> bool:
        """One step forward; False when the collector could not be reached (back off)."""
        if self.token is None or self._expiring():
            return await self._authenticate()
        if self.clock_offset is None:
            return await self._sync_clock()
        head = self.events[0] if self.events else self.samples[0] if self.samples else None
        if head is None:
            return True
        if head.target not in self.uc_ids:
            return await self._join(head.target)
        if head.kind == "join":  # joined already (by an earlier page, or this join's retry)
            self._remove(head)
            return True
        return await self._send_batch(head.target)

    def _expiring(self) -> bool:
        expires, issued = self.claims.get("exp"), self.claims.get("iat")
        if not isinstance(expires, (int, float)):
            return False
        margin = min(RENEW_BEFORE_S, (expires - issued) / 2) if isinstance(issued, (int, float)) else RENEW_BEFORE_S
        return self.now() / 1000 > expires - margin

    async def _authenticate(self) -> bool:
        if self.token is not None:  # renewing: a generator's earlier token was used already
            self.force_new = True
        try:
            code = await self.get_code(self.force_new)
        except Exception as exc:
            self.on_auth("tokenGenerationError", f"token generator failed: {exc}")
            return False
        form = urlencode({"grant_type": "authorization_code", "client_id": f"{quote(self.user_id, safe='')}@{self.app_id}",
                          "code": code})
        answer = await self._request("POST", self.urls.auth + "authenticate",
                                     {"Content-Type": "application/x-www-form-urlencoded"}, form)
        if answer is None or answer[0] >= 500:
            self.on_auth("httpError", "the collector could not be reached")
            return False
        status, _, text = answer
        data = _json(text)
        if status != 200 or data.get("token_type") != "bearer":
            self.token, self.force_new = None, True
            self.on_auth("authError", data.get("error_description") or f"authentication failed ({status})")
            return False
        self.token, self.force_new = data["access_token"], False
        self.claims = auth.token_claims(self.token)
        servers = data.get("iceServers") or data.get("turnServers")
        self.ice_servers = servers if isinstance(servers, list) else []
        urls = (data.get("metadata") or {}).get("urls") or {}
        self.urls.events = urls.get("events") or self.urls.events
        self.urls.stats = urls.get("stats") or self.urls.stats
        self.on_auth("success", "authentication successful")
        return True

    async def _sync_clock(self) -> bool:
        offsets = []
        for _ in range(CLOCK_SAMPLES):
            sent = self.port.now()
            answer = await self._request("GET", self.urls.collector + "clockSync", {}, None)
            if answer is None or answer[0] != 200:
                return False
            received = self.port.now()
            server_now = _json(answer[2]).get("now")
            if not isinstance(server_now, (int, float)):
                return False
            offsets.append(server_now + (received - sent) / 2 - received)
        self.clock_offset = sum(offsets) / len(offsets)
        return True

    async def _join(self, target: tuple) -> bool:
        origin, conference_id = target
        join = next((i for i in self.events if i.kind == "join" and i.target == target), None)
        if join is None:  # the join was refused: join again with what the items say
            first = next(i for i in [*self.events, *self.samples] if i.target == target)
            join = Item(conference_id, "join", {"localID": self.user_id, "deviceID": first.body.get("deviceID", "-"),
                                                "timestamp": self.port.now()}, origin=origin)
        url = self.urls.events + f"{self.app_id}/conferences/{quote(conference_id, safe='')}"
        status, text = await self._post(url, self._encode(join, None))
        if status == 200 and _json(text).get("ucID"):
            self.uc_ids[target] = _json(text)["ucID"]
            if join in self.events:
                self._remove(join)
            return True
        if status == 401:
            self.token, self.force_new = None, True
            return True
        if status is None or status >= 500 or status in (200, 408, 429):
            return False
        # refused: nothing of this conference can go (another app's, or an origin not allowed)
        self.port.log("warn", f"collector refused the join of {conference_id} ({status}: {_json(text).get('msg', '')})")
        for item in [i for i in [*self.events, *self.samples] if i.target == target]:
            self._remove(item)
            self.dropped += 1
        return True

    async def _send_batch(self, target: tuple) -> bool:
        items, texts = self._next_batch(target)
        self.in_flight = items
        try:
            if len(items) == 1:
                status, text = await self._post(self._url(target, items[0].kind), texts[0])
            else:
                status, text = await self._post(self._url(target, "batch"),
                                                _batch_body([(i.kind, t) for i, t in zip(items, texts)]))
        finally:
            self.in_flight = []
        return self._settle(items, status, text)

    def _next_batch(self, target: tuple) -> tuple[list[Item], list[str]]:
        """The target's ready items, events first, up to BATCH_BYTES / BATCH_ITEMS."""
        items, texts, size = [], [], 0
        bases = {}
        for item in [*self.events, *self.samples]:
            if item.target != target or item.kind == "join":
                continue
            base = bases.get(item.stream, self.acked.get(item.stream))
            text = self._encode(item, base)
            if items and (size + len(text) > BATCH_BYTES or len(items) >= BATCH_ITEMS):
                break
            items.append(item)
            texts.append(text)
            size += len(text)
            if item.sample is not None:
                bases[item.stream] = item.sample
        return items, texts

    def _settle(self, items: list[Item], status: Optional[int], text: str) -> bool:
        """What the answer to these items means for the queue; False: back off and retry."""
        if status == 200:
            for item in items:
                if item.sample is not None:
                    self.acked[item.stream] = item.sample
                if item in self.events or item in self.samples:
                    self._remove(item)
            self.sent += len(items)
            self._report_gaps()
            return True
        if status == 401:
            self.token, self.force_new = None, True
            return True
        if status == 404 and items[0].target in self.uc_ids:  # the collector forgot the ucID: join again
            del self.uc_ids[items[0].target]
            return True
        if status is None or status >= 500 or status in (408, 429):
            return False
        self._drop_refused(items, status, text)
        return True

    def _drop_refused(self, items: list[Item], status: int, text: str) -> None:
        """The collector refused these as bad: drop the one it names (items.N...) or else all."""
        found = re.match(r"items\.(\d+)\.", str(_json(text).get("msg", "")))
        bad = [items[int(found.group(1))]] if found and int(found.group(1)) < len(items) else items
        for item in bad:
            self.port.log("warn", f"collector refused {item.kind} ({status}: {_json(text).get('msg', '')}); dropped")
            if item in self.events or item in self.samples:
                self._remove(item)
            self.dropped += 1

    # ---- encoding and requests ----

    def _encode(self, item: Item, base: Optional[dict]) -> str:
        if item.text is not None:
            return item.text
        # timestamps were taken on the page's clock; correct them now that the offset is known
        body = {**item.body, "timestamp": item.body["timestamp"] + (self.clock_offset or 0.0), "itemID": item.item_id}
        if item.sample is not None:
            timestamp = stats.common_timestamp(item.sample)
            body.update(stats=stats.diff(base, item.sample, timestamp), delta=base is not None, statsTimestamp=timestamp)
        return json.dumps(body, separators=(",", ":"))

    def _url(self, target: tuple, kind: str) -> str:
        base = self.urls.stats if kind in STATS_KINDS else self.urls.events
        return base + f"{self.app_id}/conferences/{quote(target[1], safe='')}/{self.uc_ids[target]}/{kind}"

    def _headers(self) -> dict:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}

    async def _request(self, method: str, url: str, headers: dict, body):
        self.requests += 1
        return await self.port.request(method, url, headers, body)

    async def _post(self, url: str, body: str) -> tuple[Optional[int], str]:
        answer = await self._request("POST", url, self._headers(), body)
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


def stable_id(*parts) -> str:
    """An itemID that the same parts always give: for an item that may go out twice (a farewell
    and the goodbye after it), so the collector stores it once."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(str(p) for p in parts)).hex


def _item(conference_id: str, kind: str, body: dict, sample: Optional[dict] = None, size: Optional[int] = None,
          origin: str = "", item_id: Optional[str] = None) -> Item:
    item = Item(conference_id, kind, body, sample=sample, origin=origin)
    item.size = size if size is not None else len(json.dumps(body, separators=(",", ":")))
    if item_id is not None:
        item.item_id = item_id
    return item


def _batch_body(items: list[tuple[str, str]]) -> str:
    return '{"items":[' + ",".join(f'{{"kind":{json.dumps(kind)},"body":{text}}}' for kind, text in items) + "]}"


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}
