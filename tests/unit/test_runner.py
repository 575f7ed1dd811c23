"""The runner that moves the client's background coroutines on without asyncio (pyclient.runner),
against a fake port: settle() queues each call; the test settles their promises one at a time."""

from pyclient.runner import PromiseRejected, Waiting, run


class FakePromises:
    def __init__(self):
        self.waiting = []  # (call, resume): started calls, whose promises settle when the test says so
        self.logged = []

    def settle(self, call, resume):
        self.waiting.append((call, resume))

    def log(self, level, text):
        self.logged.append((level, text))

    def next(self, value=None, failed=False):
        """Settle the promise of the oldest call a coroutine waits for; the call it was."""
        call, resume = self.waiting.pop(0)
        resume(failed, value)
        return call


def test_starts_after_the_callers_synchronous_work_and_resumes_with_each_value():
    js, seen = FakePromises(), []

    async def work():
        seen.append("started")
        seen.append(await Waiting("fetch"))
        seen.append(await Waiting("sleep"))

    run(work(), js.settle, js.log)
    assert seen == []  # as asyncio's ensure_future: not within the call that spawned it
    assert js.next() is None  # the start: no call
    assert seen == ["started"]
    assert js.next("answer") == "fetch"
    assert js.next(None) == "sleep"
    assert seen == ["started", "answer", None]
    assert js.waiting == [] and js.logged == []


def test_a_rejected_promise_raises_where_it_was_awaited():
    js, seen = FakePromises(), []

    async def work():
        try:
            await Waiting("token")
        except PromiseRejected as exc:
            seen.append(str(exc))
        seen.append(await Waiting("retry"))

    run(work(), js.settle, js.log)
    js.next()
    js.next("the generator failed", failed=True)
    js.next("ok")
    assert seen == ["the generator failed", "ok"] and js.logged == []


def test_what_a_coroutine_raises_is_logged_and_goes_no_further():
    js = FakePromises()

    async def work():
        await Waiting("fetch")
        raise ValueError("bad answer")

    run(work(), js.settle, js.log)
    js.next()
    js.next("x")  # must not raise into the page
    assert js.waiting == []
    assert js.logged == [("error", "background work failed: ValueError('bad answer')")]


def test_awaiting_what_only_asyncio_can_wait_for_stops_the_coroutine_and_says_so():
    js, closed = FakePromises(), []

    class Future:
        def __await__(self):
            yield self

    async def work():
        try:
            await Future()
        finally:
            closed.append(True)

    run(work(), js.settle, js.log)
    js.next()
    assert closed == [True] and js.waiting == []
    assert js.logged[0][0] == "error" and "only asyncio can wait for" in js.logged[0][1]
