"""Measure matching quality on reports whose offenders carry a ``truth_id``.

The matcher runs online over the reports in time order and never sees ``truth_id``; the
truth is used only here, afterwards, to count:

* **auto-link pairwise precision / recall**: over all pairs of described offenders, a
  pair is *predicted* when both ended in the same profile (profiles here grow only by
  auto-links) and *true* when both carry the same ``truth_id``;
* **top-k recall**: for each offender whose person had been seen before (an earlier
  offender with the same ``truth_id`` was matched), whether a profile holding one of
  that person's earlier offenders was among the ``k`` best-scored candidates;
* **profiles made vs true people**.

``evaluate`` takes any iterable of report records (dicts as the generator writes them);
``main`` is the command line (``python -m shopwatch.matching.evaluation FILE.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from shopwatch.matching.domain import Decision, Matcher, MatcherConfig, OffenderFeatures

_TEXT_FIELDS = (
    "sex",
    "build",
    "hair",
    "clothing",
    "distinguishing_features",
    "name",
    "vehicle_registration",
)
_INT_FIELDS = ("age_min", "age_max", "height_min_cm", "height_max_cm")


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    v = raw.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{key}: must be text")
    return v


def _opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key}: must be a whole number")
    return v


def _opt_location(record: Mapping[str, Any]) -> tuple[float, float] | None:
    """`store_location` as the contract writes it: {"latitude": .., "longitude": ..}."""
    raw = record.get("store_location")
    if raw is None:
        return None
    try:
        return float(raw["latitude"]), float(raw["longitude"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"store_location: must be an object with numeric latitude and longitude ({exc!r})"
        ) from exc


def offenders_of(record: Mapping[str, Any]) -> list[OffenderFeatures]:
    """The offenders of one report record as ``OffenderFeatures``.

    Reads only the fields the matcher uses: ``truth_id`` and any ethnicity code in the
    record are left behind. Raises ``ValueError`` for a malformed record.
    """
    try:
        report_id = str(record["report_id"])
        store_id = str(record["store_id"])
        force = str(record["force"])
        occurred_at = datetime.fromisoformat(str(record["occurred_at"]))
        store_location = _opt_location(record)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"report record: {exc}") from exc
    offenders = record.get("offenders") or []
    if not isinstance(offenders, list):
        raise ValueError("offenders: must be a list")
    out = []
    for i, raw in enumerate(offenders):
        if not isinstance(raw, Mapping):
            raise ValueError(f"offenders[{i}]: must be an object")
        aliases = raw.get("aliases") or []
        if not isinstance(aliases, list):
            raise ValueError(f"offenders[{i}].aliases: must be a list")
        text = {k: _opt_str(raw, k) for k in _TEXT_FIELDS}
        ints = {k: _opt_int(raw, k) for k in _INT_FIELDS}
        out.append(
            OffenderFeatures(
                report_id=report_id,
                offender_index=i,
                store_id=store_id,
                force=force,
                occurred_at=occurred_at,
                offence_type=_opt_str(record, "offence_type"),
                method=_opt_str(record, "method"),
                store_location=store_location,
                aliases=tuple(str(a) for a in aliases),
                **text,  # type: ignore[arg-type]
                **ints,  # type: ignore[arg-type]
            )
        )
    return out


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _sort_key(record: Mapping[str, Any]) -> tuple[str, str]:
    return (str(record.get("occurred_at", "")), str(record.get("report_id", "")))


def evaluate(
    records: Iterable[Mapping[str, Any]],
    *,
    config: MatcherConfig | None = None,
    assignments: IO[str] | None = None,
    top_k: int = 5,
) -> dict[str, Any]:
    """Run a fresh matcher over ``records`` in time order and measure it against truth."""
    ordered = sorted(records, key=_sort_key)
    matcher = Matcher(config=config)
    truth_of: dict[tuple[str, int], str] = {}
    members_truth: dict[str, set[str]] = defaultdict(set)  # profile -> truth ids inside
    seen_truth: set[str] = set()
    decisions: Counter[str] = Counter()
    seen_before = hits_top_k = hits_top_1 = 0
    linked_seen_before = 0
    rejected = 0
    flags = 0
    latencies: list[float] = []
    started = time.perf_counter()
    for record in ordered:
        try:
            offenders = offenders_of(record)
        except ValueError:
            rejected += 1
            continue
        raw_offenders = record.get("offenders") or []
        truths = [str(o.get("truth_id", "")) for o in raw_offenders]
        t0 = time.perf_counter()
        results = matcher.match(offenders)
        latencies.append(time.perf_counter() - t0)
        for res, truth in zip(results, truths, strict=True):
            decisions[res.decision] += 1
            flags += len(res.flags)
            if res.decision == Decision.NOT_DESCRIBED or not truth:
                continue
            if truth in seen_truth:
                seen_before += 1
                ranked = [c.profile_id for c in res.candidates[:top_k]]
                good = [pid for pid in ranked if truth in members_truth[pid]]
                if good:
                    hits_top_k += 1
                    if ranked[0] == good[0]:
                        hits_top_1 += 1
                if res.decision == Decision.AUTO_LINK and truth in members_truth.get(
                    res.profile_id or "", set()
                ):
                    linked_seen_before += 1
            assert res.profile_id is not None
            members_truth[res.profile_id].add(truth)
            truth_of[(res.report_id, res.offender_index)] = truth
            seen_truth.add(truth)
            if assignments is not None:
                assignments.write(
                    json.dumps(
                        {
                            "report_id": res.report_id,
                            "offender_index": res.offender_index,
                            "truth_id": truth,
                            "decision": res.decision,
                            "profile_id": res.profile_id,
                            "score": None if res.score is None else round(res.score, 2),
                            "candidates": [
                                {"profile_id": c.profile_id, "score": round(c.score, 2)}
                                for c in res.candidates[:top_k]
                            ],
                        },
                        separators=(",", ":"),
                    )
                    + "\n"
                )
    elapsed = time.perf_counter() - started

    # Pairwise counts from the final clustering (profile x truth contingency table).
    cell: Counter[tuple[str, str]] = Counter()
    for (report_id, idx), truth in truth_of.items():
        profile = matcher.profile_of(report_id, idx)
        assert profile is not None
        cell[(profile.profile_id, truth)] += 1
    by_profile: Counter[str] = Counter()
    by_truth: Counter[str] = Counter()
    for (pid, truth), n in cell.items():
        by_profile[pid] += n
        by_truth[truth] += n
    tp = sum(_pairs(n) for n in cell.values())
    predicted = sum(_pairs(n) for n in by_profile.values())
    actual = sum(_pairs(n) for n in by_truth.values())
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)

    return {
        "reports": len(ordered),
        "reports_rejected": rejected,
        "offenders": sum(decisions.values()),
        "decisions": dict(sorted(decisions.items())),
        "auto_link": {
            "pairwise_precision": round(tp / predicted, 4) if predicted else None,
            "pairwise_recall": round(tp / actual, 4) if actual else None,
            "predicted_pairs": predicted,
            "true_pairs": actual,
            "correct_pairs": tp,
        },
        f"top{top_k}_recall": round(hits_top_k / seen_before, 4) if seen_before else None,
        "top1_recall": round(hits_top_1 / seen_before, 4) if seen_before else None,
        "offenders_seen_before": seen_before,
        "seen_before_auto_linked_correctly": linked_seen_before,
        "profiles_made": len(by_profile),
        "true_people": len(by_truth),
        "prolific_flags": flags,
        "thresholds": {
            "auto_link": matcher.config.auto_link,
            "weak_auto_link": matcher.config.weak_auto_link,
            "review": matcher.config.review,
            "margin": matcher.config.margin,
        },
        "timing": {
            "seconds": round(elapsed, 2),
            "report_ms_p50": pct(0.5),
            "report_ms_p99": pct(0.99),
        },
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    return records


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="shopwatch matching eval",
        description="Run the matcher over FILE.jsonl in time order; print quality as JSON.",
    )
    ap.add_argument("file", type=Path)
    ap.add_argument("--assignments", type=Path, help="write per-offender assignments here")
    ap.add_argument("--auto-link", type=float, default=None)
    ap.add_argument("--weak-auto-link", type=float, default=None)
    ap.add_argument("--review", type=float, default=None)
    ap.add_argument("--margin", type=float, default=None)
    ap.add_argument("--top-k", type=int, default=5)
    args = ap.parse_args(argv)
    base = MatcherConfig()
    config = MatcherConfig(
        auto_link=base.auto_link if args.auto_link is None else args.auto_link,
        weak_auto_link=base.weak_auto_link if args.weak_auto_link is None else args.weak_auto_link,
        review=base.review if args.review is None else args.review,
        margin=base.margin if args.margin is None else args.margin,
        top_k=max(args.top_k, base.top_k),
    )
    try:
        records = read_jsonl(args.file)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.assignments:
        with args.assignments.open("w", encoding="utf-8") as out:
            report = evaluate(records, config=config, assignments=out, top_k=args.top_k)
    else:
        report = evaluate(records, config=config, top_k=args.top_k)
    report["file"] = str(args.file)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
