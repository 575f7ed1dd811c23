"""What one client may send: body size (413) and requests per access token (429 + Retry-After)."""

import json
import math
import time

from starlette.requests import Request


class TooLarge(Exception):
    pass


class TooMany(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests: retry after {retry_after} s")
        self.retry_after = retry_after


DRAIN_LIMIT = 16 << 20  # past this a too-large body is cut off rather than read to its end


class BodyLimit:
    """ASGI middleware: a body over the limit is answered 413 without being processed. Its rest is
    read and dropped first (up to DRAIN_LIMIT), so that the client, still sending, gets the answer
    instead of a reset stream."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _drain(receive, 0)
                return await _send_413(send, self.limit)
        seen, finished = 0, False

        async def limited():
            nonlocal seen, finished
            message = await receive()
            finished = message["type"] != "http.request" or not message.get("more_body")
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if message.get("more_body"):
                        await _drain(receive, seen)
                    finished = True
                    raise TooLarge()
            return message

        async def answer_after_body(message):
            # an answer given without reading the body (a 405, a 404...): read it first, or an
            # HTTP/1.1 client still sending it gets its connection reset instead of the answer
            nonlocal finished
            if message["type"] == "http.response.start" and not finished:
                finished = True
                await _drain(receive, seen)
            await send(message)

        await self.app(scope, limited, answer_after_body)


async def _drain(receive, seen: int) -> None:
    while seen < DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return


async def _send_413(send, limit: int) -> None:
    await send_error(send, 413, f"body: larger than {limit} bytes")


async def send_error(send, status: int, msg: str) -> None:
    """The API's error answer ({"status": "error", "msg"}) from ASGI middleware, before any route."""
    body = json.dumps({"status": "error", "msg": msg}, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class RateLimiter:
    """A token bucket per access token: `rate` requests a second on average, bursts of `burst`."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> None:
        now = self.clock()
        tokens, at = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            raise TooMany(max(1, math.ceil((1 - tokens) / self.rate)))
        self.buckets[key] = (tokens - 1, now)
        if len(self.buckets) > 100_000:  # forget idle tokens rather than grow without end
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 60}
