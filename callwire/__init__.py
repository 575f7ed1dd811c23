"""What the client and the collector share: one definition of each.

- messages: the collector protocol's bodies (SPEC part 2), as pydantic models: the collector
  validates with them; the client's bodies (pyclient.events) are tested against them.
- deltas: stats samples as they travel (the client's diff, the collector's rebuild).
- figures and quality: per-stream figures and quality ratings from two samples, which the client
  reports in csStatsCallback and the collector's dashboard shows: the same code, so they agree.

The browser wheel carries deltas, figures and quality (build.py); messages stays server-side.
"""
