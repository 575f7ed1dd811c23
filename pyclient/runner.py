"""Runs the client's background coroutines (the transport's pump, a fabric's setup, user/alive)
without asyncio.

On the page, asyncio (Pyodide's webloop) moves a coroutine on through `call_soon`, a `postMessage`
task each time, and wraps every awaited promise in a Future: about ten main-thread tasks for one
upload (bench/README.md). Here a coroutine awaits the port's promises directly (`Waiting`) and the
promise's own reaction resumes it with one call: one microtask per awaited promise, nothing else.

Plain Python: the port gives `settle(promise, resume)`, which calls resume(failed, value) once the
promise has settled (promise None: soon, after the caller's synchronous work, as asyncio would).
"""

from typing import Any, Callable


class Waiting:
    """A promise a coroutine waits for. Only a coroutine that `run` drives may await it."""

    __slots__ = ("promise",)

    def __init__(self, promise: Any):
        self.promise = promise

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
        settle(waiting.promise, resume)

    settle(None, resume)
