"""What Python holds in a page (callstats._inspect(), a promise: Python runs in a worker)."""

import time


def wait_for_state(page, predicate: str, timeout: float = 60_000):
    """Poll until the JS function `predicate` holds for the inspected state; that state."""
    deadline = time.time() + timeout / 1000
    while True:
        found = page.evaluate(f"callstats._inspect().then((s) => s && ({predicate})(s) ? s : null)")
        if found is not None:
            return found
        if time.time() > deadline:
            raise TimeoutError(f"{predicate} did not hold within {timeout} ms")
        page.wait_for_timeout(250)
