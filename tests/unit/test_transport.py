"""The transport against a fake collector and a fake clock: order, batching, re-authentication,
backoff, Retry-After, the byte bound with its merge/drop rules, and the handover to the next page.
Deterministic: random is seeded and sleeping only moves the fake clock."""

import json
import random
import time
from urllib.parse import parse_qs

import jwt
import pytest

from callwire.deltas import rebuild
from pyclient.models import ProxyConfig
from pyclient.backoff import MAX_MS as BACKOFF_MAX_MS
from pyclient.batches import Urls
from pyclient.transport import Transport

from .fakeport import FakePort

BASE = "https://collector.test/"


class FakeCollector:
    """Stores what it accepts once per itemID and rebuilds stats deltas as the real one does.
    `script`: statuses (None: the network failed) to answer the next item posts with."""

    def __init__(self, port: FakePort, token_lifetime_s=None):
        self.port = port
        self.script = []
        self.stored = []  # (kind, body) in the order stored
        self.paths = []  # the path of every item post
        self.codes = []
        self.seen_ids = set()
        self.full = {}  # connectionID -> rebuilt sample
        self.joins = {}  # join itemID -> ucID
        self.token_lifetime_s = token_lifetime_s
        self.up = True
        self.lose_next_answer = False

    def __call__(self, method, url, headers, body):
        if not self.up:
            return None
        path = url.split(BASE, 1)[1]
        if path == "authenticate":
            self.codes.append(parse_qs(body)["code"][0])
            claims = {"appID": 123, "submissionInterval": 15000}
            if self.token_lifetime_s:
                claims["exp"] = int(self.port.clock / 1000) + self.token_lifetime_s
            token = jwt.encode(claims, "k" * 32, algorithm="HS256")
            return 200, {}, json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 7200})
        if path == "clockSync":
            return 200, {}, json.dumps({"now": self.port.clock + 500})
        self.paths.append(path.split("/conferences/")[1])
        if self.script:
            status = self.script.pop(0)
            if status is None:
                return None
            if status != 200:
                return status, {"retry-after": "5"} if status == 429 else {}, json.dumps(self.refusal(status, body))
        if "/" not in path.split("/conferences/")[1]:  # a join
            item = json.loads(body)
            uc_id = self.joins.setdefault(item["itemID"], f"UC{len(self.joins) + 1}")
            return 200, {}, json.dumps({"status": "success", "ucID": uc_id})
        kind = path.split("/", 6)[-1]
        items = json.loads(body)["items"] if kind == "batch" else [{"kind": kind, "body": json.loads(body)}]
        for item in items:
            self.store(item["kind"], item["body"])
        if self.lose_next_answer:  # stored, but the answer never reaches the page
            self.lose_next_answer = False
            return None
        return 200, {}, json.dumps({"status": "success"})

    def refusal(self, status, body):
        return {"status": "error", "msg": "items.1.body.localID: Field required" if status == 400 else "no"}

    def store(self, kind, body):
        if body["itemID"] in self.seen_ids:
            return
        self.seen_ids.add(body["itemID"])
        if kind == "stats":
            connection = body["connectionID"]
            body = {**body, "stats": rebuild(self.full.get(connection) if body["delta"] else None, body["stats"],
                                             body.get("statsTimestamp"))}
            self.full[connection] = body["stats"]
        self.stored.append((kind, body))

    def kinds(self):
        return [kind for kind, _ in self.stored]


def make(port, codes=None, buffer_bytes=1 << 20, user="alice smith"):
    async def get_code(force_new):
        if codes is not None:
            codes.append(force_new)
        return f"code-{force_new}"

    seen = []
    t = Transport(port, "123", user, Urls.of(BASE, ProxyConfig()), get_code,
                  lambda status, msg, told=False: seen.append(status + (" (told)" if told else "")),
                  buffer_bytes=buffer_bytes)
    return t, seen


def body(n, **more):
    return {"localID": "alice", "deviceID": "d", "timestamp": 1000.0 + n, "n": n, **more}


