"""getStats samples -> figures, deltas and quality (CPython, no browser)."""

import json
import random

import pytest

from callwire import deltas, quality
from callwire import figures as shared


def sample(t, sent, recv, lost=0, remote_loss=0.0, rtt=0.02, jitter=0.002, extra=None):
    entries = [
        {"id": "OA", "type": "outbound-rtp", "kind": "audio", "ssrc": 11, "timestamp": t, "bytesSent": sent,
         "packetsSent": sent // 100, "codecId": "C1"},
        {"id": "RA", "type": "remote-inbound-rtp", "kind": "audio", "ssrc": 11, "localId": "OA", "timestamp": t,
         "fractionLost": remote_loss, "roundTripTime": rtt, "jitter": jitter},
        {"id": "IA", "type": "inbound-rtp", "kind": "audio", "ssrc": 22, "timestamp": t, "bytesReceived": recv,
         "packetsReceived": recv // 100, "packetsLost": lost, "jitter": jitter,
         "jitterBufferDelay": t / 1000 * 0.04, "jitterBufferEmittedCount": t / 1000},
        {"id": "C1", "type": "codec", "mimeType": "audio/opus"},
        {"id": "T", "type": "transport", "selectedCandidatePairId": "CP"},
        {"id": "CP", "type": "candidate-pair", "currentRoundTripTime": rtt},
    ]
    return {e["id"]: {**e, **(extra or {}).get(e["id"], {})} for e in entries}


def by_ssrc(figures):
    return {f["ssrc"]: f for f in figures}


def test_first_sample_has_no_interval_figures():
    first = by_ssrc(shared.streams(None, sample(1000, 1000, 1000)))
    assert first["11"]["bitrate"] is None and first["11"]["quality"] == "unknown"
    assert first["22"]["jitter"] == 2.0  # ms


def test_interval_figures():
    figures = by_ssrc(shared.streams(sample(1000, 10_000, 10_000), sample(6000, 60_000, 40_000, lost=10)))
    out, inn = figures["11"], figures["22"]
    assert out["bitrate"] == pytest.approx(50_000 * 8 / 5 / 1000)  # kbit/s
    assert out["packetRate"] == pytest.approx(100)
    assert out["rtt"] == pytest.approx(20) and out["jitter"] == pytest.approx(2)
    assert inn["fractionLoss"] == pytest.approx(10 / (10 + 300), abs=1e-4)
    assert out["quality"] == "excellent"  # clean: opus, 20 ms rtt, no loss


def test_a_counter_that_goes_back_gives_no_figure():
    figures = by_ssrc(shared.streams(sample(1000, 90_000, 90_000), sample(6000, 100, 100)))
    assert figures["11"]["bitrate"] is None and figures["22"]["fractionLoss"] is None


def test_missing_fields_are_tolerated():
    bare = {"X": {"id": "X", "type": "inbound-rtp", "kind": "video", "timestamp": 1}}
    later = {"X": {"id": "X", "type": "inbound-rtp", "kind": "video", "timestamp": 5001}}
    (figure,) = shared.streams(bare, later)
    assert figure["bitrate"] is None and figure["quality"] == "unknown"


@pytest.mark.parametrize(("rtt", "jitter_buffer", "loss", "rating"), [
    (20, 40, 0.0, "excellent"), (100, 60, 0.0, "excellent"), (300, 60, 0.0, "good"),
    (20, 40, 0.02, "good"), (20, 40, 0.05, "fair"), (20, 40, 0.10, "poor"), (20, 40, 0.25, "bad"),
    (800, 100, 0.05, "bad"),
])
def test_emodel_ratings(rtt, jitter_buffer, loss, rating):
    assert quality.rating_of_mos(quality.mos(quality.r_factor(rtt, jitter_buffer, loss))) == rating


def test_emodel_is_monotone_in_loss_and_delay():
    by_loss = [quality.mos(quality.r_factor(40, 40, p / 100)) for p in range(0, 30)]
    by_delay = [quality.mos(quality.r_factor(rtt, 40, 0.01)) for rtt in range(0, 1000, 50)]
    assert by_loss == sorted(by_loss, reverse=True) and by_delay == sorted(by_delay, reverse=True)
    assert quality.mos(quality.r_factor(0, 0, 0)) == pytest.approx(4.41, abs=0.01)  # G.107 default


def test_video_rating():
    assert quality.video_rating(0.0, 20, 30, 30, 720, 720) == "excellent"
    assert quality.video_rating(0.06, 20, 30, 30, 720, 720) == "fair"
    assert quality.video_rating(0.0, 20, 10, 30, 360, 720) == "fair"
    assert quality.video_rating(0.0, 20, 5, 30, 180, 720) == "poor"
    assert quality.video_rating(None, None, None, None, None, None) == "unknown"


def random_sample(rng, previous):
    out = {}
    for i in range(rng.randint(3, 8)):
        entry_id = f"E{rng.randint(0, 9)}"
        entry = dict(previous.get(entry_id, {"id": entry_id, "type": "codec"}))
        for field in rng.sample(["a", "b", "c", "d"], rng.randint(0, 4)):
            entry[field] = rng.choice([rng.randint(0, 5), None, "x", [1, 2], {"k": 1}])
        if rng.random() < 0.3 and len(entry) > 2:
            entry.pop(rng.choice([k for k in entry if k not in ("id", "type")]))
        out[entry_id] = entry
    return out


def test_deltas_rebuild_every_full_value():
    """diff() on the client and rebuild() on the collector: full values survive, entries and
    fields appearing, changing and disappearing included."""
    rng = random.Random(7)
    previous, rebuilt = None, None
    for _ in range(300):
        current = random_sample(rng, previous or {})
        timestamp = deltas.common_timestamp(current) if rng.random() < 0.7 else None
        delta = json.loads(json.dumps(deltas.diff(previous, current, timestamp)))  # as it travels
        rebuilt = deltas.rebuild(rebuilt if previous is not None else None, delta, timestamp)
        assert sorted(rebuilt, key=lambda e: e["id"]) == sorted(current.values(), key=lambda e: e["id"])
        previous = current


def test_timestamps_shared_by_the_report_are_sent_once():
    first, second = sample(1000, 10_000, 10_000), sample(6000, 60_000, 40_000)
    second["RR"] = {"id": "RR", "type": "remote-inbound-rtp", "timestamp": 900.0, "roundTripTime": 0.02}
    first["RR"] = dict(second["RR"])
    timestamp = deltas.common_timestamp(second)
    delta = deltas.diff(first, second, timestamp)
    assert all("timestamp" not in e for e in delta if e["id"] != "RR")
    assert [e for e in delta if e["id"] == "RR"] == [{"id": "RR", "timestamp": 900.0}]  # its own, kept
    assert deltas.rebuild(list(first.values()), delta, timestamp) == list(second.values())


def test_a_delta_is_smaller_than_the_sample():
    first, second = sample(1000, 10_000, 10_000), sample(6000, 60_000, 40_000)
    delta = deltas.diff(first, second)
    assert len(json.dumps(delta)) < len(json.dumps(list(second.values()))) / 2
    assert {"id": "C1"} not in delta and all(e["id"] != "C1" for e in delta)  # unchanged: not sent


def test_collect_ip_false_leaves_no_address():
    from pyclient import privacy

    sample = {"L": {"id": "L", "type": "local-candidate", "address": "192.168.1.20", "ip": "192.168.1.20",
                    "port": 5000, "protocol": "udp", "candidateType": "host", "relatedAddress": "10.0.0.1"},
              "R": {"id": "R", "type": "remote-candidate", "address": "2001:db8::1", "port": 6000}}
    clean = privacy.redact_sample(sample)
    assert clean["L"] == {"id": "L", "type": "local-candidate", "port": 5000, "protocol": "udp",
                          "candidateType": "host"}
    sdp = "v=0\r\nc=IN IP4 203.0.113.7\r\na=candidate:1 1 udp 2122260223 192.168.1.20 5000 typ host\r\n" \
          "a=candidate:2 1 udp 1 2001:db8:0:1::5 6000 typ host\r\na=fingerprint:sha-256 AB:CD:EF:01:23\r\n"
    redacted = privacy.redact_sdp(sdp)
    assert "203.0.113.7" not in redacted and "192.168.1.20" not in redacted and "2001:db8" not in redacted
    assert "a=fingerprint:sha-256 AB:CD:EF:01:23" in redacted  # hex pairs are not addresses


def test_collect_ip_false_clears_addresses_in_free_text():
    """Firefox's stack traces name the page's URL; its host may be an address."""
    from pyclient import privacy

    stack = "@https://127.0.0.1:53935/call.html:46:5\nasync*@https://[2001:db8::7]:443/app.js:3:1"
    assert privacy.redact_text(stack) == "@https://0.0.0.0:53935/call.html:46:5\nasync*@https://[::]:443/app.js:3:1"
    # what only looks like an address stays: times, versions, fingerprints, out-of-range numbers
    for text in ("at 12:30:45", "Firefox/153.0", "AB:CD:EF:01", "10.0.0.256", "fe80"):
        assert privacy.redact_text(text) == text
    assert privacy.redact_text(None) is None
