"""What waits to be sent: items in two queues (events first, then stats samples), bounded in bytes.

Over the bound, stats samples go, oldest first: never events, nor what is in flight, nor an
earlier page's already-encoded deltas. A sample is kept whole and made a delta only when it is
sent (pyclient.batches), against the last sample the collector acknowledged; so dropping one merges
its changes into the next. What was dropped is kept per stream (`gaps`) until it is reported.
"""

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

BUFFER_BYTES = 1 << 20  # default bound (the loader's data-buffer-bytes)
STATS_KINDS = ("stats", "customstats")


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


def new_item(conference_id: str, kind: str, body: dict, sample: Optional[dict] = None, size: Optional[int] = None,
             origin: str = "", item_id: Optional[str] = None) -> Item:
    """size: what the item holds of the buffer (a sample's report JSON length; else its body's)."""
    item = Item(conference_id, kind, body, sample=sample, origin=origin)
    item.size = size if size is not None else len(json.dumps(body, separators=(",", ":")))
    if item_id is not None:
        item.item_id = item_id
    return item


def stable_id(*parts) -> str:
    """An itemID that the same parts always give: for an item that may go out twice (a farewell
    and the goodbye after it), so the collector stores it once."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(str(p) for p in parts)).hex


class Buffer:
    def __init__(self, limit: int = BUFFER_BYTES):
        self.limit = limit
        self.events: deque[Item] = deque()
        self.samples: deque[Item] = deque()
        self.bytes = 0  # held by events and samples
        self.in_flight: list[Item] = []
        self.gaps: dict[tuple, dict] = {}  # stream -> what was dropped, until reported
        self.dropped_samples = 0  # dropped because the buffer was full

    def __len__(self) -> int:
        return len(self.events) + len(self.samples)

    def add(self, item: Item) -> None:
        """Queue an item; then drop samples while over the bound."""
        self.adopt(item)
        self._bound()

    def adopt(self, item: Item) -> None:
        """Queue an item without bounding: an earlier page's, which is kept whatever it weighs."""
        self._queue_of(item).append(item)
        self.bytes += item.size

    def remove(self, item: Item) -> None:
        if item in self.events:
            self.events.remove(item)
        elif item in self.samples:
            self.samples.remove(item)
        else:
            return
        self.bytes -= item.size

    def items(self) -> list[Item]:
        """Everything queued, in the order it goes: events, then samples."""
        return [*self.events, *self.samples]

    def head(self) -> Optional[Item]:
        return self.events[0] if self.events else self.samples[0] if self.samples else None

    def clear(self) -> None:
        self.events.clear()
        self.samples.clear()
        self.bytes = 0

    def take_gaps(self) -> dict[tuple, dict]:
        gaps, self.gaps = self.gaps, {}
        return gaps

    def _queue_of(self, item: Item) -> deque:
        """Samples: this page's stats samples, and an earlier page's stats as it encoded them."""
        earlier_stats = item.text is not None and item.kind in STATS_KINDS
        return self.samples if item.sample is not None or earlier_stats else self.events

    def _bound(self) -> None:
        while self.bytes > self.limit:
            oldest = next((i for i in self.samples if i.text is None and i not in self.in_flight), None)
            if oldest is None:
                return
            self.remove(oldest)
            self.dropped_samples += 1
            gap = self.gaps.setdefault(oldest.stream, {"count": 0, "from": oldest.body["timestamp"],
                                                       "body": oldest.body})
            gap["count"] += 1
            gap["to"] = oldest.body["timestamp"]
