"""Everything that goes to the collector goes through here: one send queue per page, one request at
a time, nothing lost.

The transport is the pump; each of its jobs is a module of its own:
- pyclient.buffer: the queue, bounded in bytes, and which stats samples go when it is full;
- pyclient.handshake: the token, the clock offset and the joins every item needs first;
- pyclient.batches: what goes in one request, encoded (stats as deltas);
- pyclient.backoff: how long to wait after a failure;
- pyclient.handover: what the page sends and keeps for the next page when it goes away.

Answers: network error, 5xx, 408, 429: the same items again after the backoff (429: not before its
Retry-After). 401: a new token, then again. Other 4xx: the item the collector names as bad is
dropped and logged (it would block the queue for ever), the rest go on. Every item carries an
itemID, so a retry the collector already stored is stored once. What the buffer dropped is reported
as an `events/app/logs` warning (eventType "statsDropped") once the collector answers again.

All I/O is through the port (`request`, `sleep`, `spawn`): tested in CPython with a fake one.
"""

import re
import uuid
from typing import Callable, Optional

from . import batches, events, handover
from .backoff import Backoff
from .batches import Urls
from .buffer import BUFFER_BYTES, Buffer, Item, new_item, stable_id
from .handshake import Handshake, answer_fields
from .storage import KEYS


