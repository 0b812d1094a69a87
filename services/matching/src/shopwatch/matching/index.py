"""The in-memory blocking index: key -> the profiles indexed under it.

Rebuilt from the stored profiles when the service starts and kept current on every link.
Postings are ``array('I')`` of internal profile numbers (4 bytes each), appended in the
order profiles were created or updated, so the *tail* of a posting list is the most
recent activity. A very common key (``tattoo:arm``, a big force's ``male, 25-29``) is read
only up to ``max_postings_per_key`` entries from the tail: recent profiles are the likely
ones and the work per query stays bounded whatever the size of the index.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from shopwatch.matching.blocking import KIND_WEIGHTS, Key

DEFAULT_CAP = 200
DEFAULT_MAX_POSTINGS = 2_000
# Broad area keys are read less deep than selective ones: among thousands of profiles
# that only share a force, sex and age band, the most recent few hundred are the ones
# worth scoring, and the work per query stays bounded at any index size.
KIND_POSTINGS_SHARE: dict[str, float] = {
    "area_age": 0.25,
    "area_height": 0.25,
    "area_build": 0.25,
    "area_hair": 0.25,
    "near_age": 0.1,
    "near_height": 0.1,
    "near_build": 0.1,
    "near_hair": 0.1,
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A profile worth scoring, with the blocking kinds it was found through."""

    pid: int
    reasons: tuple[str, ...]
    rank_weight: int


class BlockingIndex:
    def __init__(self, *, max_postings_per_key: int = DEFAULT_MAX_POSTINGS) -> None:
        self._postings: dict[str, array[int]] = {}
        self.max_postings_per_key = max_postings_per_key

    def __len__(self) -> int:
        return len(self._postings)

    def add(self, pid: int, keys: Iterable[str]) -> None:
        postings = self._postings
        for key in keys:
            plist = postings.get(key)
            if plist is None:
                postings[key] = array("I", (pid,))
            elif plist[-1] != pid:
                plist.append(pid)

    def document_frequency(self, key: str) -> int:
        """How many profiles are indexed under ``key`` (approximately: re-adds count)."""
        plist = self._postings.get(key)
        return 0 if plist is None else len(plist)

    def postings_count(self) -> int:
        return sum(len(p) for p in self._postings.values())

    def candidates(
        self,
        keys: Iterable[Key],
        *,
        cap: int = DEFAULT_CAP,
        exclude: Collection[int] = (),
    ) -> list[Candidate]:
        """At most ``cap`` profiles found through ``keys``, best-supported first.

        Ranking: the sum of the weights of the *kinds* a profile was found through (each
        kind counts once), then the most recently indexed first. Weak kinds read fewer
        postings (``KIND_POSTINGS_SHARE``) than selective ones.
        """
        by_kind: dict[str, set[int]] = {}
        limit = self.max_postings_per_key
        postings = self._postings
        for kind, key in keys:
            plist = postings.get(key)
            if plist is None:
                continue
            bucket = by_kind.get(kind)
            if bucket is None:
                bucket = by_kind[kind] = set()
            n = int(limit * KIND_POSTINGS_SHARE.get(kind, 1.0))
            bucket.update(plist[-n:] if len(plist) > n else plist)
        if not by_kind:
            return []
        weight: Counter[int] = Counter()
        for kind, pids in by_kind.items():
            for _ in range(KIND_WEIGHTS[kind]):  # Counter.update counts in C
                weight.update(pids)
        for pid in exclude:
            weight.pop(pid, None)
        # One int per profile, weight above pid, so the C heap orders by weight then by
        # recency (a higher pid was indexed later) without a Python key function.
        packed = [(w << 32) | pid for pid, w in weight.items()]
        best = heapq.nlargest(cap, packed)
        out: list[Candidate] = []
        for code in best:
            pid = code & 0xFFFFFFFF
            reasons = tuple(kind for kind, pids in by_kind.items() if pid in pids)
            out.append(Candidate(pid, reasons, code >> 32))
        return out