def sample(n):
    """A getStats sample: a counter that grows, a field that comes and goes."""
    entry = {"id": "RTP1", "type": "outbound-rtp", "timestamp": 1000.0 + n, "bytesSent": 1000 * n}
    if n % 2:
        entry["odd"] = n
    return {"RTP1": entry, "T1": {"id": "T1", "type": "transport", "timestamp": 1000.0 + n}}


def stats_body(n):
    return body(n, connectionID="pc1", remoteID="bob", eventType="stats")


@pytest.fixture
def setup():
    random.seed(7)
    port = FakePort(background=True)
    collector = FakeCollector(port)
    port.collector = collector
    return port, collector


def joined(port, codes=None, **kw):
    t, _ = make(port, codes, **kw)
    t.send("c", "join", body(0))
    port.run()
    return t


def test_auth_clock_join_then_items_in_order(setup):
    port, collector = setup
    t, seen = make(port)
    t.send("room 1", "join", body(0))
    t.send("room 1", "events/user/alive", body(1))
    port.run()
    for n in range(2, 5):
        t.send("room 1", "events/user/alive", body(n))
    port.run()
    assert seen == ["success"]
    # one item alone goes to its kind's path (the deployed format); what is ready together, as a batch
    assert collector.paths == ["room%201", "room%201/UC1/events/user/alive", "room%201/UC1/batch"]
    assert [b["n"] for _, b in collector.stored] == [1, 2, 3, 4]
    assert collector.stored[0][1]["timestamp"] == 1001.0 + 500  # corrected by the clock offset
    assert len({b["itemID"] for _, b in collector.stored}) == 4


def test_the_loaders_first_handshake_is_adopted_and_not_made_again(setup):
    """The loader authenticated while Python started (and told csInitCallback): Python takes its
    token as if it had made the request itself, and asks for no code."""
    port, collector = setup
    port.early = {"status": 200, "text": collector("POST", BASE + "authenticate", {}, "code=from-the-loader")[2]}
    codes = []
    t, seen = make(port, codes)
    t.send("room 1", "events/user/alive", body(1))
    port.run()
    assert seen == ["success (told)"] and codes == [] and collector.codes == ["from-the-loader"]
    assert t.authenticated and [b["n"] for _, b in collector.stored] == [1]


@pytest.mark.parametrize("early", [None, "success"])
def test_csinitcallback_is_called_once_by_whichever_side_made_the_handshake(setup, early):
    from pyclient.api import Callstats

    from .test_api_arguments import VALID

    port, collector = setup
    if early:
        port.early = {"status": 200, "text": collector("POST", BASE + "authenticate", {}, "code=loader")[2]}
    api = Callstats(port)
    callback = object()  # a page function's handle
    api.call("initialize", VALID["initialize"], {"csInitCallback": callback})
    port.run()
    assert api.session.transport.authenticated
    told = [args for fn, args in port.called if fn is callback]
    assert told == ([] if early else [("success", "authentication successful")])  # the loader told it


@pytest.mark.parametrize("early, status", [
    ({"status": 401, "text": json.dumps({"error": "invalid_grant", "error_description": "bad secret"})}, "authError"),
    ({"status": None, "text": ""}, "httpError"),
    ({"error": "no token today"}, "tokenGenerationError"),
])
def test_a_failed_first_handshake_of_the_loader_is_retried_by_python(setup, early, status):
    port, collector = setup
    port.early = early
    codes = []
    t, seen = make(port, codes)
    t.send("room 1", "events/user/alive", body(1))
    port.run()
    assert seen == [f"{status} (told)", "success"]  # then Python's own attempt, after the backoff
    assert codes == [status == "authError"]  # forceNew after a refusal, as after any refused token
    assert [b["n"] for _, b in collector.stored] == [1]


