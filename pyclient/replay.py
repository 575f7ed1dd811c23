"""A page that closed before Python was ready: the loader kept its calls and what its pcs did
(localStorage, EARLY_PREFIX); the next page of the same origin that initializes as the same app
and user replays them here into its own transport, then ends them as the goodbye would have.

The replay runs the same API and session code against a port that answers from the record: its
clock is each call's own time, its pcs are the recorded states and events, and nothing it starts
in the background runs (those pcs are gone). What it sends goes out under the record's key as
origin, so it joins as the member the closed page was, not as this page.
"""

import json
from typing import Optional

from . import auth

EARLY_PREFIX = "callstats.early."  # localStorage keys: EARLY_PREFIX + AppID + "." + a random id


class ReplayPort:
    """The port of a page that is gone: its record, plus this page's port for what is shared."""

    def __init__(self, live, record: dict):
        self.live = live
        self.pcs = record.get("pcs") or {}
        self.clock = float(record.get("closedAt") or live.now())

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


# A pre-call test of a page that is gone has nothing to measure.
NOT_REPLAYED = {"makePrecallTest", "startPrecallTests", "stopPrecallTests"}


def replay(session, key: str, text: str) -> bool:
    """Replay one record into `session`'s transport if it is this app's and user's; True when it
    was (the record may then go)."""
    from .api import Callstats  # here: api imports session, which imports this module lazily

    try:
        record = json.loads(text)
        calls = [(str(c["method"]), json.loads(c["args"]), float(c["at"])) for c in record["calls"]]
        ours = str(record["app"]) == session.app_id and auth.user_id_text(record["user"]) == session.user_id
    except (ValueError, TypeError, KeyError, AttributeError):
        session.port.log("warn", f"an unreadable record of an earlier page was dropped ({key})")
        return True
    if not ours:
        return False
    port = ReplayPort(session.port, record)
    closed_at = port.clock
    api = Callstats(port, transport=session.transport, origin=key)
    for method, args, at in calls:
        if method in NOT_REPLAYED:
            continue
        port.clock = at
        api.call(method, args, {}, at)
    if api.session is not None and not api.session.config.disableBeforeUnloadHandler:
        port.clock = closed_at
        api.session.leave()
    return True
