"""Where stores are, and which stores are near each other.

Offenders work a patch: the town centre and the retail park beside it, not one store. A
report at a store the profile never used, but a few kilometres from one it did, is
evidence of the same person (the issue's "the same or nearby stores"). Stores are learned
from the requests that carry a location (the store's registered latitude and longitude),
and the service keeps them, so this needs no gazetteer.

Pure: no I/O. Lookups are by a grid of cells about `NEAR_KM` wide, so finding a store's
neighbours reads nine cells, not every store.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

# What "nearby" means: a walk or a short bus ride, within a shoplifter's patch.
NEAR_KM = 5.0
EARTH_RADIUS_KM = 6371.0
# Cells at least NEAR_KM wide, so a store's neighbours are all in the 3 x 3 cells around
# its own. A degree of latitude is ~111 km; one of longitude shrinks with latitude, so its
# cells are sized for the northernmost the contract allows (61.5 degrees, Shetland).
_KM_PER_DEGREE = 111.0
_LAT_CELL_DEG = NEAR_KM / _KM_PER_DEGREE
_LON_CELL_DEG = NEAR_KM / (_KM_PER_DEGREE * math.cos(math.radians(61.5)))

Location = tuple[float, float]  # (latitude, longitude), WGS84 degrees


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _cell(location: Location) -> tuple[int, int]:
    return math.floor(location[0] / _LAT_CELL_DEG), math.floor(location[1] / _LON_CELL_DEG)


class StoreGeography:
    """Store locations, and each store's neighbours within `NEAR_KM`."""

    def __init__(self, locations: Mapping[str, Location] | None = None) -> None:
        self._where: dict[str, Location] = {}
        self._cells: dict[tuple[int, int], set[str]] = defaultdict(set)
        self._nearby: dict[str, frozenset[str]] = {}
        for store_id, location in (locations or {}).items():
            self.learn(store_id, location)

    def __len__(self) -> int:
        return len(self._where)

    def location(self, store_id: str) -> Location | None:
        return self._where.get(store_id)

    def learn(self, store_id: str, location: Location) -> bool:
        """Remember where a store is; True if that is new (the caller may persist it)."""
        old = self._where.get(store_id)
        if old == location:
            return False
        if old is not None:
            self._cells[_cell(old)].discard(store_id)
        self._where[store_id] = location
        self._cells[_cell(location)].add(store_id)
        self._nearby.clear()  # a store that moved or appeared changes others' neighbours
        return True

    def nearby(self, store_id: str) -> frozenset[str]:
        """Other known stores within `NEAR_KM` of this one (empty if it is not known)."""
        found = self._nearby.get(store_id)
        if found is not None:
            return found
        here = self._where.get(store_id)
        if here is None:
            return frozenset()
        found = self.near(here) - {store_id}
        self._nearby[store_id] = found
        return found

    def near(self, location: Location) -> frozenset[str]:
        """Known stores within `NEAR_KM` of a point."""
        row, col = _cell(location)
        return frozenset(
            other
            for other in _around(self._cells, row, col)
            if distance_km(location, self._where[other]) <= NEAR_KM
        )

    def items(self) -> Iterable[tuple[str, Location]]:
        return self._where.items()


def _around(cells: Mapping[tuple[int, int], set[str]], row: int, col: int) -> Iterable[str]:
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            yield from cells.get((row + dr, col + dc), ())
