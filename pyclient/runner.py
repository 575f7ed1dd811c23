"""Runs the client's background coroutines (the transport's pump, a fabric's setup, user/alive)
without asyncio.

On the page, asyncio (Pyodide's webloop) moves a coroutine on through `call_soon`, a `postMessage`
task each time, and wraps every awaited promise in a Future: about ten main-thread tasks for one
upload (bench/README.md). Here a coroutine awaits what the port starts (`Waiting`) and the
promise's own reaction resumes it with one call: one microtask per awaited promise, nothing else.

Plain Python: the port gives `settle(call, resume)`, which starts the call (what `Waiting` holds,
opaque here) and calls resume(failed, value) once its promise has settled (call None: nothing to
start, resume soon, after the caller's synchronous work, as asyncio would).
"""

from typing import Any, Callable


class Waiting:
    """What a coroutine waits for: a call the port starts, whose promise settles later. Only a
    coroutine that `run` drives may await it."""

    __slots__ = ("call",)

    def __init__(self, call: Any):
        self.call = call

    def __await__(self):
        return (yield self)


class PromiseRejected(Exception):
    """Raised where a coroutine awaited a promise that was rejected; the message is the reason."""


def run(coroutine, settle: Callable[[Any, Callable], None], log: Callable[[str, str], None]) -> None:
    """Start the coroutine soon and drive it to its end; what it raises is logged, never thrown
    into the page."""

    def resume(failed: bool, value: Any) -> None:
        try:
            waiting = coroutine.throw(PromiseRejected(str(value))) if failed else coroutine.send(value)
        except StopIteration:
            return
        except Exception as exc:
            log("error", f"background work failed: {exc!r}")
            return
        if not isinstance(waiting, Waiting):  # a bug: something asyncio-only was awaited
            coroutine.close()
            log("error", f"background work awaited {waiting!r}, which only asyncio can wait for; stopped")
            return
        settle(waiting.call, resume)

    settle(None, resume)
