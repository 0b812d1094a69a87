"""Benchmark: match reports against N loaded profiles; the rapidfuzz cdist floor beside it.

Profiles are built the way the service builds them on start (``Matcher(profiles)`` indexes
stored profiles, streamed one at a time), from generated descriptions spread over the 43
forces of England and Wales and 200 stores each; 20% of profiles carry two to four reports.
Then ``--queries`` reports (a sixth with two offenders; half the offenders are people
already profiled, half new) are matched one at a time and timed. In the same run, for
every query, the floor: the same blocking, then rapidfuzz ``process.cdist`` of the query's
description string against the blocked candidates' description strings (one C call, no
explanations).

Timed runs hold the exclusive stack lock (``flock -x /tmp/shopwatch-stack.lock ...``):

    uv run python bench/matching/bench_match.py --profiles 1000000 --queries 2000
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import resource
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from rapidfuzz import fuzz, process

from shopwatch.matching.blocking import FORCE_NEIGHBOURS, query_keys
from shopwatch.matching.domain import Matcher
from shopwatch.matching.evaluation import offenders_of
from shopwatch.matching.normalise import NormalisedOffender, normalise_offender
from shopwatch.matching.profiles import Member, Profile


def _load_generator() -> ModuleType:
    path = Path(__file__).with_name("generate.py")
    spec = importlib.util.spec_from_file_location("matching_generate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
FORCES = sorted(f for f in FORCE_NEIGHBOURS if f not in ("police-scotland",))
STORES_PER_FORCE = 200
BASE = datetime(2025, 1, 1, tzinfo=UTC)


def _record(rng: random.Random, n: int, person: Any, force: str, store: str) -> dict[str, Any]:
    return {
        "report_id": f"B{n:09d}",
        "store_id": store,
        "force": force,
        "occurred_at": (BASE + timedelta(days=rng.randrange(365))).isoformat(),
        "offence_type": "theft_from_shop",
        "method": person.method if rng.random() < 0.65 else rng.choice(GEN.METHODS),
        "offenders": [GEN.describe(rng, person)],
    }


def _home(rng: random.Random) -> tuple[str, list[str]]:
    force = rng.choice(FORCES)
    start = rng.randrange(STORES_PER_FORCE)
    return force, [f"{force}-s{(start + j) % STORES_PER_FORCE:03d}" for j in range(4)]


def build_profiles(
    n: int, seed: int, keep: int, kept: list[tuple[Any, str, list[str]]], spent: list[float]
) -> Iterator[Profile]:
    """``n`` profiles, one at a time, and ``keep`` of their people (with home force and
    stores) appended to ``kept`` for queries; time spent generating is added to ``spent[0]``.

    A generator, as the service streams stored profiles into the matcher on start: the
    matcher packs each one as it comes, so the whole list never exists as objects.
    """
    rng = random.Random(seed)
    stores = {f: [f"{f}-s{i:03d}" for i in range(STORES_PER_FORCE)] for f in GEN.STORES_PER_FORCE}
    report = 0
    made = 0
    chunk = 5_000
    while made < n:
        t0 = time.perf_counter()
        people = GEN._make_people(rng, min(chunk, n - made), stores)
        spent[0] += time.perf_counter() - t0
        for person in people:
            t0 = time.perf_counter()
            force, favourites = _home(rng)
            profile = Profile(f"P{made:09d}")
            for _ in range(rng.choice((2, 3, 4)) if rng.random() < 0.2 else 1):
                record = _record(rng, report, person, force, rng.choice(favourites))
                report += 1
                f = offenders_of(record)[0]
                off = normalise_offender(f)
                day = off.day
                profile.add(
                    off, Member(f.report_id, 0, f.store_id, f.force, day, off.offence, off.method)
                )
            made += 1
            if len(kept) < keep and rng.random() < 0.05:
                kept.append((person, force, favourites))
            spent[0] += time.perf_counter() - t0
            yield profile


def _desc(off: NormalisedOffender) -> str:
    """A flat description string for the cdist floor."""
    parts = [off.sex or "", off.build or ""]
    if off.age:
        parts.append(f"a{(off.age[0] + off.age[1]) // 10}")
    if off.hair:
        parts += [off.hair.colour or "", off.hair.length or ""]
    parts += list(off.names) + [off.vrm] + [" ".join(sorted(m.tokens())) for m in off.marks]
    return " ".join(p for p in parts if p)


def _profile_desc(p: Profile) -> str:
    s = p.summary()
    parts = [s.sex or "", s.build or ""]
    if p.age:
        parts.append(f"a{int(p.age.mid) // 5}")
    parts += [s.hair_colour or "", s.hair_length or ""]
    parts += (
        list(p.names or ())
        + list(p.vrms or ())
        + [" ".join(sorted(m.tokens())) for m in p.marks or ()]
    )
    return " ".join(x for x in parts if x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)

    kept: list[tuple[Any, str, list[str]]] = []
    generating = [0.0]
    t0 = time.perf_counter()
    matcher = Matcher(build_profiles(args.profiles, args.seed, args.queries, kept, generating))
    gc.collect()
    t_build = generating[0]
    t_index = time.perf_counter() - t0 - t_build
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = matcher._s.profiles
    packed, objects = table.packed_count(), table.object_count()

    rng = random.Random(args.seed + 1)
    stores = {f: [f"{f}-s{i:03d}" for i in range(STORES_PER_FORCE)] for f in GEN.STORES_PER_FORCE}
    fresh = GEN._make_people(rng, args.queries, stores)
    queries = []
    for q in range(args.queries):
        if q % 2 == 0 and kept:
            person, force, favourites = kept[q % len(kept)]
        else:
            person = fresh[q]
            force, favourites = _home(rng)
        record = _record(rng, 10**9 + q, person, force, rng.choice(favourites))
        if q % 6 == 0:
            mate = fresh[(q + 1) % len(fresh)]
            record["offenders"].append(GEN.describe(rng, mate))
        queries.append(offenders_of(record))

    ours: list[float] = []
    floor: list[float] = []
    blocked_sizes: list[int] = []
    decisions: dict[str, int] = {}
    index = matcher.index
    for offenders in queries:
        # Floor: the same normalising and blocking, then one cdist call per offender over
        # the blocked candidates' description strings (built outside the timed part).
        spent = 0.0
        for f in offenders:
            t0 = time.perf_counter()
            off = normalise_offender(f)
            cands = index.candidates(query_keys(off), cap=matcher.config.candidate_cap)
            spent += time.perf_counter() - t0
            blocked_sizes.append(len(cands))
            # peek: the floor must not warm the matcher's cache of materialised profiles.
            profs = [table.peek(c.pid) for c in cands]
            choices = [_profile_desc(p) for p in profs if p is not None]
            query = _desc(off)
            t0 = time.perf_counter()
            if choices:
                process.cdist([query], choices, scorer=fuzz.token_set_ratio)
            spent += time.perf_counter() - t0
        floor.append(spent)
        t0 = time.perf_counter()
        results = matcher.match(offenders)
        ours.append(time.perf_counter() - t0)
        for r in results:
            decisions[r.decision] = decisions.get(r.decision, 0) + 1

    def pct(xs: list[float], q: float) -> float:
        s = sorted(xs)
        return s[min(len(s) - 1, int(q * len(s)))] * 1000

    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "profiles": args.profiles,
        "queries": args.queries,
        "offenders": sum(len(q) for q in queries),
        "build_profiles_s": round(t_build, 1),
        "index_on_start_s": round(t_index, 1),
        "profiles_packed": packed,
        "profiles_as_objects": objects,
        "index_keys": len(index),
        "index_postings": index.postings_count(),
        "blocked_candidates_mean": round(sum(blocked_sizes) / len(blocked_sizes), 1),
        "decisions": decisions,
        "ours_ms": {"p50": round(pct(ours, 0.5), 2), "p99": round(pct(ours, 0.99), 2)},
        "ours_reports_per_s": round(len(ours) / sum(ours), 1),
        "cdist_floor_ms": {"p50": round(pct(floor, 0.5), 2), "p99": round(pct(floor, 0.99), 2)},
        "cdist_floor_reports_per_s": round(len(floor) / sum(floor), 1),
        "ratio_ours_to_floor": {
            "p50": round(pct(ours, 0.5) / pct(floor, 0.5), 2),
            "p99": round(pct(ours, 0.99) / pct(floor, 0.99), 2),
            "throughput": round(sum(ours) / sum(floor), 2),
        },
        "rss_after_load_mib": round(rss_loaded),
        "peak_rss_mib": round(rss_peak),
        "python": sys.version.split()[0],
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
