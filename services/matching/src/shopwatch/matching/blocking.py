"""Blocking keys: cheap, selective strings that put a new offender next to likely profiles.

A profile is indexed under keys built from its aggregates; a new offender asks for keys
built from its description, widened where witnesses are vague (neighbouring forces,
overlapping age and height bands). Each key has a *kind*; the kinds a candidate was found
through are the reasons reported with it.

Kinds and what they mean:

==============  ==============================================================  ======
kind            key                                                             weight
==============  ==============================================================  ======
``vrm``         the registration with O/0 and I/1 folded                          10
``vrm_part``    first 4 / last 3 characters of the registration (partial plates)   5
``name``        a name or alias token, nicknames expanded                          6
``phonetic``    metaphone of a name token (Smith/Smyth)                            4
``mark``        mark kind + motif word or body region (tattoo:rose, scar:face)     3
``store``       the store                                                          2
``area_age``    force + sex + 5-year age band                                      2
``area_height`` force + sex + 10 cm height band                                    2
``area_build``  force + sex + build                                                2
``area_hair``   force + sex + hair colour                                          2
``near_*``      the same four in each neighbouring force                           1
==============  ==============================================================  ======

The area kinds are asked for in the offender's force (``area_*``) *and its neighbours*
(``near_*``); the others are national, so a named offender or a known car links across
the country.
The weights only rank candidates before scoring (a candidate found through more, and
more selective, kinds comes first); they are not evidence.
"""

from __future__ import annotations

from shopwatch.matching.normalise import NormalisedOffender, canonical_vrm, phonetic_key
from shopwatch.matching.profiles import Profile, hair_of

KIND_WEIGHTS: dict[str, int] = {
    "vrm": 10,
    "vrm_part": 5,
    "name": 6,
    "phonetic": 4,
    "mark": 3,
    "store": 2,
    "area_age": 2,
    "area_height": 2,
    "area_build": 2,
    "area_hair": 2,
    "near_age": 1,
    "near_height": 1,
    "near_build": 1,
    "near_hair": 1,
}

AGE_BAND = 5
HEIGHT_BAND = 10
AGE_SLACK = 4  # a query range is widened by this many years each side
HEIGHT_SLACK = 6  # and by this many centimetres

# Neighbouring territorial forces of England and Wales (shared land borders, plus the
# Thames and Severn crossings). Approximate on purpose: it decides where to *look*, not
# what to conclude. British Transport Police covers the railways, not an area, so it has
# no neighbours; Police Scotland and PSNI join the border forces for completeness.
_NEIGHBOURS_ONE_WAY: dict[str, tuple[str, ...]] = {
    "avon-and-somerset": ("gloucestershire", "wiltshire", "dorset", "devon-and-cornwall", "gwent"),
    "bedfordshire": ("hertfordshire", "cambridgeshire", "northamptonshire", "thames-valley"),
    "cambridgeshire": (
        "norfolk", "suffolk", "essex", "hertfordshire", "northamptonshire", "lincolnshire",
        "leicestershire",
    ),
    "cheshire": (
        "merseyside", "greater-manchester", "derbyshire", "staffordshire", "west-mercia",
        "north-wales",
    ),
    "city-of-london": ("metropolitan",),
    "cleveland": ("durham", "north-yorkshire"),
    "cumbria": ("northumbria", "durham", "north-yorkshire", "lancashire", "police-scotland"),
    "derbyshire": (
        "greater-manchester", "west-yorkshire", "south-yorkshire", "nottinghamshire",
        "leicestershire", "staffordshire",
    ),
    "devon-and-cornwall": ("dorset",),
    "dorset": ("wiltshire", "hampshire"),
    "durham": ("northumbria", "north-yorkshire"),
    "dyfed-powys": ("north-wales", "south-wales", "gwent", "west-mercia"),
    "essex": ("metropolitan", "hertfordshire", "suffolk", "kent"),
    "gloucestershire": ("wiltshire", "thames-valley", "warwickshire", "west-mercia", "gwent"),
    "greater-manchester": ("lancashire", "merseyside", "west-yorkshire"),
    "gwent": ("south-wales", "west-mercia"),
    "hampshire": ("wiltshire", "thames-valley", "surrey", "sussex"),
    "hertfordshire": ("metropolitan", "thames-valley"),
    "humberside": ("north-yorkshire", "south-yorkshire", "lincolnshire", "nottinghamshire"),
    "kent": ("metropolitan", "sussex", "surrey"),
    "lancashire": ("north-yorkshire", "west-yorkshire", "merseyside"),
    "leicestershire": (
        "nottinghamshire", "staffordshire", "warwickshire", "northamptonshire", "lincolnshire",
    ),
    "lincolnshire": ("south-yorkshire", "nottinghamshire", "norfolk", "northamptonshire"),
    "metropolitan": ("surrey", "thames-valley"),
    "norfolk": ("suffolk",),
    "north-wales": ("west-mercia",),
    "north-yorkshire": ("west-yorkshire", "south-yorkshire"),
    "northamptonshire": ("warwickshire", "thames-valley"),
    "northumbria": ("police-scotland",),
    "nottinghamshire": ("south-yorkshire",),
    "south-yorkshire": ("west-yorkshire",),
    "staffordshire": ("warwickshire", "west-midlands", "west-mercia"),
    "surrey": ("sussex", "thames-valley"),
    "thames-valley": ("warwickshire", "wiltshire"),
    "warwickshire": ("west-midlands", "west-mercia"),
    "west-mercia": ("west-midlands",),
}  # fmt: skip


