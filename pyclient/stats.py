"""getStats() samples -> per-stream figures (csStatsCallback) and the deltas we upload.

A sample is the report's entries by id, as the loader gives them (one JSON value per poll).
Figures over an interval need two samples: the first poll of a stream reports it with quality
"unknown". Counters that go backwards (a stream restarted) give no figure for that interval.
"""

import json
from collections import Counter
from typing import Optional

from . import quality

RTP = ("inbound-rtp", "outbound-rtp")


def parse(report_json: str) -> dict[str, dict]:
    return {entry["id"]: entry for entry in json.loads(report_json) if isinstance(entry, dict) and "id" in entry}


def common_timestamp(sample: dict) -> Optional[float]:
    """The timestamp most entries of a report share (the report's own; remote-* entries carry the
    time of their RTCP report instead)."""
    times = Counter(e.get("timestamp") for e in sample.values() if isinstance(e.get("timestamp"), (int, float)))
    return times.most_common(1)[0][0] if times else None


def diff(previous: Optional[dict], current: dict, timestamp: Optional[float] = None) -> list[dict]:
    """What changed since the previous sample: new entries whole, changed fields of the others
    (with their id, and "removedFields" naming fields the entry no longer has), and
    {"id", "removed": true} for entries that are gone. With `timestamp` (the body's statsTimestamp)
    a known entry's timestamp is left out when it is that one, and given when it is not, changed or
    not: otherwise every entry of every report would be sent for its new timestamp alone (new
    entries go whole). The collector rebuilds every full value from these (collector.store.rebuild)."""
    previous = previous or {}
    out = []
    for entry_id, entry in current.items():
        before = previous.get(entry_id)
        if before is None:
            out.append(entry)
            continue
        changed = {k: v for k, v in entry.items() if k != "timestamp" and (k not in before or before[k] != v)}
        if "timestamp" in entry and ("timestamp" not in before or entry["timestamp"] != (
                timestamp if timestamp is not None else before["timestamp"])):
            changed["timestamp"] = entry["timestamp"]
        gone = sorted(before.keys() - entry.keys())
        if gone:
            changed["removedFields"] = gone
        if changed:
            out.append({"id": entry_id, **changed})
    out += [{"id": entry_id, "removed": True} for entry_id in previous.keys() - current.keys()]
    return out


def selected_pair(sample: dict) -> Optional[dict]:
    for entry in sample.values():
        if entry.get("type") == "transport" and entry.get("selectedCandidatePairId") in sample:
            return sample[entry["selectedCandidatePairId"]]
    for entry in sample.values():  # browsers without transport stats
        if entry.get("type") == "candidate-pair" and entry.get("nominated") and entry.get("state") == "succeeded":
            return entry
    return None


CANDIDATE_FIELDS = ("id", "candidateType", "protocol", "address", "port", "networkType", "relayProtocol", "priority",
                    "url")
PAIR_FIELDS = ("id", "localCandidateId", "remoteCandidateId", "state", "nominated", "priority")


def ice_candidates(sample: dict) -> dict:
    """The setup event's candidates and pairs (addresses only where the sample still has them)."""
    pair = selected_pair(sample)
    return {
        "localIceCandidates": [_picked(e, CANDIDATE_FIELDS) for e in sample.values() if e.get("type") == "local-candidate"],
        "remoteIceCandidates": [_picked(e, CANDIDATE_FIELDS) for e in sample.values()
                                if e.get("type") == "remote-candidate"],
        "iceCandidatePairs": [_picked(e, PAIR_FIELDS) for e in sample.values() if e.get("type") == "candidate-pair"],
        "selectedCandidatePairID": pair["id"] if pair else None,
    }


def pair_summary(sample: dict, pair: dict) -> dict:
    """A candidate pair with both its candidates, as transportchange and ice/status carry it."""
    local = sample.get(pair.get("localCandidateId"), {})
    remote = sample.get(pair.get("remoteCandidateId"), {})
    summary = {"id": pair["id"], "state": pair.get("state"),
               "localCandidate": _picked(local, CANDIDATE_FIELDS), "remoteCandidate": _picked(remote, CANDIDATE_FIELDS)}
    if local.get("candidateType") == "relay":
        summary["relayType"] = f"turn/{local.get('relayProtocol') or 'udp'}"
    return summary


def _picked(entry: dict, names: tuple) -> dict:
    return {k: entry[k] for k in names if entry.get(k) is not None}


def pair_rtt_ms(pair: Optional[dict]) -> Optional[float]:
    """The selected pair's current round trip (ms)."""
    if pair and pair.get("currentRoundTripTime") is not None:
        return pair["currentRoundTripTime"] * 1000
    return None


