"""The client's reading of a getStats() report: its entries by id (a sample), and the candidates and
pairs that setup, transportchange and ice/status events carry. Figures and deltas are shared with
the collector (callwire.figures, callwire.deltas)."""

import json

from callwire.figures import selected_pair


def parse(report_json: str) -> dict[str, dict]:
    return {entry["id"]: entry for entry in json.loads(report_json) if isinstance(entry, dict) and "id" in entry}


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
