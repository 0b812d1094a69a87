"""The matcher's profile table: most profiles packed in rows of bytes, the rest as objects.

With a million profiles the Python objects of a ``Profile`` (its dataclass, a ``Member``,
a dict per count, two ``RangeStats``) cost about 2.7 KiB each. Most profiles hold a single
report, and a single report's aggregates are small values: codes of interned strings
(store, force, method, build, hair, clothing tokens), two bytes per range, a day number.
``ProfileTable`` keeps those profiles as fixed-size rows in one ``bytearray`` (plus the two
id strings and, when there are any, a tuple of names, plates and marks: about 0.2 KiB a
profile, and nothing for the garbage collector to walk), and the others (several reports,
prolific state, anything a row cannot hold *exactly*) as ``Profile`` objects.

Reading a packed row materialises a fresh ``Profile`` equal to the one stored. The last
``cache_size`` of them are kept (256), so the matcher can change one it just read (a link adds a
report); when a changed one (``Profile.version``, prolific state) leaves the cache it is
packed again if it still fits a row, or kept as an object if it no longer does. Callers
therefore must not keep a ``Profile`` read from the table and change it after many other
reads (the matcher changes a profile right after reading it, with no other read between).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, cast

from shopwatch.matching.normalise import Mark
from shopwatch.matching.profiles import Member, Profile, RangeStats

# A little above the candidate cap (200), so scoring's second pass over the candidates finds
# them still materialised. Not more: a materialised profile that lives long reaches the
# oldest GC generation, and full collections then come often (measured at 100k profiles:
# 20,000 cached cost 2 full collections and 1.1 s of GC in 1,000 reports, 256 none).
DEFAULT_CACHE_SIZE = 256
_REMOVED, _PACKED, _OBJECT = 0, 1, 2
_NO_RANGE = 255  # ages (0..120) and heights (50..250 cm) fit a byte below it
_NONE_RANGE = (_NO_RANGE, _NO_RANGE)
_GROW = 4096  # rows added at a time

# One row: the day, then codes (in ``_Codes``) of the member's store, force, offence and
# method, of the single key of each count (build, hair colour, hair length, methods,
# offences) and of the hair styles; where its clothing tokens start in ``_clothing``; then
# bytes: offender index, sex (sex_m + 16 * sex_f), age lo/hi, height lo/hi, clothing count.
_ROW = struct.Struct("<12I7B")
_ABSENT = ((None, 1),)  # what an absent count unpacks to


class _Codes:
    """Interned values: each distinct value once, rows hold its number (0 = ``None``)."""

    __slots__ = ("index", "values")

    def __init__(self) -> None:
        self.index: dict[Any, int] = {None: 0}
        self.values: list[Any] = [None]

    def code(self, value: Any) -> int:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.values)
            self.values.append(value)
        return code


def _range_bytes(stats: RangeStats) -> tuple[int, int] | None:
    """(lo, hi) that rebuild ``stats`` exactly, or None if no such bytes exist."""
    mid, width = stats.mid_sum, stats.width_sum
    if stats.n != 1 or type(mid) is not float or type(width) is not float:
        return None
    lo_f = mid - width / 2
    if not (lo_f.is_integer() and width.is_integer() and lo_f >= 0 and width >= 0):
        return None
    lo, hi = int(lo_f), int(lo_f + width)
    if hi >= _NO_RANGE or (lo + hi) / 2 != mid or float(hi - lo) != width:
        return None
    if math.copysign(1, mid) < 0 or math.copysign(1, width) < 0:
        return None  # -0.0 would come back as 0.0
    return lo, hi


def _range_of(lo: int, hi: int) -> RangeStats | None:
    if lo == _NO_RANGE:
        return None
    # The same float arithmetic as ``RangeStats.add`` on a fresh instance.
    return RangeStats(1, 0.0 + (lo + hi) / 2, 0.0 + (hi - lo))


def _each_once(counts: dict[str, int] | None) -> bool:
    """True when absent, or 1-255 keys each counted once (what one report gives)."""
    return counts is None or (0 < len(counts) < 256 and set(counts.values()) == {1})


def _count(key: str | None) -> dict[str, int] | None:
    return None if key is None else {key: 1}


class ProfileTable:
    """Profiles by internal number (``pid``), in the order they were appended.

    Supports what the matcher needs of a list: ``table[pid]`` (``None`` once removed),
    ``table[pid] = profile`` / ``None``, ``append``, ``len`` and iteration. ``pack=False``
    keeps every profile as an object (the representation before packing; for comparison).
    """

    def __init__(self, *, cache_size: int = DEFAULT_CACHE_SIZE, pack: bool = True) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be positive")
        self.cache_size = cache_size
        self.pack = pack
        self._state = bytearray()  # per pid: _REMOVED, _PACKED or _OBJECT
        self._objects: dict[int, Profile] = {}
        self._cache: OrderedDict[int, Profile] = OrderedDict()
        self._strings = _Codes()  # store, force, offence, method, build, hair, clothing
        self._tuples = _Codes()  # hair styles
        self._marks = _Codes()  # distinguishing marks (frozen, so rows can share them)
        # Rows, grown _GROW at a time; row pid means something while pid is _PACKED.
        self._capacity = 0
        self._rows = bytearray()
        self._profile_id: list[str | None] = []
        self._report_id: list[str | None] = []
        self._extra: list[tuple[Any, ...] | None] = []  # (names, vrms, marks) when any
        self._clothing = array("I")  # clothing token codes, each row's run in one place

    # --- the list protocol ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._state)

    def append(self, profile: Profile) -> None:
        pid = len(self._state)
        if pid == self._capacity:
            self._rows.extend(bytes(_ROW.size * _GROW))
            for column in (self._profile_id, self._report_id, self._extra):
                column.extend([None] * _GROW)
            self._capacity += _GROW
        self._state.append(_REMOVED)
        self._put(pid, profile, fresh=True)

    def extend(self, profiles: Iterable[Profile]) -> None:
        for profile in profiles:
            self.append(profile)

    def __getitem__(self, pid: int) -> Profile | None:
        state = self._state[pid]
        if state == _OBJECT:
            return self._objects[pid]
        if state == _REMOVED:
            return None
        cache = self._cache
        profile = cache.get(pid)
        if profile is not None:
            cache.move_to_end(pid)
            return profile
        profile = cache[pid] = self._materialise(pid)
        if len(cache) > self.cache_size:
            old_pid, old = cache.popitem(last=False)
            if old.version or old.prolific_rules is not None or old.notified_forces is not None:
                self._put(old_pid, old)  # changed since it was read: pack again, or keep
        return profile

    def peek(self, pid: int) -> Profile | None:
        """``table[pid]`` without touching the cache (a read-only copy if packed)."""
        if self._state[pid] == _PACKED:
            cached = self._cache.get(pid)
            return cached if cached is not None else self._materialise(pid)
        return self._objects.get(pid)

    def __setitem__(self, pid: int, profile: Profile | None) -> None:
        if not 0 <= pid < len(self._state):
            raise IndexError(pid)
        self._cache.pop(pid, None)
        if profile is None:
            self._objects.pop(pid, None)
            self._state[pid] = _REMOVED
            self._profile_id[pid] = self._report_id[pid] = self._extra[pid] = None
        else:
            self._put(pid, profile)

    def __iter__(self) -> Iterator[Profile | None]:
        """Every pid's profile; packed rows not in the cache come as fresh copies."""
        for pid in range(len(self._state)):
            yield self.peek(pid)

    # --- figures ----------------------------------------------------------------------

    def packed_count(self) -> int:
        return self._state.count(_PACKED)

    def object_count(self) -> int:
        return len(self._objects)

    # --- packing ----------------------------------------------------------------------

    def _put(self, pid: int, profile: Profile, *, fresh: bool = False) -> None:
        if self.pack and self._write_row(pid, profile, fresh):
            self._objects.pop(pid, None)
            self._state[pid] = _PACKED
        else:
            self._objects[pid] = profile
            self._state[pid] = _OBJECT
            self._profile_id[pid] = self._report_id[pid] = self._extra[pid] = None

    def _write_row(self, pid: int, p: Profile, fresh: bool) -> bool:
        """Write ``p`` into row ``pid`` if a row holds it exactly; False (row untouched) if not.

        Runs once per stored profile on start, so the checks are inlined. ``fresh``: the
        row was never written (its clothing goes at the end without looking).
        """
        if type(p) is not Profile or p.prolific_rules is not None:
            return False
        members = p.members
        if len(members) != 1 or p.notified_forces is not None:
            return False
        m = members[0]
        if type(m) is not Member or not 0 <= m.offender_index < 256 or not 0 <= m.day < 2**32:
            return False
        sex_m, sex_f = p.sex_m, p.sex_f
        if not (0 <= sex_m < 16 and 0 <= sex_f < 16):
            return False
        age = _NONE_RANGE if p.age is None else _range_bytes(p.age)
        height = _NONE_RANGE if p.height is None else _range_bytes(p.height)
        if age is None or height is None:
            return False
        build, colour, length = p.build, p.hair_colour, p.hair_length
        methods, offences = p.methods, p.offences
        try:  # each count absent or one key counted once (unpacking fails otherwise)
            ((kb, nb),) = _ABSENT if build is None else build.items()
            ((kc, nc),) = _ABSENT if colour is None else colour.items()
            ((kl, nl),) = _ABSENT if length is None else length.items()
            ((km, nm),) = _ABSENT if methods is None else methods.items()
            ((ko, no),) = _ABSENT if offences is None else offences.items()
        except ValueError:
            return False
        if not nb == nc == nl == nm == no == 1:
            return False
        styles, clothing = p.hair_styles, p.clothing
        if not (_each_once(styles) and _each_once(clothing)):
            return False
        names, vrms, marks = p.names, p.vrms, p.marks
        if names == [] or vrms == [] or marks == []:  # an empty list comes back as None
            return False
        if marks is not None and not all(type(k) is Mark for k in marks):
            return False

        strings = self._strings
        keys = (m.store_id, m.force, m.offence, m.method, kb, kc, kl, km, ko)
        try:  # the values come back as the same objects, so any hashable value will do
            found = [*map(strings.index.get, keys)]
            found_tokens = [*map(strings.index.get, clothing)] if clothing else []
        except TypeError:
            return False
        # (None: a first sighting, given a code now.)
        codes = [strings.code(k) for k in keys] if None in found else cast(list[int], found)
        tokens = cast(list[int], found_tokens)
        if None in found_tokens:
            tokens = [strings.code(t) for t in clothing or ()]
        offset = pid * _ROW.size
        n_tokens = len(tokens)
        if not n_tokens:
            at = 0
        elif fresh or n_tokens > self._rows[offset + _ROW.size - 1]:
            at = len(self._clothing)  # at the end (a shorter old run stays unused)
            self._clothing.extend(tokens)
        else:
            at = _ROW.unpack_from(self._rows, offset)[11]
            self._clothing[at : at + n_tokens] = array("I", tokens)
        _ROW.pack_into(
            self._rows,
            offset,
            m.day,
            *codes,
            self._tuples.code(tuple(styles)) if styles else 0,
            at,
            m.offender_index,
            sex_m + 16 * sex_f,
            *age,
            *height,
            n_tokens,
        )
        self._profile_id[pid] = p.profile_id
        self._report_id[pid] = m.report_id
        if names or vrms or marks:
            shared, mark_code = self._marks.values, self._marks.code
            self._extra[pid] = (
                tuple(names) if names else None,
                tuple(vrms) if vrms else None,
                tuple(shared[mark_code(k)] for k in marks) if marks else None,
            )
        else:
            self._extra[pid] = None
        return True

    def _materialise(self, pid: int) -> Profile:
        (
            day,
            store,
            force,
            offence,
            method,
            build,
            colour,
            length,
            methods,
            offences,
            styles,
            at,
            offender_index,
            sex,
            age_lo,
            age_hi,
            height_lo,
            height_hi,
            n_tokens,
        ) = _ROW.unpack_from(self._rows, pid * _ROW.size)
        value = self._strings.values
        report_id, profile_id = self._report_id[pid], self._profile_id[pid]
        assert report_id is not None and profile_id is not None
        member = Member(
            report_id,
            offender_index,
            value[store],
            value[force],
            day,
            value[offence],
            value[method],
        )
        if n_tokens:
            clothing: dict[str, int] | None = {
                value[t]: 1 for t in self._clothing[at : at + n_tokens]
            }
        else:
            clothing = None
        style_keys = self._tuples.values[styles]
        extra = self._extra[pid]
        names, vrms, marks = extra if extra is not None else (None, None, None)
        return Profile(
            profile_id,
            [member],
            sex & 15,
            sex >> 4,
            _range_of(age_lo, age_hi),
            _range_of(height_lo, height_hi),
            _count(value[build]),
            _count(value[colour]),
            _count(value[length]),
            dict.fromkeys(style_keys, 1) if style_keys else None,
            list(names) if names else None,
            list(vrms) if vrms else None,
            list(marks) if marks else None,
            clothing,
            _count(value[methods]),
            _count(value[offences]),
        )
