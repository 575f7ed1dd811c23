"""The browser port: everything pyclient needs from the page, and nothing more.

`browser.BrowserPort` is the real one (JS through Pyodide); tests use a fake with the same
methods. Values crossing it are plain Python data; JS objects (functions, pcs) stay opaque
handles that only the port touches.
"""

from typing import Any, Callable, Optional, Protocol


class Port(Protocol):
    def now(self) -> float:
        """Milliseconds since the epoch (the page's clock)."""

    def clock_ms(self) -> float:
        """A monotonic clock in ms with sub-ms resolution (performance.now()), for measuring."""

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Call a page function (a handle) asynchronously, catching whatever it throws."""

    def watch_pc(self, pc_id: int, sink: Callable[[dict], None]) -> dict:
        """Send the pc's future events to sink; return what was recorded before.

        Returns {"initial": states when the pc was first handed over, "backlog": [events since]}.
        Each event: {"t": ms, "kind": "iceconnectionstatechange", "state": "connected"}
        (kind is the DOM event name).
        """

    def watch_first_frame(self, tag_id: str, sink: Callable[[dict], None]) -> None:
        """Tell sink, once, when the video element with this id showed its first frame:
        {"t": ms, "already": true if it was showing before anyone watched (t is then unknown)}."""

    def log(self, level: str, text: str) -> None: ...

    def spawn(self, coroutine) -> None:
        """Run a coroutine in the background: started soon (after the caller's synchronous work),
        resumed as each of this port's async methods it awaits answers. On the page those are all
        it may await (pyclient.runner drives it, not asyncio)."""

    async def sleep(self, ms: float) -> None: ...

    async def request(self, method: str, url: str, headers: dict, body, keepalive: bool = False):
        """fetch(); (status, headers with lower-case names, text), or None when the network failed."""

    async def get_stats(self, pc_ids: list[int]) -> dict:
        """{pc id: its getStats() report as one JSON string (a list of its entries), or None where
        it failed}: one crossing for every pc asked."""

    def poll_every(self, ms: Optional[float], pc_ids: list[int], sink: Callable[[dict, float, dict], None]) -> None:
        """From now on, every `ms`: getStats() of these pcs, then sink(reports as get_stats gives
        them, the time the poll was due, the device's figures that go with uploads: {batteryStatus?,
        wifiStats?}). Replaces the poll given before; ms None stops it."""

    async def probe(self, options: dict) -> dict:
        """One pre-call probe by the loader (web/precall.js): two relay-only pcs through
        options["iceServers"], measured as the options say; what it measured (see precall.js)."""

    def stop_probe(self, reason: str) -> None:
        """Stop the probe under way at once (its result says `stopped: reason`)."""

    async def early_handshake(self) -> Optional[dict]:
        """The first handshake the loader ran for initialize while Python was starting (so that
        csInitCallback comes as soon as the deployed client's), once: {"status": the HTTP status or
        None when the network failed, "text": the answer} or {"error": why the token generator
        failed}; None when the loader ran none (Python was ready, or the page has no WebCrypto)."""

    async def token_from(self, generator, force_new: bool) -> str:
        """A third-party code from the page's tokenGenerator(forceNew, callback)."""

    def device_id(self) -> str:
        """A stable random id for this browser (localStorage)."""

    def endpoint_info(self) -> dict:
        """{type: "browser", buildName, buildVersion, os, osVersion, userAgent}"""

    def buffer_bytes(self) -> Optional[int]:
        """The page's bound of the send buffer (the script tag's data-buffer-bytes), if it set one."""

    def stored(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of every localStorage entry whose key starts with prefix ([] if blocked)."""

    def store(self, key: str, value) -> None:
        """localStorage: set key to value (a string), or remove it (None); never raises."""

    def collector_url(self) -> str:
        """Where the collector is: the script's origin, or its data-collector attribute."""

    def handover_changed(self) -> None:
        """What leaving would send changed in kind (a token came, a join was answered: the goodbye
        can now carry requests): the farewell the loader holds for pagehide is refreshed at once,
        not within the second it otherwise takes after background work."""
