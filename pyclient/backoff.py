"""How long to wait before trying the collector again: exponential, with full jitter; a
Retry-After the collector gave (429) is waited in full."""

import random

FIRST_MS = 1000
MAX_MS = 30000


class Backoff:
    def __init__(self):
        self.ms = 0.0  # the wait the next failure starts from (0: the last attempt went through)

    def reset(self) -> None:
        self.ms = 0.0

    def retry_after(self, headers: dict) -> None:
        """A 429's answer: not before its Retry-After (seconds)."""
        retry = headers.get("retry-after", "")
        self.ms = max(self.ms, float(retry) * 1000 if retry.isdigit() else FIRST_MS)

    async def wait(self, sleep) -> None:
        ceiling = min(MAX_MS, max(FIRST_MS, self.ms * 2))
        wait = max(self.ms, random.uniform(0, ceiling))
        self.ms = ceiling
        await sleep(wait)
