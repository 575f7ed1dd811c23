"""Request bodies sent compressed (`Content-Encoding: gzip`, as our client sends its uploads):
inflated here, before anything reads them, and never past the body limit. BodyLimit, outside,
has already bounded the compressed size; this bounds what it inflates to (a small gzip can
inflate to gigabytes)."""

import zlib

from .limits import send_error


class GzipRequests:
    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        encoding = next((v for k, v in scope["headers"] if k == b"content-encoding"), None)
        if encoding is None or encoding.strip().lower() == b"identity":
            return await self.app(scope, receive, send)
        if encoding.strip().lower() != b"gzip":
            return await send_error(send, 415, f"body: Content-Encoding {encoding.decode('latin-1')} is not accepted (gzip is)")
        status, answer = self._inflate(await _whole_body(receive))
        if status != 200:
            return await send_error(send, status, answer)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
        headers.append((b"content-length", str(len(answer)).encode()))
        delivered = False

        async def inflated():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": answer, "more_body": False}

        await self.app({**scope, "headers": headers}, inflated, send)

    def _inflate(self, compressed: bytes):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
        try:
            body = inflater.decompress(compressed, self.limit + 1)
        except zlib.error:
            return 400, "body: not valid gzip"
        if len(body) > self.limit or inflater.unconsumed_tail:
            return 413, f"body: larger than {self.limit} bytes once inflated"
        if not inflater.eof:
            return 400, "body: the gzip stream ends early"
        return 200, body


async def _whole_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)