def streams(previous: Optional[dict], current: dict) -> list[dict]:
    """The Stream objects of SPEC part 1 for every inbound and outbound RTP stream."""
    rtt = pair_rtt_ms(selected_pair(current))
    remote_of = {e.get("localId"): e for e in current.values() if e.get("type") == "remote-inbound-rtp"}
    out = []
    for entry in current.values():
        if entry.get("type") not in RTP:
            continue
        before = (previous or {}).get(entry["id"])
        out.append(_stream(entry, before, current, remote_of.get(entry["id"]), rtt))
    return out


def _stream(entry: dict, before: Optional[dict], sample: dict, remote: Optional[dict], pair_rtt: Optional[float]) -> dict:
    outbound = entry["type"] == "outbound-rtp"
    media = entry.get("kind") or entry.get("mediaType")
    stream = {
        "ssrc": str(entry.get("ssrc")), "statsType": entry["type"], "mediaType": media,
        "bitrate": None, "packetRate": None, "fractionLoss": None, "quality": "unknown",
        "jitter": None, "rtt": pair_rtt, "mos": None,
        "frameRate": entry.get("framesPerSecond"), "frameWidth": entry.get("frameWidth"),
        "frameHeight": entry.get("frameHeight"), "qualityLimitationReason": entry.get("qualityLimitationReason"),
        "cname": None, "msid": entry.get("trackIdentifier"),
    }
    if outbound and remote:
        stream["jitter"] = _ms(remote.get("jitter"))
        stream["rtt"] = _ms(remote.get("roundTripTime")) if remote.get("roundTripTime") is not None else pair_rtt
    if not outbound:
        stream["jitter"] = _ms(entry.get("jitter"))
    if before is None:
        return stream
    seconds = (entry.get("timestamp", 0) - before.get("timestamp", 0)) / 1000
    bytes_key, packets_key = ("bytesSent", "packetsSent") if outbound else ("bytesReceived", "packetsReceived")
    d_bytes = _delta(entry, before, bytes_key)
    d_packets = _delta(entry, before, packets_key)
    if seconds > 0 and d_bytes is not None:
        stream["bitrate"] = round(d_bytes * 8 / seconds / 1000, 2)  # kbit/s
    if seconds > 0 and d_packets is not None:
        stream["packetRate"] = round(d_packets / seconds, 2)
    stream["fractionLoss"] = _outbound_loss(remote) if outbound else _inbound_loss(entry, before)
    if media == "audio":
        buffer_ms = None if outbound else _jitter_buffer_ms(entry, before)
        stream["mos"] = quality.audio_mos(stream["rtt"], stream["jitter"], stream["fractionLoss"], buffer_ms,
                                          _codec(sample, entry))
        stream["quality"] = quality.rating_of_mos(stream["mos"])
    else:
        expected_fps, expected_height = _sent_format(sample, entry) if outbound else (None, None)
        stream["quality"] = quality.video_rating(stream["fractionLoss"], stream["rtt"], stream["frameRate"],
                                                 expected_fps, stream["frameHeight"], expected_height)
    if not outbound and media == "video":
        stream["freezeCount"] = _delta(entry, before, "freezeCount")
    if not outbound and media == "audio":
        concealed, total = _delta(entry, before, "concealedSamples"), _delta(entry, before, "totalSamplesReceived")
        stream["concealment"] = round(concealed / total, 4) if concealed is not None and total else None
    return stream


def _ms(seconds) -> Optional[float]:
    return None if seconds is None else round(seconds * 1000, 3)


def _delta(entry: dict, before: dict, key: str) -> Optional[float]:
    now, then = entry.get(key), before.get(key)
    if now is None or then is None or now < then:  # missing, or the counter restarted
        return None
    return now - then


def _inbound_loss(entry: dict, before: dict) -> Optional[float]:
    lost, received = _delta(entry, before, "packetsLost"), _delta(entry, before, "packetsReceived")
    if lost is None or received is None:
        return None
    return round(lost / (lost + received), 4) if lost + received > 0 else 0.0


def _outbound_loss(remote: Optional[dict]) -> Optional[float]:
    if remote is None or remote.get("fractionLost") is None:
        return None
    return round(max(0.0, min(1.0, remote["fractionLost"])), 4)


def _jitter_buffer_ms(entry: dict, before: dict) -> Optional[float]:
    delay, emitted = _delta(entry, before, "jitterBufferDelay"), _delta(entry, before, "jitterBufferEmittedCount")
    return round(delay / emitted * 1000, 2) if delay is not None and emitted else None


def _codec(sample: dict, entry: dict) -> str:
    codec = sample.get(entry.get("codecId") or "", {})
    return (codec.get("mimeType") or "audio/opus").split("/")[-1]


def _sent_format(sample: dict, entry: dict) -> tuple[Optional[float], Optional[float]]:
    source = sample.get(entry.get("mediaSourceId") or "", {})
    return source.get("framesPerSecond"), source.get("height")