def _symmetric(one_way: dict[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for a, bs in one_way.items():
        for b in bs:
            out.setdefault(a, set()).add(b)
            out.setdefault(b, set()).add(a)
    return {k: frozenset(v) for k, v in out.items()}


FORCE_NEIGHBOURS: dict[str, frozenset[str]] = _symmetric(_NEIGHBOURS_ONE_WAY)
"""Force slug -> the forces sharing a border with it (symmetric; approximate)."""


def force_area(force: str) -> frozenset[str]:
    """The force and its neighbours: where the area blocks look."""
    return FORCE_NEIGHBOURS.get(force, frozenset()) | {force}


def _bands(lo: float, hi: float, width: int) -> range:
    return range(int(lo // width), int(hi // width) + 1)


def _mark_keys(kind: str, region: str | None, motif: frozenset[str]) -> list[str]:
    keys = [f"m:{kind}:{region}"] if region else []
    keys += [f"m:{kind}:{word}" for word in sorted(motif)[:3]]
    return keys


Key = tuple[str, str]  # (kind, key)


def query_keys(off: NormalisedOffender) -> list[Key]:
    """The keys to look up for a new offender (widened for vague descriptions)."""
    keys: list[Key] = []
    if off.vrm:
        canon = canonical_vrm(off.vrm)
        if len(canon) >= 5:
            keys.append(("vrm", "v:" + canon))
            keys.append(("vrm_part", "vp:" + canon[:4]))
            keys.append(("vrm_part", "vs:" + canon[-3:]))
        elif len(canon) >= 3:  # a partial plate: the start or the end of one
            keys.append(("vrm_part", "vp:" + canon[:4]))
            keys.append(("vrm_part", "vs:" + canon[-3:]))
    for token in sorted(off.name_tokens):
        keys.append(("name", "n:" + token))
        ph = phonetic_key(token)
        if ph:
            keys.append(("phonetic", "p:" + ph))
    for mark in off.marks:
        keys.extend(("mark", k) for k in _mark_keys(mark.kind, mark.region, mark.motif))
    keys.append(("store", "s:" + off.store_id))

    sexes = (off.sex, "u") if off.sex else ("m", "f", "u")
    forces = sorted(force_area(off.force))
    for force in forces:
        zone = "area" if force == off.force else "near"
        for sex in sexes:
            prefix = f"{force}:{sex}"
            if off.age:
                for band in _bands(off.age[0] - AGE_SLACK, off.age[1] + AGE_SLACK, AGE_BAND):
                    keys.append((f"{zone}_age", f"a:{prefix}:{band}"))
            if off.height:
                lo, hi = off.height[0] - HEIGHT_SLACK, off.height[1] + HEIGHT_SLACK
                for band in _bands(lo, hi, HEIGHT_BAND):
                    keys.append((f"{zone}_height", f"h:{prefix}:{band}"))
            if off.build:
                keys.append((f"{zone}_build", f"b:{prefix}:{off.build}"))
            if off.hair and off.hair.colour:
                keys.append((f"{zone}_hair", f"c:{prefix}:{off.hair.colour}"))
    return keys


def profile_keys(profile: Profile) -> set[str]:
    """The keys a profile is indexed under (a function of its aggregates only).

    Keys are only ever added to the index, never removed: when a profile's estimates
    move, the old keys stay and cost a little extra scoring, which is cheaper than
    keeping every profile's key set in memory.
    """
    keys: set[str] = set()
    for vrm in profile.vrms or ():
        canon = canonical_vrm(vrm)
        if len(canon) >= 5:
            keys.add("v:" + canon)
        if len(canon) >= 3:
            keys.add("vp:" + canon[:4])
            keys.add("vs:" + canon[-3:])
    for name in profile.names or ():
        for token in name.split():
            keys.add("n:" + token)
            ph = phonetic_key(token)
            if ph:
                keys.add("p:" + ph)
    for mark in profile.marks or ():
        keys.update(_mark_keys(mark.kind, mark.region, mark.motif))
    members = profile.members
    for store in dict.fromkeys(m.store_id for m in members):
        keys.add("s:" + store)

    sex = profile.sex or "u"
    hair = hair_of(profile)
    build = profile.build_mode
    for force in dict.fromkeys(m.force for m in members):
        prefix = f"{force}:{sex}"
        if profile.age:
            half = min(profile.age.width, 10) / 2
            for band in _bands(profile.age.mid - half, profile.age.mid + half, AGE_BAND):
                keys.add(f"a:{prefix}:{band}")
        if profile.height:
            half = min(profile.height.width, 15) / 2
            for band in _bands(profile.height.mid - half, profile.height.mid + half, HEIGHT_BAND):
                keys.add(f"h:{prefix}:{band}")
        if build:
            keys.add(f"b:{prefix}:{build}")
        if hair and hair.colour:
            keys.add(f"c:{prefix}:{hair.colour}")
    return keys
