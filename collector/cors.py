"""CORS by app: a page's origin is answered only when its app allows it (every origin when the app
has no whitelist). The app is the {appID} in the path; paths without one (/authenticate,
/clockSync, /generics) answer any origin, and /authenticate refuses a disallowed one itself."""

import re
import time

APP_IN_PATH = re.compile(r"^/(?:v1/apps/)?(\d{1,18})/")
ALLOW_HEADERS = "authorization, content-type, content-encoding, idempotency-key"
MAX_AGE = "600"


class AppCors:
    def __init__(self, app, store_of, ttl_s: float = 5.0):
        self.app = app
        self.store_of = store_of  # () -> Store (it exists once the app has started)
        self.ttl_s = ttl_s
        self.cache: dict[int, tuple[float, list]] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = dict(scope["headers"]).get(b"origin")
        if origin is None:
            return await self.app(scope, receive, send)
        origin = origin.decode("latin-1")
        allowed = await self._allowed(scope["path"], origin)
        headers = [(b"vary", b"Origin")]
        if allowed:
            headers += [(b"access-control-allow-origin", origin.encode()),
                        (b"access-control-expose-headers", b"retry-after, x-next-cursor"),
                        (b"timing-allow-origin", origin.encode())]
        if scope["method"] == "OPTIONS" and dict(scope["headers"]).get(b"access-control-request-method"):
            if allowed:
                headers += [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                            (b"access-control-max-age", MAX_AGE.encode())]
            await send({"type": "http.response.start", "status": 204 if allowed else 403, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message):
            if message["type"] == "http.response.start" and not any(
                    k == b"access-control-allow-origin" for k, _ in message.get("headers", [])):
                message = {**message, "headers": list(message.get("headers", [])) + headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _allowed(self, path: str, origin: str) -> bool:
        found = APP_IN_PATH.match(path)
        if not found:
            return True
        app_id = int(found.group(1))
        now = time.monotonic()
        cached = self.cache.get(app_id)
        if cached is None or now - cached[0] > self.ttl_s:
            app = await self.store_of().app(app_id)
            cached = (now, app["origins"] if app else None)
            self.cache[app_id] = cached
        origins = cached[1]
        return origins is not None and (not origins or origin in origins)