def test_a_token_and_each_join_refresh_the_farewell_at_once(setup):
    """Until the join is answered a goodbye can only keep its items for the next page; from then
    on it can send them: the loader's farewell must not wait to learn that."""
    port, collector = setup
    t, _ = make(port)
    t.send("a", "join", body(0))
    t.send("b", "join", body(1))
    port.run()
    assert port.handover_changes == 3  # the token, then each join
    before = port.handover_changes
    t.send("a", "events/user/alive", body(2))
    port.run()
    assert port.handover_changes == before  # an acknowledged item alone changes nothing in kind
    assert t.unload(keep=True).requests == [] and not t.pending()


def test_events_go_before_stats_and_deltas_rebuild_exactly(setup):
    port, collector = setup
    t = joined(port)
    collector.up = False
    for n in range(1, 6):
        t.send("c", "stats", stats_body(n), sample=sample(n), size=100)
        t.send("c", "events/user/alive", body(n))
    port.run()
    collector.up = True
    t.start()  # run() gave up on the backing-off pump
    port.run()
    kinds = collector.kinds()
    assert kinds == ["events/user/alive"] * 5 + ["stats"] * 5
    for (_, stored), n in zip(collector.stored[5:], range(1, 6)):
        assert sorted(stored["stats"], key=lambda e: e["id"]) == sorted(sample(n).values(), key=lambda e: e["id"])
    assert t.acknowledged("c", "pc1") == sample(5)


def test_401_renews_the_token_with_force_new_and_resends(setup):
    port, collector = setup
    codes = []
    t = joined(port, codes)
    collector.script = [401]
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert codes == [False, True]
    assert [b["n"] for _, b in collector.stored] == [1]


def test_a_token_about_to_expire_is_renewed_before_it_is_used(setup):
    port, collector = setup
    collector.token_lifetime_s = 600
    codes = []
    t = joined(port, codes)
    port.clock += 550_000  # 50 s before it expires
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert codes == [False, True] and len(collector.codes) == 2
    assert [b["n"] for _, b in collector.stored] == [1]


def test_outages_back_off_and_retry_the_same_item_once_stored(setup):
    port, collector = setup
    t = joined(port)
    collector.script = [None, 503, None, 500]
    start = port.clock
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert [b["n"] for _, b in collector.stored] == [1]
    assert collector.paths.count("c/UC1/events/user/alive") == 5
    assert port.clock > start  # it waited


def test_backoff_is_exponential_with_full_jitter_up_to_the_cap(setup, monkeypatch):
    port, collector = setup
    t = joined(port)
    ceilings = []
    monkeypatch.setattr(random, "uniform", lambda low, high: ceilings.append(high) or high)
    collector.up = False
    t.send("c", "events/user/alive", body(1))
    port.run(budget=60)
    assert ceilings[:7] == [1000, 2000, 4000, 8000, 16000, 30000, 30000]
    assert set(ceilings[5:]) == {BACKOFF_MAX_MS}


def test_an_outage_of_30_s_costs_few_requests(setup):
    """Full jitter, seeded: attempts while the collector is away for 30 s (the browser test asserts
    the same bound against a real collector)."""
    port, collector = setup
    t = joined(port)
    attempts = []
    port.collector = lambda *request: attempts.append(port.clock)
    start = port.clock
    t.send("c", "events/user/alive", body(1))
    port.run(budget=100)
    assert port.clock - start > 30_000
    assert 4 <= len([a for a in attempts if a - start < 30_000]) <= 12


def test_429_waits_as_told_and_a_bad_item_is_dropped(setup):
    port, collector = setup
    t = joined(port)
    collector.script = [429, 400]
    start = port.clock
    t.send("c", "events/user/alive", body(1))
    port.run()
    t.send("c", "events/user/alive", body(2))
    port.run()
    assert port.clock - start >= 5000
    assert [b["n"] for _, b in collector.stored] == [2] and t.dropped == 1  # 1 was retried, then refused


