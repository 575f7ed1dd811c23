"""Serves dist/ (the bundle, the demo, the dashboard pages) with its pre-compressed twins.

build.py writes file.br and file.gz beside each file; the smallest one the client accepts is
sent. The content-hashed asset folders are cached forever; everything else is revalidated.
Assets may be loaded by pages of any origin (the loader imports pyodide.mjs as a module and
fetches wheels, which needs CORS).
"""

from pathlib import Path

from starlette.responses import FileResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send

TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


class PrecompressedFiles:
    def __init__(self, root: Path):
        self.root = root.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await PlainTextResponse("method not allowed", status_code=405, headers={"Allow": "GET, HEAD"})(
                scope, receive, send)
            return
        path = self._resolve(scope["path"])
        if path is None:
            await PlainTextResponse("not found", status_code=404)(scope, receive, send)
            return
        accepted = _accepted_encodings(scope)
        headers = {
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Vary": "Accept-Encoding",
            "Cache-Control": _cache_control(path.relative_to(self.root)),
        }
        body = path
        for encoding, suffix in ENCODINGS:
            twin = path.with_name(path.name + suffix)
            if encoding in accepted and twin.is_file():
                body, headers["Content-Encoding"] = twin, encoding
                break
        media_type = TYPES.get(path.suffix, "application/octet-stream")
        await FileResponse(body, media_type=media_type, headers=headers)(scope, receive, send)

    def _resolve(self, url_path: str):
        candidate = (self.root / url_path.lstrip("/")).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None  # outside dist/
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None


def _accepted_encodings(scope: Scope) -> set[str]:
    for name, value in scope.get("headers", []):
        if name == b"accept-encoding":
            return {part.split(";")[0].strip() for part in value.decode("latin-1").split(",")}
    return set()


def _cache_control(relative: Path) -> str:
    if relative.parts and relative.parts[0].startswith("callstats-"):
        return "public, max-age=31536000, immutable"
    return "no-cache"
