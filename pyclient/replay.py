"""A page that closed before Python was ready: the loader kept its calls and what its pcs did
(localStorage, storage.KEYS["early"]); the next page of the same origin that initializes as the same app
and user replays them here into its own transport, then ends them as the goodbye would have.

The replay runs the same API and session code against a port that answers from the record: its
clock is each call's own time, its pcs are the recorded states and events, and nothing it starts
in the background runs (those pcs are gone). What it sends goes out under the record's key as
origin, so it joins as the member the closed page was, not as this page.
"""

import json
from typing import Callable, Optional

from pydantic import ValidationError

from .events import user_text
from .storage import KEYS, EarlyRecord


class ReplayPort:
    """The port of a page that is gone: its record, plus this page's port for what is shared."""

    def __init__(self, live, record: EarlyRecord):
        self.live = live
        self.pcs = {pc_id: pc.model_dump() for pc_id, pc in record.pcs.items()}
        self.clock = record.closedAt or live.now()

    def now(self) -> float:
        return self.clock

    def clock_ms(self) -> float:
        return self.live.clock_ms()

    def call_soon(self, fn, *args) -> None:
        pass  # the page's callbacks are gone

    def watch_pc(self, pc_id: int, sink) -> dict:
        return self.pcs.get(str(pc_id)) or {"initial": {}, "backlog": []}

    def watch_first_frame(self, tag_id: str, sink) -> None:
        pass

    def log(self, level: str, text: str) -> None:
        self.live.log(level, f"(replaying an earlier page) {text}")

    def spawn(self, coroutine) -> None:
        # Work that finishes without waiting (a setup event, whose getStats() answers None here)
        # runs now; work that would wait (polling, alive) has nothing left to do: dropped.
        try:
            coroutine.send(None)
        except StopIteration:
            return
        coroutine.close()

    async def sleep(self, ms: float) -> None:
        await self.live.sleep(ms)

    async def request(self, method, url, headers, body, keepalive=False):
        return await self.live.request(method, url, headers, body, keepalive)

    async def get_stats(self, pc_ids: list[int]) -> dict:
        return dict.fromkeys(pc_ids)

    def poll_every(self, ms, pc_ids, sink) -> None:
        pass  # an earlier page's pcs are gone: nothing to poll

    async def token_from(self, generator, force_new: bool) -> str:
        raise RuntimeError("an earlier page's token generator is gone")

    def device_id(self) -> str:
        return self.live.device_id()

    def endpoint_info(self) -> dict:
        return self.live.endpoint_info()

    def buffer_bytes(self) -> Optional[int]:
        return self.live.buffer_bytes()

    def stored(self, prefix: str) -> list:
        return []

    def store(self, key: str, value) -> None:
        pass

    def collector_url(self) -> str:
        return self.live.collector_url()

    def handover_changed(self) -> None:
        self.live.handover_changed()


# A pre-call test of a page that is gone has nothing to measure.
NOT_REPLAYED = {"makePrecallTest", "startPrecallTests", "stopPrecallTests"}


def replay_stored(session, make_api: Callable) -> None:
    """Replay every record of this app's earlier pages into `session`'s transport; a record
    replayed (or unreadable) goes. make_api(port, origin): a Callstats on that port sending through
    the session's transport under `origin` (given, so that this module needs no api of its own)."""
    for key, text in session.port.stored(f"{KEYS['early']}{session.app_id}."):
        if replay(session, key, text, make_api):
            session.port.store(key, None)


def replay(session, key: str, text: str, make_api: Callable) -> bool:
    """Replay one record if it is this app's and user's; True when it was (the record may then go)."""
    try:
        record = EarlyRecord.model_validate_json(text)
        calls = [(call.method, json.loads(call.args), call.at) for call in record.calls]
    except (ValidationError, ValueError):
        session.port.log("warn", f"an unreadable record of an earlier page was dropped ({key})")
        return True
    if record.app != session.app_id or user_text(record.user) != session.user_id:
        return False
    port = ReplayPort(session.port, record)
    closed_at = port.clock
    api = make_api(port, key)
    for method, args, at in calls:
        if method in NOT_REPLAYED:
            continue
        port.clock = at
        api.call(method, args, {}, at)
    if api.session is not None and not api.session.config.disableBeforeUnloadHandler:
        port.clock = closed_at
        api.session.leave()
    return True
