"""A fake browser port: a manual clock, recorded callbacks, pcs whose events the test drives."""


class FakePort:
    def __init__(self, start_ms: float = 1_700_000_000_000.0):
        self.clock = start_ms
        self.called = []  # (fn, args) given to call_soon, in order
        self.logged = []
        self.timers = []  # [due, fn]
        self.pcs = {}  # id -> {"initial": states, "backlog": [events]}
        self.sinks = {}

    # -- the Port protocol --
    def now(self) -> float:
        return self.clock

    def call_soon(self, fn, *args) -> None:
        self.called.append((fn, args))

    def later(self, delay_ms, fn):
        timer = [self.clock + delay_ms, fn]
        self.timers.append(timer)
        return timer

    def cancel(self, handle) -> None:
        if handle in self.timers:
            self.timers.remove(handle)

    def watch_pc(self, pc_id, sink):
        self.sinks[pc_id] = sink
        return self.pcs.pop(pc_id, {"initial": dict(NEW_PC), "backlog": []})

    def log(self, level, text) -> None:
        self.logged.append((level, text))

    # -- test controls --
    def advance(self, ms: float) -> None:
        self.clock += ms
        for timer in sorted([t for t in self.timers if t[0] <= self.clock], key=lambda t: t[0]):
            self.timers.remove(timer)
            timer[1]()

    def pc_event(self, pc_id, kind, state, at=None) -> None:
        self.sinks[pc_id]({"t": self.clock if at is None else at, "kind": kind, "state": state})


NEW_PC = {"signalingState": "stable", "iceConnectionState": "new", "iceGatheringState": "new",
          "connectionState": "new"}
