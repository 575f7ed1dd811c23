"""Set-up step: let the pinned Playwright drive Debian's Firefox ESR over WebDriver BiDi.

Playwright 1.65.2 sends `emulation.setMediaFeaturesOverride` (the page's prefers-color-scheme)
whenever it creates a browser context, and fails the context when the browser does not know the
command. Firefox ESR 153 does not implement it yet (its emulation module has geolocation, locale,
network, screen, timezone and user agent only), so no context could open. We never emulate a colour
scheme, so the one change is to let that command fail quietly. The driver file is checked by
sha256 before and after: a different Playwright version stops here rather than being patched blind.

Usage: python buildtools/playwright_firefox.py   (./dev setup runs it; idempotent)
"""

import hashlib
import sys
from pathlib import Path

import playwright

BUNDLE = Path(playwright.__file__).parent / "driver" / "package" / "lib" / "coreBundle.js"
PRISTINE = "874451b4e7acf90cda4330be42db2259c9e5036c22150f18016f04768434234c"  # playwright 1.65.2
PATCHED = "88ba4bed94a93c725974cc3d6b7a35b885101580772ac7cc9726dc2cf9ed0e57"
CALLS = ('await this._session.send("emulation.setMediaFeaturesOverride", {',
         'await this._browser._browserSession.send("emulation.setMediaFeaturesOverride", {')


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def patched(source: str) -> str:
    """Each media-features call: `await X.send(...)` -> `await X.send(...).catch(() => {})`."""
    for call in CALLS:
        start = source.index(call)
        end = source.index("});", start) + len("})")
        source = source[:end] + ".catch(() => {})" + source[end:]
    return source


def main() -> int:
    source = BUNDLE.read_text()
    if sha256(source) == PATCHED:
        return 0
    if sha256(source) != PRISTINE:
        print(f"playwright_firefox: {BUNDLE} is not the pinned Playwright's (sha256 {sha256(source)}); "
              "check whether this Playwright still needs the Firefox ESR change", file=sys.stderr)
        return 1
    result = patched(source)
    if sha256(result) != PATCHED:
        print(f"playwright_firefox: the change gave sha256 {sha256(result)}, expected {PATCHED}", file=sys.stderr)
        return 1
    BUNDLE.write_text(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
