"""The only module that touches JS: the real browser port, and the entry the loader calls.

`bridge` is web/host.js's: it runs where Python runs (a dedicated worker, or the page's main
thread where a page forbids the worker) and reaches the page's main thread by messages. Page
functions (callbacks, a token generator) arrive here as numbers that name them there.
Values cross as JSON strings (one crossing per call or event) rather than proxies per field.
"""

import json
import zlib

from js import Object  # type: ignore[import-not-found]
from pyodide.ffi import create_once_callable, create_proxy, to_js  # type: ignore[import-not-found]

from . import models, runner
from .api import Callstats

GZIP_OVER = 1024  # JSON bodies longer than this go gzip-compressed: stats deltas shrink about five-fold


class BrowserPort:
    def __init__(self, bridge):
        self.bridge = bridge
        self._sinks = {}  # pc id -> proxy, kept alive while JS may call it

    def now(self) -> float:
        return float(self.bridge.now())

    def clock_ms(self) -> float:
        return float(self.bridge.clock())

    def call_soon(self, fn, *args) -> None:
        self.bridge.callSoon(fn, json.dumps(args))

    def watch_pc(self, pc_id: int, sink) -> dict:
        proxy = create_proxy(lambda event_json: sink(json.loads(event_json)))
        self._sinks[pc_id] = proxy
        return json.loads(self.bridge.watch(pc_id, proxy))

    def watch_first_frame(self, tag_id: str, sink) -> None:
        proxy = create_proxy(lambda event_json: sink(json.loads(event_json)))
        self._sinks[("frame", tag_id, id(sink))] = proxy
        self.bridge.firstFrame(tag_id, proxy)

    def log(self, level: str, text: str) -> None:
        self.bridge.log(level, text)

    def spawn(self, coroutine) -> None:
        runner.run(coroutine, self._settle, self.log)

    def _settle(self, call, resume) -> None:
        """Start call (from `_promise`; None: nothing, resume soon) and resume with what its
        promise gives. The promise stays in JS: a promise returned into Python would become an
        asyncio Future, and asyncio's tasks are what the runner avoids."""
        name, args = call or (None, ())
        self.bridge.settle(name, create_once_callable(resume), *args)

    async def sleep(self, ms: float) -> None:
        await _promise("sleep", ms)

    async def request(self, method: str, url: str, headers: dict, body, keepalive: bool = False):
        headers, body = _compressed(headers, body)
        answer = await _promise("request", method, url, json.dumps(headers), body, keepalive)
        if not isinstance(answer, str):  # the network failed (JS null arrives as jsnull, not None)
            return None
        data = json.loads(answer)
        return data["status"], data["headers"], data["text"]

    async def get_stats(self, pc_ids: list[int]) -> dict:
        return _reports(await _promise("stats", json.dumps(pc_ids)))

    def poll_every(self, ms, pc_ids: list[int], sink) -> None:
        old = self._sinks.pop("poll", None)
        if ms is not None:
            proxy = create_proxy(lambda reports_json, at, device_json: sink(
                _reports(reports_json), float(at), json.loads(device_json)))
            self._sinks["poll"] = proxy
            self.bridge.pollEvery(ms, json.dumps(pc_ids), proxy)
        else:
            self.bridge.pollEvery(0, "[]", None)
        if old is not None:
            old.destroy()  # the loader called it for the last time already (it checks its timer)

    async def probe(self, options: dict) -> dict:
        return json.loads(await _promise("probe", json.dumps(options)))

    def stop_probe(self, reason: str) -> None:
        self.bridge.stopProbe(reason)

    async def early_handshake(self):
        answer = await _promise("earlyHandshake")
        return json.loads(answer) if isinstance(answer, str) else None

    async def token_from(self, generator, force_new: bool) -> str:
        return str(await _promise("token", generator, force_new))

    def device_id(self) -> str:
        return str(self.bridge.deviceId())

    def endpoint_info(self) -> dict:
        return json.loads(self.bridge.endpointInfo())

    def buffer_bytes(self):
        value = self.bridge.bufferBytes
        return int(value) if value else None

    def stored(self, prefix: str) -> list[tuple[str, str]]:
        return [tuple(pair) for pair in json.loads(self.bridge.stored(prefix))]

    def store(self, key: str, value) -> None:
        self.bridge.store(key, value)

    def collector_url(self) -> str:
        return str(self.bridge.collector)

    def handover_changed(self) -> None:
        self.bridge.handoverChanged()


class Entry:
    """What web/host.js holds once Python is ready."""

    def __init__(self, bridge):
        self.api = Callstats(BrowserPort(bridge))

    def call(self, method: str, args_json: str, handles, at: float):
        try:
            args = json.loads(args_json)
            names = handles.to_py(depth=1) if handles is not None else {}
        except Exception:  # the loader made both; if they are broken, say so rather than throw
            args, names = None, {}
        answer = self.api.call(method, args, names, at)
        return to_js(answer, dict_converter=Object.fromEntries)

    def check(self, method: str, args_json: str):
        """What Python would answer a call the loader refused (it is not made)."""
        try:
            args = json.loads(args_json)
        except ValueError:
            args = None
        return to_js(self.api.check(method, args), dict_converter=Object.fromEntries)

    def goodbye(self, keep: bool = False) -> str:
        return json.dumps(self.api.goodbye(bool(keep)))

    def inspect(self) -> str:
        return json.dumps(self.api.inspect())


def _promise(name: str, *args) -> runner.Waiting:
    """What a background coroutine awaits for the bridge's async function `name` (see _settle)."""
    return runner.Waiting((name, args))


def _reports(reports_json: str) -> dict:
    """The loader's {pc id: report JSON or null}: None where getStats() failed."""
    return {int(pc_id): text if isinstance(text, str) else None for pc_id, text in json.loads(reports_json).items()}


def _compressed(headers: dict, body):
    """gzip here, in one synchronous call, rather than through the browser's CompressionStream
    (a Blob, a stream and several promise hops on the page's main thread for each request)."""
    if not isinstance(body, str) or len(body) <= GZIP_OVER or headers.get("Content-Type") != "application/json":
        return headers, body
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: with the gzip header and trailer
    data = packer.compress(body.encode()) + packer.flush()
    return {**headers, "Content-Encoding": "gzip"}, to_js(data)  # a Uint8Array (a copy)


def start(bridge) -> Entry:
    models.warm()  # now, before the page's first calls are replayed
    return Entry(bridge)