class Transport:
    def __init__(self, port, app_id: str, user_id: str, urls: Urls, get_code: Callable,
                 on_auth: Callable[[str, str, bool], None], buffer_bytes: int = BUFFER_BYTES):
        """get_code: async (force_new) -> a code for /authenticate; on_auth: (csError status, message,
        told: the loader told the page already)."""
        self.port = port
        self.app_id, self.user_id, self.urls = app_id, user_id, urls
        self.buffer = Buffer(buffer_bytes)
        self.handshake = Handshake(port, app_id, user_id, urls, get_code, on_auth, self._request)
        self.backoff = Backoff()
        self.acked: dict[tuple, dict] = {}  # stream -> the last sample the collector stored
        self.running = False
        self.tally: dict[str, int] = {}  # kind -> items queued (what the collector should end up with)
        self.requests = 0
        self.sent = 0
        self.dropped = 0  # refused by the collector as bad
        self.page_key = f"{KEYS['unsent']}{app_id}.{uuid.uuid4().hex}"  # this page's record for the next one

    # ---- what the rest of pyclient calls ----

    def start(self) -> None:
        """Authenticate and sync the clock now, before there is anything to send."""
        if not self.running:
            self.running = True
            self.port.spawn(self._pump())

    def renew(self) -> None:
        """Authenticate again now (what came with the token, e.g. TURN credentials, ran out)."""
        self.handshake.token = None
        self.start()

    def send(self, conference_id: str, kind: str, body: dict, sample: Optional[dict] = None,
             size: Optional[int] = None, origin: str = "", item_id: Optional[str] = None) -> None:
        """Queue an item. A stats sample comes whole, with its size (the report's JSON length);
        origin: "" for this page, else the earlier page the item is replayed from; item_id: a
        stable one, for an item that may also have gone out in a farewell (see `unload`)."""
        item = new_item(conference_id, kind, body, sample, size, origin, item_id)
        self.buffer.add(item)
        self.tally[kind] = self.tally.get(kind, 0) + 1
        self.start()

    def now(self) -> float:
        """The page's clock, corrected to the collector's (once known)."""
        return self.port.now() + (self.handshake.clock_offset or 0.0)

    def claim(self, name: str, default=None):
        """A claim of the current access token (what the collector says the client should do)."""
        return self.handshake.claims.get(name, default)

    @property
    def authenticated(self) -> bool:
        return self.handshake.token is not None

    @property
    def ice_servers(self) -> list:
        """TURN servers with credentials, from the last token (the pre-call test's)."""
        return self.handshake.ice_servers

    @property
    def submission_interval_ms(self) -> float:
        return float(self.claim("submissionInterval", 15000))

    @property
    def collector_url(self) -> str:
        return self.urls.collector

    def acknowledged(self, conference_id: str, connection_id: str) -> Optional[dict]:
        """The newest sample of this page's stream that the collector has stored."""
        return self.acked.get(("", conference_id, connection_id))

    def pending(self) -> list[Item]:
        """What is queued, in the order it goes."""
        return self.buffer.items()

    def snapshot(self) -> dict:
        """Counts for `inspect` (tests and the demo's debug panel)."""
        return {"queued": len(self.buffer), "bufferedBytes": self.buffer.bytes, "requests": self.requests,
                "sent": self.sent, "queuedByKind": dict(self.tally), "dropped": self.dropped,
                "droppedSamples": self.buffer.dropped_samples, "authenticated": self.authenticated}

    # ---- the page goes away, the next one takes over ----

    def unload(self, leaving: tuple = (), keep: bool = False) -> handover.Unload:
        """Everything queued, and the items `leaving` lists (send() arguments), now, as keepalive
        requests and as a record for the next page (pyclient.handover). Synchronous: there is no
        later. The queue is empty afterwards, unless `keep`: then this is a farewell, what a goodbye
        would send now, and nothing changes."""
        gaps = self.buffer.gaps if keep else self.buffer.take_gaps()
        extra = [new_item(**args) for args in [*leaving, *self._gap_reports(gaps)]]
        if not keep:
            self.tally.update({i.kind: self.tally.get(i.kind, 0) + 1 for i in extra})
        events_first = [*self.buffer.events, *(i for i in extra if i.sample is None)]
        samples = [*self.buffer.samples, *(i for i in extra if i.sample is not None)]
        encoded = batches.encode_all([*events_first, *samples], self.acked, self.handshake.clock_offset)
        requests, carried = self._keepalive(encoded)
        if not keep:
            self.buffer.clear()
        if not encoded:
            return handover.NOTHING
        text = handover.record(self.app_id, self.user_id, self.port.now(), encoded, self.handshake.uc_ids)
        return handover.Unload(requests, self.page_key, text, carried == len(encoded))

    def _keepalive(self, encoded: list) -> tuple[list[dict], int]:
        if not self.authenticated:
            return [], 0
        uc_ids = self.handshake.uc_ids
        return handover.keepalive_requests(
            encoded, uc_ids, lambda target: self.urls.item(self.app_id, target[1], uc_ids[target], "batch"),
            self.handshake.headers())

    def adopt_stored(self) -> None:
        """Queue what earlier pages of this origin left (same app and user); their records go."""
        for key, text in self.port.stored(f"{KEYS['unsent']}{self.app_id}."):
            if self.adopt(key, text):
                self.port.store(key, None)

    def adopt(self, key: str, text: str) -> int:
        """Queue an earlier page's record (from `unload`) if it is this app's and user's; how many
        items it held (0: not ours, or unreadable)."""
        found = handover.read(key, text, self.app_id, self.user_id)
        if found is None:
            return 0
        items, uc_ids = found
        self.handshake.uc_ids.update(uc_ids)
        for item in items:
            self.buffer.adopt(item)
        self.start()
        return len(items)

    # ---- the pump ----

    async def _pump(self) -> None:
        try:
            while len(self.buffer) or not self.authenticated or self.handshake.clock_offset is None:
                if await self._step():
                    self.backoff.reset()
                else:
                    await self.backoff.wait(self.port.sleep)
        finally:
            self.running = False

    async def _step(self) -> bool:
        """One step forward; False when the collector could not be reached (back off)."""
        if self.handshake.needs_token(self.now()):
            return self._handover_changed(await self.handshake.authenticate())
        if self.handshake.clock_offset is None:
            return await self.handshake.sync_clock()
        head = self.buffer.head()
        if head is None:
            return True
        if head.target not in self.handshake.uc_ids:
            return await self._join(head.target)
        if head.kind == "join":  # joined already (by an earlier page, or this join's retry)
            self.buffer.remove(head)
            return True
        return await self._send_batch(head.target)

    async def _join(self, target: tuple) -> bool:
        origin, conference_id = target
        join = next((i for i in self.buffer.events if i.kind == "join" and i.target == target), None)
        if join is None:  # the join was refused: join again with what the items say
            first = next(i for i in self.buffer.items() if i.target == target)
            join = Item(conference_id, "join", {"localID": self.user_id, "deviceID": first.body.get("deviceID", "-"),
                                                "timestamp": self.port.now()}, origin=origin)
        status, text = await self._post(self.urls.join(self.app_id, conference_id),
                                        batches.encode(join, None, self.handshake.clock_offset))
        if self.handshake.joined(target, status, text):
            self.buffer.remove(join)
            return self._handover_changed(True)
        if status == 401:
            return True
        if status is None or status >= 500 or status in (200, 408, 429):
            return False
        # refused: nothing of this conference can go (another app's, or an origin not allowed)
        self.port.log("warn", f"collector refused the join of {conference_id} ({status}: {answer_fields(text).get('msg', '')})")
        for item in [i for i in self.buffer.items() if i.target == target]:
            self.buffer.remove(item)
            self.dropped += 1
        return True

    async def _send_batch(self, target: tuple) -> bool:
        items, texts = batches.next_batch(self.buffer.items(), target, self.acked, self.handshake.clock_offset)
        uc_id = self.handshake.uc_ids[target]
        self.buffer.in_flight = items
        try:
            if len(items) == 1:
                url, body = self.urls.item(self.app_id, target[1], uc_id, items[0].kind), texts[0]
            else:
                url = self.urls.item(self.app_id, target[1], uc_id, "batch")
                body = batches.batch_body([(i.kind, t) for i, t in zip(items, texts)])
            status, text = await self._post(url, body)
        finally:
            self.buffer.in_flight = []
        return self._settle(items, status, text)

    def _settle(self, items: list[Item], status: Optional[int], text: str) -> bool:
        """What the answer to these items means for the queue; False: back off and retry."""
        if status == 200:
            for item in items:
                if item.sample is not None:
                    self.acked[item.stream] = item.sample
                self.buffer.remove(item)
            self.sent += len(items)
            self._report_gaps()
            return True
        if status == 401:
            self.handshake.forget_token()
            return True
        if status == 404 and items[0].target in self.handshake.uc_ids:  # the collector forgot the ucID: join again
            del self.handshake.uc_ids[items[0].target]
            return True
        if status is None or status >= 500 or status in (408, 429):
            return False
        self._drop_refused(items, status, text)
        return True

    def _drop_refused(self, items: list[Item], status: int, text: str) -> None:
        """The collector refused these as bad: drop the one it names (items.N...) or else all."""
        msg = str(answer_fields(text).get("msg", ""))
        found = re.match(r"items\.(\d+)\.", msg)
        bad = [items[int(found.group(1))]] if found and int(found.group(1)) < len(items) else items
        for item in bad:
            self.port.log("warn", f"collector refused {item.kind} ({status}: {msg}); dropped")
            self.buffer.remove(item)
            self.dropped += 1

    def _report_gaps(self) -> None:
        for report in self._gap_reports(self.buffer.take_gaps()):
            self.send(**report)

    def _gap_reports(self, gaps: dict) -> list[dict]:
        """send() arguments of one statsDropped warning per stream that lost samples. The itemID
        is stable: a farewell and the goodbye after it report the same gap once."""
        reports = []
        for stream, gap in gaps.items():
            kind, body = events.stats_dropped(gap["body"], self.port.now(), gap["count"], gap["from"], gap["to"])
            reports.append({"conference_id": stream[1], "kind": kind, "body": body,
                            "item_id": stable_id(self.page_key, stream, gap["from"], gap["count"])})
        return reports

    def _handover_changed(self, changed: bool) -> bool:
        """A token or a ucID came: the goodbye can now carry requests it could not before."""
        if changed:
            self.port.handover_changed()
        return changed

    # ---- requests ----

    async def _request(self, method: str, url: str, headers: dict, body):
        self.requests += 1
        return await self.port.request(method, url, headers, body)

    async def _post(self, url: str, body: str) -> tuple[Optional[int], str]:
        answer = await self._request("POST", url, self.handshake.headers(), body)
        if answer is None:
            return None, ""
        status, response_headers, text = answer
        if status == 429:
            self.backoff.retry_after(response_headers)
        return status, text
