"""Waiting on a page by polling from the test: what Python holds (callstats._inspect(), a promise:
Python runs in a worker), or any expression. Polling with page.evaluate rather than Playwright's
wait_for_function, which evaluates its predicate with eval() in the page: a page whose CSP
forbids eval (as the fallback tests' pages do) would refuse it."""

import time


def wait_for_state(page, predicate: str, timeout: float = 60_000):
    """Poll until the JS function `predicate` holds for the inspected state; that state."""
    return wait_until(page, f"callstats._inspect().then((s) => s && ({predicate})(s) ? s : null)", timeout,
                      f"{predicate} did not hold")


def wait_until(page, expression: str, timeout: float = 60_000, failure: str = ""):
    """Poll until the JS `expression` (a promise is awaited) is truthy; its value."""
    return wait_for(page, lambda: page.evaluate(expression), failure or expression, timeout)


def wait_for(page, probe, what: str, timeout: float = 60_000):
    """Poll until `probe()` is truthy (a page expression, a read of the collector, ...); its value.
    Between tries the page's own event loop runs (Playwright's wait), so the page works meanwhile."""
    deadline = time.time() + timeout / 1000
    while True:
        found = probe()
        if found:
            return found
        if time.time() > deadline:
            raise TimeoutError(f"{what} within {timeout} ms")
        page.wait_for_timeout(250)
