"""A fake browser port: a manual clock, recorded callbacks, pcs whose events the test drives."""

import asyncio

from ..servers import run_async



class FakePort:
    """Background work (spawn) is kept until the test drives it with run(); sleep advances the fake
    clock instead of waiting; requests go to `collector`, a function the test sets."""

    def __init__(self, start_ms: float = 1_700_000_000_000.0, background: bool = False):
        self.background = background  # False: background work is dropped (tests of the API alone)
        self.spawned = []
        self.requests = []  # (method, url, headers, body)
        self.collector = lambda method, url, headers, body: None  # -> (status, headers, text) | None
        self.reports = {}  # pc id -> list of JSON reports, one per poll
        self.clock = start_ms
        self.called = []  # (fn, args) given to call_soon, in order
        self.logged = []
        self.pcs = {}  # id -> {"initial": states, "backlog": [events]}
        self.sinks = {}
        self.storage = {}  # localStorage
        self.frame_sinks = {}  # video element id -> sink
        self.buffer = 1 << 20
        self.poll_clock = (None, [], None)  # what poll_every was last given: (ms, pc ids, sink)
        self.poll_set_at, self.poll_ticks = start_ms, 0  # when it was given, polls since
        self.probes = []  # the options of each pre-call probe asked for
        self.probe_answer = lambda options: {"connected": False, "trips": [], "relayCandidates": 0}
        self.probe_stops = []
        self.handover_changes = 0  # handover_changed() calls
        self.early = None  # what early_handshake() gives, once (the loader's first handshake)
        self.device = {}  # what each poll brings besides the reports (battery, Wi-Fi)

    # -- the Port protocol --
    def now(self) -> float:
        return self.clock

    def clock_ms(self) -> float:
        return self.clock

    def call_soon(self, fn, *args) -> None:
        self.called.append((fn, args))

    def watch_pc(self, pc_id, sink):
        self.sinks[pc_id] = sink
        return self.pcs.pop(pc_id, {"initial": dict(NEW_PC), "backlog": []})

    def watch_first_frame(self, tag_id, sink) -> None:
        self.frame_sinks[tag_id] = sink

    def log(self, level, text) -> None:
        self.logged.append((level, text))

    def spawn(self, coroutine) -> None:
        if not self.background:
            coroutine.close()
            return
        self.spawned.append(coroutine)

    async def sleep(self, ms: float) -> None:
        end = self.clock + ms
        while self.poll_clock[0] and self.poll_set_at + (self.poll_ticks + 1) * self.poll_clock[0] <= end:
            self.poll()  # the page's poll clock runs meanwhile
        self.clock = end
        await asyncio.sleep(0)

    async def request(self, method, url, headers, body, keepalive=False):
        self.requests.append((method, url, headers, body))
        return self.collector(method, url, headers, body)

    async def get_stats(self, pc_ids):
        return {pc_id: self._next_report(pc_id) for pc_id in pc_ids}

    def poll_every(self, ms, pc_ids, sink) -> None:
        self.poll_clock = (ms, list(pc_ids), sink)
        self.poll_set_at, self.poll_ticks = self.clock, 0

    def _next_report(self, pc_id):
        reports = self.reports.get(pc_id) or [None]
        return reports.pop(0) if len(reports) > 1 else reports[0]

    async def probe(self, options):
        self.probes.append(options)
        await asyncio.sleep(0)
        return self.probe_answer(options)

    def stop_probe(self, reason) -> None:
        self.probe_stops.append(reason)

    async def early_handshake(self):
        early, self.early = self.early, None
        return early

    async def token_from(self, generator, force_new):
        return generator(force_new)

    def device_id(self) -> str:
        return "device-1"

    def endpoint_info(self) -> dict:
        return {"type": "browser", "buildName": "Chrome", "buildVersion": "156", "os": "Linux"}

    def buffer_bytes(self) -> int:
        return self.buffer

    def stored(self, prefix):
        return [(k, v) for k, v in self.storage.items() if k.startswith(prefix)]

    def store(self, key, value) -> None:
        if value is None:
            self.storage.pop(key, None)
        else:
            self.storage[key] = value

    def collector_url(self) -> str:
        return "https://collector.test/"

    def handover_changed(self) -> None:
        self.handover_changes += 1

    # -- test controls --
    def run(self, budget: int = 1000) -> None:
        """Drive what was spawned until it is done or has taken `budget` steps."""

        async def main():
            tasks = []
            for _ in range(budget):
                while self.spawned:
                    tasks.append(asyncio.ensure_future(self.spawned.pop(0)))
                tasks = [t for t in tasks if not t.done()]
                if not tasks:
                    return
                await asyncio.sleep(0)
            for task in tasks:
                task.cancel()

        run_async(main())

    def poll(self, took_ms: float = 0.0, early_ms: float = 0.0) -> None:
        """The loader's poll clock fires as setInterval does: every interval since it was set
        (early_ms too soon: timers may); getStats() takes took_ms; then the sink has every report."""
        ms, pc_ids, sink = self.poll_clock
        assert ms is not None, "no poll is scheduled"
        self.poll_ticks += 1
        due = self.poll_set_at + self.poll_ticks * ms - early_ms
        self.clock = max(self.clock, due) + took_ms
        sink({pc_id: self._next_report(pc_id) for pc_id in pc_ids}, due, dict(self.device))

    def pc_event(self, pc_id, kind, state, at=None) -> None:
        self.sinks[pc_id]({"t": self.clock if at is None else at, "kind": kind, "state": state})


NEW_PC = {"signalingState": "stable", "iceConnectionState": "new", "iceGatheringState": "new",
          "connectionState": "new"}
