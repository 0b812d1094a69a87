"""Splink 5 (DuckDB) deduplicating the same offender descriptions in batch, next to ours.

Every offender of every report becomes one row, cleaned with *our* normalisation (so the
comparison is about linkage, not cleaning): sex, age and height mid-points, build, hair
colour and length, full name, name tokens, registration (O/0 I/1 folded), mark tokens,
store, force, method. ``truth_id`` is kept aside and used only to count.

Splink's model is trained without labels, as its docs do it: the prior from
deterministic rules, u by random sampling, m by expectation maximisation on two blocking
rules. Pairwise predictions are then clustered (connected components) at several
match-probability thresholds, and pairwise precision and recall are counted exactly as
``shopwatch.matching.evaluation`` counts ours (pairs of offenders in the same cluster).

    uv run python bench/matching/splink_compare.py bench/out/matching-2k-20k-s7.jsonl \
        --ours bench/out/eval-s7.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from shopwatch.matching.evaluation import offenders_of, read_jsonl
from shopwatch.matching.normalise import canonical_vrm, normalise_offender

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99)


def rows_of(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    rows: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for record in records:
        try:
            offenders = offenders_of(record)
        except ValueError:
            continue
        for f, raw in zip(offenders, record["offenders"], strict=True):
            off = normalise_offender(f)
            if not off.describes_someone:
                continue
            uid = f"{f.report_id}:{f.offender_index}"
            truth[uid] = str(raw["truth_id"])
            tokens = sorted({t for m in off.marks for t in m.tokens()})
            rows.append(
                {
                    "unique_id": uid,
                    "sex": off.sex,
                    "age_mid": (off.age[0] + off.age[1]) / 2 if off.age else None,
                    "age_band": (off.age[0] + off.age[1]) // 10 if off.age else None,
                    "height_mid": (off.height[0] + off.height[1]) / 2 if off.height else None,
                    "build": off.build,
                    "hair_colour": off.hair.colour if off.hair else None,
                    "hair_length": off.hair.length if off.hair else None,
                    "name": off.names[0] if off.names else None,
                    "name_tokens": sorted(off.name_tokens) or None,
                    "vrm": canonical_vrm(off.vrm) if off.vrm else None,
                    "mark_tokens": tokens or None,
                    "store_id": off.store_id,
                    "force": off.force,
                    "method": off.method,
                }
            )
    return rows, truth


def pairwise(clusters: dict[str, str], truth: dict[str, str]) -> tuple[float, float, int]:
    cell: Counter[tuple[str, str]] = Counter()
    for uid, t in truth.items():
        cell[(clusters.get(uid, uid), t)] += 1
    by_c: Counter[str] = Counter()
    by_t: Counter[str] = Counter()
    for (c, t), n in cell.items():
        by_c[c] += n
        by_t[t] += n

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    tp = sum(pairs(n) for n in cell.values())
    pred = sum(pairs(n) for n in by_c.values())
    actual = sum(pairs(n) for n in by_t.values())
    return (tp / pred if pred else 1.0), (tp / actual if actual else 0.0), pred


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--ours", type=Path, help="our eval JSON on the same file, to show beside")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    rows, truth = rows_of(read_jsonl(args.file))
    db = DuckDBAPI()
    df = db.register(rows, table_name="offenders")
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("sex"),
            cl.CustomComparison(
                [
                    cll.NullLevel("age_mid"),
                    cll.AbsoluteDifferenceLevel("age_mid", 3),
                    cll.AbsoluteDifferenceLevel("age_mid", 7),
                    cll.ElseLevel(),
                ],
                output_column_name="age_mid",
            ),
            cl.CustomComparison(
                [
                    cll.NullLevel("height_mid"),
                    cll.AbsoluteDifferenceLevel("height_mid", 5),
                    cll.AbsoluteDifferenceLevel("height_mid", 10),
                    cll.ElseLevel(),
                ],
                output_column_name="height_mid",
            ),
            cl.ExactMatch("build"),
            cl.ExactMatch("hair_colour"),
            cl.ExactMatch("hair_length"),
            cl.JaroWinklerAtThresholds("name", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("vrm", [1, 2]),
            cl.ArrayIntersectAtSizes("mark_tokens", [3, 2, 1]),
            cl.ExactMatch("store_id"),
            cl.ExactMatch("method"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("store_id"),
            block_on("force", "sex", "age_band", "build"),
            block_on("force", "sex", "age_band", "hair_colour"),
            block_on("vrm"),
            block_on("name"),
        ],
    )
    linker = Linker(df, settings, log_level=logging.WARNING)
    # The deterministic rules can only find pairs where both records carry a name or a
    # plate, so their recall is about the chance of that, from the fill rates (no truth).
    f_name = sum(r["name"] is not None for r in rows) / len(rows)
    f_vrm = sum(r["vrm"] is not None for r in rows) / len(rows)
    rule_recall = min(0.9, max(0.005, f_name**2 + f_vrm**2))
    linker.training.estimate_probability_two_random_records_match(
        [block_on("name", "sex"), block_on("vrm")], recall=rule_recall
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("store_id"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("force", "sex", "age_band")
    )
    predictions = linker.inference.predict(threshold_match_probability=min(THRESHOLDS))
    n_pairs_scored = len(predictions.as_record_list())
    results = []
    for threshold in THRESHOLDS:
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        clusters = {str(r["unique_id"]): str(r["cluster_id"]) for r in clustered.as_record_list()}
        precision, recall, pred = pairwise(clusters, truth)
        results.append(
            {
                "threshold": threshold,
                "pairwise_precision": round(precision, 4),
                "pairwise_recall": round(recall, 4),
                "predicted_pairs": pred,
                "clusters": len(set(clusters.values())),
            }
        )
    out: dict[str, Any] = {
        "file": str(args.file),
        "records": len(rows),
        "true_people": len(set(truth.values())),
        "splink": {
            "version": __import__("splink").__version__,
            "backend": "duckdb " + __import__("duckdb").__version__,
            "pairs_above_lowest_threshold": n_pairs_scored,
            "deterministic_rule_recall_assumed": round(rule_recall, 4),
            "by_threshold": results,
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    if args.ours:
        ours = json.loads(args.ours.read_text())
        out["ours"] = {
            "pairwise_precision": ours["auto_link"]["pairwise_precision"],
            "pairwise_recall": ours["auto_link"]["pairwise_recall"],
            "profiles_made": ours["profiles_made"],
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
