"""The in-memory blocking index: key -> the profiles indexed under it.

Rebuilt from the stored profiles when the service starts and kept current on every link.
Postings are ``array('I')`` of internal profile numbers (4 bytes each), appended in the
order profiles were created or updated, so the *tail* of a posting list is the most
recent activity. A very common key (``tattoo:arm``, a big force's ``male, 25-29``) is read
only up to ``max_postings_per_key`` entries from the tail: recent profiles are the likely
ones and the work per query stays bounded whatever the size of the index.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np

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

        A vague description reads tens of thousands of postings, so the counting is done
        in numpy: one sort of (profile, kind) codes gives each profile's distinct kinds,
        whose weights are summed and whose bits make the reasons.
        """
        parts: list[np.ndarray] = []
        part_kinds: list[int] = []
        kind_bit: dict[str, int] = {}  # in the order first asked for: the order of reasons
        limit = self.max_postings_per_key
        postings = self._postings
        for kind, key in keys:
            plist = postings.get(key)
            if plist is None:
                continue
            bit = kind_bit.get(kind)
            if bit is None:
                bit = kind_bit[kind] = len(kind_bit)
            n = int(limit * KIND_POSTINGS_SHARE.get(kind, 1.0))
            view = np.frombuffer(plist, dtype=np.uint32)
            parts.append(view[-n:] if len(view) > n else view)
            part_kinds.append(bit)
        if not parts:
            return []
        sizes = [len(p) for p in parts]
        codes = np.concatenate(parts).astype(np.int64) << _KIND_BITS
        del parts, view  # no view may outlive the call: an array with a view cannot grow
        codes |= np.repeat(np.array(part_kinds, dtype=np.int64), sizes)
        codes.sort()
        codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))]  # each pair once
        pids, bits = codes >> _KIND_BITS, codes & _KIND_MASK
        starts = np.flatnonzero(np.concatenate(([True], pids[1:] != pids[:-1])))
        kinds = list(kind_bit)
        weight_of = np.array([KIND_WEIGHTS[k] for k in kinds], dtype=np.int64)
        total = np.add.reduceat(weight_of[bits], starts)
        masks = np.bitwise_or.reduceat(np.left_shift(1, bits), starts)
        pids = pids[starts]
        if exclude:
            keep = ~np.isin(pids, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
            pids, total, masks = pids[keep], total[keep], masks[keep]
        # One int per profile, weight above pid: sorting it orders by weight, then by
        # recency (a higher pid was indexed later).
        packed = (total << 32) | pids
        chosen = np.arange(len(packed))
        if len(packed) > cap:
            chosen = np.argpartition(packed, len(packed) - cap)[-cap:]
        chosen = chosen[np.argsort(packed[chosen])[::-1]]
        reasons: dict[int, tuple[str, ...]] = {}
        out: list[Candidate] = []
        for pid, weight, mask in zip(
            pids[chosen].tolist(), total[chosen].tolist(), masks[chosen].tolist(), strict=True
        ):
            why = reasons.get(mask)
            if why is None:
                why = reasons[mask] = tuple(k for j, k in enumerate(kinds) if mask >> j & 1)
            out.append(Candidate(pid, why, weight))
        return out


_KIND_BITS = 5  # up to 32 kinds
_KIND_MASK = (1 << _KIND_BITS) - 1
assert len(KIND_WEIGHTS) <= 1 << _KIND_BITS
