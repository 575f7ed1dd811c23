"""The page goes away: what is queued goes now, as keepalive requests within the 64 KB budget, and
all of it is also kept in localStorage (an UnsentRecord under KEYS["unsent"] + AppID + "." + a
random id): whether keepalive requests arrive is not known, and itemIDs make a second delivery
harmless. The next page of the same origin that initializes as the same app and user sends what
it finds there, under the record's key as the items' origin, with the ucIDs the record kept."""

from dataclasses import dataclass
from typing import Callable, Optional

from pydantic import ValidationError

from .batches import batch_body
from .buffer import Item
from .storage import UnsentItem, UnsentRecord

KEEPALIVE_BUDGET = 64 * 1024  # what a page may have in flight with keepalive (fetch spec)


@dataclass
class Unload:
    requests: list[dict]  # for fetch(..., {keepalive: true})
    key: Optional[str]  # where the record goes in localStorage
    record: Optional[str]  # all of it, for the next page (None: nothing was queued)
    complete: bool  # the requests carry all of it: once each answered 200, the record can go


NOTHING = Unload([], None, None, True)


def record(app_id: str, user_id: str, saved: float, encoded: list[tuple[Item, str]], uc_ids: dict) -> str:
    items = [UnsentItem(o=item.origin, c=item.conference_id, u=uc_ids.get(item.target), k=item.kind, b=text)
             for item, text in encoded]
    return UnsentRecord(app=app_id, user=user_id, saved=saved, items=items).model_dump_json()


def keepalive_requests(encoded: list[tuple[Item, str]], uc_ids: dict, url_of: Callable, headers: dict,
                       budget: int = KEEPALIVE_BUDGET) -> tuple[list[dict], int]:
    """Batches of the joined targets' items, in order, within the budget; and how many items they
    carry. url_of(target): its batch URL."""
    batches: dict[tuple, list] = {}
    used, carried = 0, 0
    for item, text in encoded:
        if item.target not in uc_ids or item.kind == "join" or used + len(text) + 64 > budget - 1024:
            continue
        used += len(text) + 64
        carried += 1
        batches.setdefault(item.target, []).append((item.kind, text))
    return [{"url": url_of(target), "headers": headers, "body": batch_body(items)}
            for target, items in batches.items()], carried


def read(key: str, text: str, app_id: str, user_id: str) -> Optional[tuple[list[Item], dict]]:
    """An earlier page's record, if it is this app's and user's: its items (each with the record's
    key as origin, unless it came from a page before that one) and the ucIDs by target."""
    try:
        kept = UnsentRecord.model_validate_json(text)
    except ValidationError:
        return None
    if kept.app != app_id or kept.user != user_id:
        return None
    items = [Item(i.c, i.k, {}, origin=i.o or key, text=i.b, size=len(i.b)) for i in kept.items]
    uc_ids = {(i.o or key, i.c): i.u for i in kept.items if i.u}
    return items, uc_ids
