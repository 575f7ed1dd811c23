"""The transport against a fake collector: order, re-authentication, backoff, Retry-After."""

import json

import jwt
from urllib.parse import parse_qs

from pyclient.transport import Transport, Urls
from pyclient.models import ProxyConfig

from .fakeport import FakePort


class FakeCollector:
    def __init__(self, port: FakePort):
        self.port = port
        self.script = []  # statuses to answer item posts with, in order (then 200)
        self.stored = []
        self.codes = []

    def __call__(self, method, url, headers, body):
        path = url.split("https://collector.test/", 1)[1]
        if path == "authenticate":
            self.codes.append(parse_qs(body)["code"][0])
            token = jwt.encode({"appID": 123, "submissionInterval": 15000}, "k" * 32, algorithm="HS256")
            return 200, {}, json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 7200})
        if path == "clockSync":
            return 200, {}, json.dumps({"now": self.port.clock + 500})
        if self.script:
            status = self.script.pop(0)
            if status is None:
                return None
            return status, {"retry-after": "5"} if status == 429 else {}, "{}"
        item = json.loads(body)
        self.stored.append((path.split("/conferences/")[1], item))
        return 200, {}, json.dumps({"status": "success", "ucID": "UC1"})


def transport(port, collector, codes=None):
    def get_code(force_new):
        codes.append(force_new) if codes is not None else None
        return _done(f"code-{force_new}")

    seen = []
    t = Transport(port, "123", "alice smith", Urls.of("https://collector.test/", ProxyConfig()), get_code,
                  lambda status, msg: seen.append(status))
    return t, seen


async def _done(value):
    return value


def body(n):
    return {"localID": "alice", "deviceID": "d", "timestamp": 1000.0 + n, "n": n}


def joined(codes=None):
    """A transport that has authenticated and joined conference "c"."""
    port = FakePort(background=True)
    collector = FakeCollector(port)
    port.collector = collector
    t, _ = transport(port, collector, codes)
    t.send("c", "join", body(0))
    port.run()
    return port, collector, t


def test_auth_clock_join_then_items_in_order():
    port = FakePort(background=True)
    collector = FakeCollector(port)
    port.collector = collector
    t, seen = transport(port, collector)
    t.send("room 1", "join", body(0))
    for n in range(1, 4):
        t.send("room 1", "events/user/alive", body(n))
    port.run()
    assert seen == ["success"]
    assert [path for path, _ in collector.stored] == ["room%201"] + ["room%201/UC1/events/user/alive"] * 3
    assert [item["n"] for _, item in collector.stored] == [0, 1, 2, 3]
    assert collector.stored[1][1]["timestamp"] == 1001.0 + 500  # corrected by the clock offset
    assert len({item["itemID"] for _, item in collector.stored}) == 4


def test_401_renews_the_token_with_force_new_and_resends():
    codes = []
    port, collector, t = joined(codes)
    collector.script = [401]
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert codes == [False, True]
    assert [item["n"] for _, item in collector.stored] == [0, 1]


def test_outages_back_off_and_retry_the_same_item_once_stored():
    port, collector, t = joined()
    collector.script = [None, 503, None, 500]
    start = port.clock
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert [item["n"] for _, item in collector.stored] == [0, 1]
    posts = [r for r in port.requests if r[1].endswith("/events/user/alive")]
    assert len(posts) == 5 and len({json.loads(r[3])["itemID"] for r in posts}) == 1  # same item, same key
    assert port.clock > start  # it waited


def test_429_waits_as_told_and_a_bad_item_is_dropped():
    port, collector, t = joined()
    collector.script = [429, 400]
    start = port.clock
    t.send("c", "events/user/alive", body(1))
    t.send("c", "events/user/alive", body(2))
    port.run()
    assert port.clock - start >= 5000
    assert [item["n"] for _, item in collector.stored] == [0, 2] and t.dropped == 1