def test_a_batch_refused_for_one_item_drops_that_item_only(setup):
    port, collector = setup
    t = joined(port)
    collector.up = False
    for n in range(1, 4):
        t.send("c", "events/user/alive", body(n))
    port.run()
    collector.up = True
    collector.script = [400]  # "items.1.body...": the second one
    t.start()
    port.run()
    assert [b["n"] for _, b in collector.stored] == [1, 3] and t.dropped == 1
    assert port.logged and "refused" in port.logged[0][1]


def test_a_lost_answer_is_retried_and_stored_once(setup):
    port, collector = setup
    t = joined(port)
    collector.lose_next_answer = True
    t.send("c", "stats", stats_body(1), sample=sample(1), size=100)
    port.run()
    t.send("c", "stats", stats_body(2), sample=sample(2), size=100)
    port.run()
    assert collector.kinds() == ["stats", "stats"]
    assert sorted(collector.stored[1][1]["stats"], key=lambda e: e["id"]) == \
        sorted(sample(2).values(), key=lambda e: e["id"])


def test_a_retried_join_gets_the_same_ucid(setup):
    port, collector = setup
    t, _ = make(port)
    collector.script = [None]  # the first join's answer is lost before it was stored
    t.send("c", "join", body(0))
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert t.handshake.uc_ids == {("", "c"): "UC1"} and collector.paths.count("c") == 2


def test_the_buffer_drops_oldest_samples_keeps_events_and_reports_the_gap(setup):
    port, collector = setup
    t = joined(port, buffer_bytes=1000)
    collector.up = False
    for n in range(1, 11):
        t.send("c", "stats", stats_body(n), sample=sample(n), size=150)
        t.send("c", "events/user/alive", body(n))
    port.run()
    assert t.buffer.bytes <= 1000 or not t.buffer.samples  # events alone may exceed it
    assert len(t.buffer.events) == 10 and t.buffer.dropped_samples > 0
    kept = [i.body["n"] for i in t.buffer.samples]
    assert kept == list(range(11 - len(kept), 11))  # the newest survive

    collector.up = True
    t.start()  # run() gave up on the backing-off pump
    port.run()
    alive = [b["n"] for k, b in collector.stored if k == "events/user/alive"]
    assert alive == list(range(1, 11))
    stats = [b for k, b in collector.stored if k == "stats"]
    assert [b["n"] for b in stats] == kept
    # the dropped samples' changes are in the next one: the rebuilt values are exact
    for stored in stats:
        assert sorted(stored["stats"], key=lambda e: e["id"]) == \
            sorted(sample(stored["n"]).values(), key=lambda e: e["id"])
    gap = [b for k, b in collector.stored if k == "events/app/logs"]
    assert len(gap) == 1 and gap[0]["eventType"] == "statsDropped" and gap[0]["connectionID"] == "pc1"
    assert json.loads(gap[0]["message"])["droppedSamples"] == t.buffer.dropped_samples == 10 - len(kept)


def test_unload_gives_keepalive_requests_within_budget_and_a_record_of_everything(setup):
    port, collector = setup
    t = joined(port)
    collector.up = False
    for n in range(1, 30):
        t.send("c", "stats", stats_body(n), sample={**sample(n), "pad": {"id": "pad", "type": "x", "p": "z" * 4000 * n}},
               size=100)
    t.send("c", "events/user/left", body(30))
    port.run()
    unload = t.unload()
    assert sum(len(r["body"]) for r in unload.requests) <= 64 * 1024
    assert unload.requests and not unload.complete and len(t.buffer) == 0
    record = json.loads(unload.record)
    assert record["app"] == "123" and len(record["items"]) == 30
    assert all(i["u"] == "UC1" for i in record["items"])
    left = json.loads(unload.requests[0]["body"])["items"][0]
    assert left["kind"] == "events/user/left"  # events first: they fit before the samples


