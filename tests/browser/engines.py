"""What a browser engine (or Playwright's driving of it) cannot give a test, in one place, with the
reason. A test that needs one of these is marked `@pytest.mark.needs("<what>")` and is skipped on
that engine, saying why; everything else runs on both. The client itself never fills in what an
engine does not give: such a figure is sent as null or left out."""

CANNOT = {
    "firefox": {
        "request_bodies": "Playwright drives Firefox over WebDriver BiDi, which gives it no request bodies "
                          "(route.request.post_data is empty, and route.fetch() could not send the request on)",
        "forced_gc": "a test cannot make Firefox collect garbage (Chromium: CDP HeapProfiler.collectGarbage)",
    },
}

# Figures a csStatsCallback stream carries that the engine's getStats() does not give: the client
# reports them as null. Chromium gives each of them, so the same test checks both ways.
ABSENT = {
    "firefox": {
        "qualityLimitationReason": "Firefox's outbound-rtp has no qualityLimitationReason (ESR 153)",
    },
}


def missing(engine: str, needs: tuple[str, ...]) -> list[str]:
    """The reasons `engine` cannot run a test that needs `needs`."""
    return [CANNOT.get(engine, {})[what] for what in needs if what in CANNOT.get(engine, {})]
