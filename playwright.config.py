"""The one place for browser launch settings: tests, benchmarks and the demo all use these.

Two engines, both Debian's own (Playwright cannot download browsers here):
- chromium (apt `chromium`) over CDP;
- firefox (apt `firefox-esr`) over WebDriver BiDi, Playwright's "moz-firefox" channel. The pinned
  Playwright needs one change to open a context in Firefox ESR: buildtools/playwright_firefox.py,
  which ./dev setup applies.
Both get a fake camera and microphone without a prompt, and trust the collector's self-signed
certificate for the test's browser only, never the machine.
"""

import shutil

ENGINES = ("chromium", "firefox")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
CHROMIUM_MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

FIREFOX_PREFS = {
    "network.http.http3.enable": False,  # as --disable-quic: the collector speaks HTTP/2
    "app.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
}
FIREFOX_MEDIA_PREFS = {
    "media.navigator.streams.fake": True,  # a synthetic camera and microphone
    "media.navigator.permission.disabled": True,
    # Host candidates with their addresses rather than mDNS names, as Chromium gives them once
    # the camera is allowed (Firefox counts only a remembered permission, which a test profile has
    # not): the relay in bench/relay.py reads them.
    "media.peerconnection.ice.obfuscate_host_addresses": False,
}


def launch_options(engine: str = "chromium", spki: str | None = None, media: bool = True,
                   headless: bool = True) -> dict:
    """Keyword arguments for playwright's <engine>.launch()."""
    if engine == "firefox":
        prefs = FIREFOX_PREFS | (FIREFOX_MEDIA_PREFS if media else {})
        return {"channel": "moz-firefox", "executable_path": FIREFOX, "firefox_user_prefs": prefs,
                "headless": headless}
    args = CHROMIUM_ARGS + (CHROMIUM_MEDIA_ARGS if media else [])
    if spki:  # trust exactly the collector's self-signed certificate, nothing else
        args.append(f"--ignore-certificate-errors-spki-list={spki}")
    return {"executable_path": CHROMIUM, "args": args, "headless": headless}


def context_options(engine: str = "chromium") -> dict:
    """Keyword arguments for browser.new_context(). Firefox has no per-certificate switch like
    Chromium's SPKI list, so its test contexts (and only those) accept the self-signed one."""
    return {"ignore_https_errors": True} if engine == "firefox" else {}