def test_a_farewell_changes_nothing_and_the_goodbye_after_it_carries_the_same_items(setup):
    port, collector = setup
    t = joined(port, buffer_bytes=1000)
    collector.up = False
    for n in range(1, 11):  # samples dropped: a gap report is due
        t.send("c", "stats", stats_body(n), sample=sample(n), size=150)
    port.run()
    before = (list(t.buffer.events), list(t.buffer.samples), t.buffer.bytes, dict(t.buffer.gaps), dict(t.tally))
    leaving = [{"conference_id": "c", "kind": "events/user/left", "body": body(11), "item_id": "left-1"}]

    farewell = t.unload(leaving, keep=True)
    assert (list(t.buffer.events), list(t.buffer.samples), t.buffer.bytes, dict(t.buffer.gaps), dict(t.tally)) == before
    goodbye = t.unload(leaving)
    assert len(t.buffer) == 0 and not t.buffer.gaps

    def ids(unload):
        return [item["body"]["itemID"] for r in unload.requests for item in json.loads(r["body"])["items"]]

    assert ids(farewell) == ids(goodbye) and "left-1" in ids(goodbye)
    assert farewell.key == goodbye.key and farewell.record == goodbye.record
    kinds = [item["kind"] for r in goodbye.requests for item in json.loads(r["body"])["items"]]
    assert kinds.count("events/app/logs") == 1  # the gap, reported once whichever of the two arrives


def test_the_next_page_sends_what_the_last_one_kept_once(setup):
    port, collector = setup
    t = joined(port)
    t.send("c", "stats", stats_body(1), sample=sample(1), size=100)
    port.run()
    collector.up = False
    for n in range(2, 5):
        t.send("c", "stats", stats_body(n), sample=sample(n), size=100)
    t.send("d", "join", body(5))  # a conference never joined
    t.send("d", "events/user/alive", body(6))
    port.run()
    unload = t.unload()
    port.store(unload.key, unload.record)
    collector.up = True
    # a keepalive request arrived before the page died: its items are stored already
    for request in unload.requests:
        for item in json.loads(request["body"])["items"]:
            collector.store(item["kind"], item["body"])

    page2, _ = make(port)
    assert make(port, user="someone else")[0].adopt(unload.key, unload.record) == 0
    assert page2.adopt(unload.key, unload.record) == 5
    port.run()
    stats = [b for k, b in collector.stored if k == "stats"]
    assert [b["n"] for b in stats] == [1, 2, 3, 4]  # once each
    assert sorted(stats[-1]["stats"], key=lambda e: e["id"]) == sorted(sample(4).values(), key=lambda e: e["id"])
    assert [b["n"] for k, b in collector.stored if k == "events/user/alive"] == [6]
    assert ("d", "UC2") in [(p.split("/")[0], p.split("/")[1]) for p in collector.paths if p.count("/")]


def test_a_forgotten_ucid_joins_again(setup):
    port, collector = setup
    t = joined(port)
    collector.script = [404]
    t.send("c", "events/user/alive", body(1))
    port.run()
    assert [b["n"] for _, b in collector.stored] == [1] and t.handshake.uc_ids[("", "c")] == "UC2"


def test_a_refused_join_drops_its_conference_and_does_not_spin(setup):
    port, collector = setup
    t, _ = make(port)
    collector.script = [403]
    t.send("c", "join", body(0))
    t.send("c", "events/user/alive", body(1))
    t.send("e", "join", body(2))
    port.run()
    assert len(t.buffer) == 0 and t.dropped == 2 and t.handshake.uc_ids == {("", "e"): "UC1"}


def test_the_bound_costs_little(setup):
    """A full buffer under a steady stream of samples: dropping stays cheap (no timing asserted)."""
    port, _ = setup
    port.collector = lambda *a: None
    t = joined(port, buffer_bytes=50_000)
    port.background = False  # the collector stays away: no pump to drive
    started = time.perf_counter()
    for n in range(2000):
        t.send("c", "stats", stats_body(n), sample=sample(n), size=100)
    assert t.buffer.bytes <= 50_000 and len(t.buffer.samples) >= 499
    print(f"2000 sends into a full buffer: {1000 * (time.perf_counter() - started):.1f} ms")
