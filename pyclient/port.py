"""The browser port: everything pyclient needs from the page, and nothing more.

`browser.BrowserPort` is the real one (JS through Pyodide); tests use a fake with the same
methods. Values crossing it are plain Python data; JS objects (functions, pcs) stay opaque
handles that only the port touches.
"""

from typing import Any, Callable, Protocol


class Port(Protocol):
    def now(self) -> float:
        """Milliseconds since the epoch (the page's clock)."""

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Call a page function (a handle) asynchronously, catching whatever it throws."""

    def later(self, delay_ms: float, fn: Callable[[], None]) -> Any:
        """Run a Python callable after delay_ms; returns a handle for cancel()."""

    def cancel(self, handle: Any) -> None: ...

    def watch_pc(self, pc_id: int, sink: Callable[[dict], None]) -> dict:
        """Send the pc's future events to sink; return what was recorded before.

        Returns {"initial": states when the pc was first handed over, "backlog": [events since]}.
        Each event: {"t": ms, "kind": "iceconnectionstatechange", "state": "connected"}
        (kind is the DOM event name).
        """

    def log(self, level: str, text: str) -> None: ...
