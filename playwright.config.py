"""The one place for browser launch settings: tests, benchmarks and the demo all use these.

Playwright cannot download its own browsers here; it drives Debian's chromium (apt).
"""

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

BASE_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# A fake camera and microphone, granted without a prompt.
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def launch_options(spki: str | None = None, media: bool = True, headless: bool = True) -> dict:
    """Keyword arguments for playwright's chromium.launch()."""
    args = BASE_ARGS + (MEDIA_ARGS if media else [])
    if spki:  # trust exactly the collector's self-signed certificate, nothing else
        args.append(f"--ignore-certificate-errors-spki-list={spki}")
    return {"executable_path": CHROMIUM, "args": args, "headless": headless}
