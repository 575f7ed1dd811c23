"""The collector's ASGI app: the REST v1 protocol, the read API, and dist/ at /."""

from pathlib import Path
from typing import Optional

from fastapi import FastAPI

from .static import PrecompressedFiles


def create_app(dist: Optional[Path] = None) -> FastAPI:
    app = FastAPI(title="callstats collector", version="0.1.0")
    if dist is not None and dist.is_dir():
        app.mount("/", PrecompressedFiles(dist), name="dist")
    return app
