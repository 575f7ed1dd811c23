"""Stats as they travel: a getStats() sample sent as what changed since the one before it
(`diff`, the client), and each full sample rebuilt from those changes (`rebuild`, the collector).

A sample is the report's entries by id. A delta is a list of entries: new entries whole, the changed
fields of the others (with their id), {"id", "removed": true} for entries that are gone.
"""

from collections import Counter
from typing import Optional


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
    entries go whole). `rebuild` gives every full value back."""
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


def rebuild(previous: Optional[list], entries: list[dict], stats_timestamp: Optional[float] = None) -> list[dict]:
    """Full values of a sample: a delta entry updates the previous entry with the same id (and drops
    the fields it lists in "removedFields"), an entry {"id", "removed": true} drops the entry, and
    entries not mentioned are unchanged. No previous sample: every entry is new. With the body's
    statsTimestamp, every known entry has that timestamp unless it names its own (see `diff`)."""
    full = {e["id"]: e for e in (previous or [])}
    if stats_timestamp is not None:  # known entries that had a timestamp now have the report's
        full = {i: {**e, "timestamp": stats_timestamp} if "timestamp" in e else e for i, e in full.items()}
    for entry in entries:
        entry_id = entry.get("id")
        if entry_id is None:
            continue
        if entry.get("removed") is True:
            full.pop(entry_id, None)
            continue
        merged = {**full.get(entry_id, {}), **entry}
        for name in entry.get("removedFields") or []:
            merged.pop(name, None)
        merged.pop("removedFields", None)
        full[entry_id] = merged
    return list(full.values())
