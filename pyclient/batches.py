"""How queued items go on the wire: each body encoded (its timestamp on the collector's clock, its
itemID, a stats sample as a delta against the one before it), one item on its kind's path (the
deployed wire format), several of one conference together on .../batch."""

import json
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

from callwire import deltas

from .buffer import STATS_KINDS, Item

BATCH_BYTES = 256 * 1024  # one request's body, well under the collector's 1 MiB limit
BATCH_ITEMS = 200


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

    def join(self, app_id: str, conference_id: str) -> str:
        return self.events + f"{app_id}/conferences/{quote(conference_id, safe='')}"

    def item(self, app_id: str, conference_id: str, uc_id: str, kind: str) -> str:
        """An item's path ("batch" for several)."""
        base = self.stats if kind in STATS_KINDS else self.events
        return base + f"{app_id}/conferences/{quote(conference_id, safe='')}/{uc_id}/{kind}"


def encode(item: Item, base: Optional[dict], clock_offset: Optional[float]) -> str:
    """The item's body as it goes; base: the sample a stats item is a delta of (None: whole)."""
    if item.text is not None:
        return item.text
    # timestamps were taken on the page's clock; correct them now that the offset is known
    body = {**item.body, "timestamp": item.body["timestamp"] + (clock_offset or 0.0), "itemID": item.item_id}
    if item.sample is not None:
        timestamp = deltas.common_timestamp(item.sample)
        body.update(stats=deltas.diff(base, item.sample, timestamp), delta=base is not None, statsTimestamp=timestamp)
    return json.dumps(body, separators=(",", ":"))


def encode_all(items: list[Item], acked: dict, clock_offset: Optional[float]) -> list[tuple[Item, str]]:
    """Every item encoded, each stats sample a delta of the one before it in `items` (or of what
    the collector acknowledged)."""
    bases = dict(acked)
    out = []
    for item in items:
        out.append((item, encode(item, bases.get(item.stream), clock_offset)))
        if item.sample is not None:
            bases[item.stream] = item.sample
    return out


def next_batch(queued: list[Item], target: tuple, acked: dict,
               clock_offset: Optional[float]) -> tuple[list[Item], list[str]]:
    """The target's ready items, in queue order, up to BATCH_BYTES / BATCH_ITEMS."""
    items, texts, size = [], [], 0
    bases: dict = {}
    for item in queued:
        if item.target != target or item.kind == "join":
            continue
        text = encode(item, bases.get(item.stream, acked.get(item.stream)), clock_offset)
        if items and (size + len(text) > BATCH_BYTES or len(items) >= BATCH_ITEMS):
            break
        items.append(item)
        texts.append(text)
        size += len(text)
        if item.sample is not None:
            bases[item.stream] = item.sample
    return items, texts


def batch_body(items: list[tuple[str, str]]) -> str:
    """{"items": [{"kind", "body"}, ...]} from (kind, encoded body) pairs."""
    return '{"items":[' + ",".join(f'{{"kind":{json.dumps(kind)},"body":{text}}}' for kind, text in items) + "]}"
