"""Generate synthetic shop-theft reports whose offenders carry a ``truth_id``.

People have stable traits (sex, age, height, build, hair, marks, a name and aliases for
some, a vehicle for some), a home area of one to three neighbouring forces and favourite
stores, a patch a few kilometres across (every report carries its store's location, as
routing's `MatchingRequested` does for stores registered with one). Each report describes one offender (sometimes two) as a witness would: fields
missing, ranges that shift, misspelt names and aliases, partial or misread plates,
different clothing each time, marks seen only sometimes and described in other words.
Activity is heavy-tailed: most people appear a few times, a few appear very often.

Deterministic for a given seed. Usage::

    uv run python bench/matching/generate.py --people 2000 --reports 20000 --seed 7 \
        --out bench/out/matching-2k-20k-s7.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _words(text: str) -> list[str]:
    return text.split()


# The region: eight neighbouring forces of the North West and Yorkshire, stores per force
# roughly in proportion to population.
STORES_PER_FORCE = {
    "greater-manchester": 60,
    "west-yorkshire": 50,
    "merseyside": 35,
    "lancashire": 35,
    "south-yorkshire": 30,
    "cheshire": 25,
    "derbyshire": 25,
    "north-yorkshire": 20,
}
# Where each force's stores are: on a ring around a town centre of the force, in store-number
# order, about STORE_SPACING_KM apart, so that a person's patch of adjacent store numbers (see
# _make_people) is also a few kilometres across, as a real patch is. Placing them draws
# nothing from the random generator: the same seed gives the same reports as before
# locations were added, now with each store's `store_location`.
FORCE_CENTRES = {
    "greater-manchester": (53.48, -2.24),
    "west-yorkshire": (53.80, -1.55),
    "merseyside": (53.41, -2.98),
    "lancashire": (53.76, -2.70),
    "south-yorkshire": (53.38, -1.47),
    "cheshire": (53.19, -2.52),
    "derbyshire": (52.95, -1.50),
    "north-yorkshire": (54.10, -1.40),
}
STORE_SPACING_KM = 1.5
NEIGHBOURS = {
    "greater-manchester": ["lancashire", "merseyside", "cheshire", "west-yorkshire", "derbyshire"],
    "west-yorkshire": ["north-yorkshire", "south-yorkshire", "greater-manchester", "lancashire"],
    "merseyside": ["lancashire", "greater-manchester", "cheshire"],
    "lancashire": ["merseyside", "greater-manchester", "west-yorkshire", "north-yorkshire"],
    "south-yorkshire": ["west-yorkshire", "derbyshire", "north-yorkshire"],
    "cheshire": ["merseyside", "greater-manchester", "derbyshire"],
    "derbyshire": ["greater-manchester", "south-yorkshire", "cheshire"],
    "north-yorkshire": ["west-yorkshire", "lancashire", "south-yorkshire"],
}

MALE_FIRST = _words(
    "james john robert michael william david richard joseph thomas charles christopher daniel "
    "matthew anthony mark steven paul andrew joshua kevin brian george edward ryan jacob "
    "gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory "
    "frank alexander raymond patrick jack dennis jerry tyler aaron jose adam nathan henry "
    "peter zachary kyle noah ethan jordan dylan connor callum liam kieran jamie shane wayne "
    "dean lee darren craig stuart neil ross declan"
)
FEMALE_FIRST = _words(
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy "
    "betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa "
    "deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda "
    "pamela emma nicole helen samantha katherine christine debra rachel carolyn janet "
    "chloe jade leanne kayleigh stacey gemma danielle kirsty natalie"
)
SURNAMES = _words(
    "smith jones taylor brown williams wilson johnson davies robinson wright thompson evans "
    "walker white roberts green hall wood jackson clarke patel khan lewis james phillips "
    "mason mitchell rose davis rodriguez cox alexander garden campbell johnston moore "
    "smyth murphy kelly byrne ryan obrien walsh doyle mccarthy gallagher doherty kennedy "
    "lynch murray quinn moran boyle hughes mcdonald stewart reid macdonald murray scott "
    "fletcher harrison armstrong holmes barker lawrence hudson chapman pearson atkinson "
    "nolan hammond heath pickering riley dixon hunt kershaw ashworth sutcliffe butterworth "
    "greenwood hargreaves whittaker crossley haigh brook firth lockwood shaw bentley "
    "horsfall metcalfe pollard naylor wainwright bairstow ackroyd binns sykes bottomley "
    "nowak kowalski popescu ahmed hussain ali begum akhtar iqbal mahmood rashid"
)
STREET_NAMES = _words(
    "tiny smudge dibs bomber spider chalky snowy ginge lofty scouse jonno mackie "
    "taff bugsy skinny tank rocky biscuit wolfie tyson"
)
NICK_OF = {
    "william": "billy",
    "robert": "bobby",
    "daniel": "danny",
    "david": "dave",
    "james": "jimmy",
    "john": "johnny",
    "michael": "mikey",
    "stephen": "steve",
    "thomas": "tommy",
    "anthony": "tony",
    "christopher": "chris",
    "matthew": "matt",
    "nicholas": "nick",
    "joseph": "joey",
    "benjamin": "ben",
    "andrew": "andy",
    "peter": "pete",
    "richard": "ricky",
    "edward": "eddie",
    "charles": "charlie",
    "henry": "harry",
    "katherine": "katie",
    "elizabeth": "liz",
    "rebecca": "becky",
    "jennifer": "jenny",
    "susan": "sue",
    "amanda": "mandy",
}
BUILD_WORDS = {
    "slim": ["slim", "thin", "skinny", "slight build", "slim build"],
    "medium": ["medium build", "average build", "average", "normal build"],
    "athletic": ["athletic", "muscular", "stocky", "athletic build"],
    "heavy": ["heavy build", "large", "overweight", "big lad", "heavy set"],
}
BUILD_ORDER = ["slim", "medium", "athletic", "heavy"]
HAIR_COLOURS = ["black", "brown", "blonde", "ginger", "grey"]
HAIR_COLOUR_P = [0.25, 0.42, 0.13, 0.06, 0.14]
HAIR_CONFUSE = {
    "black": ["brown", "dark"],
    "brown": ["black", "dark", "blonde"],
    "blonde": ["brown", "ginger"],
    "ginger": ["blonde", "brown"],
    "grey": ["brown", "blonde"],
}
TATTOO_MOTIFS = _words(
    "rose skull cross star swallow spider web teardrop dragon snake anchor heart dagger "
    "tiger eagle lion clock compass crown wolf butterfly scorpion barcode cobweb flames "
    "feather moon script letters"
)
LOCATIONS = [
    ("hand", "hand", 0.55),
    ("knuckles", "hand", 0.55),
    ("wrist", "hand", 0.45),
    ("neck", "neck", 0.55),
    ("face", "face", 0.6),
    ("cheek", "face", 0.6),
    ("eyebrow", "face", 0.55),
    ("forearm", "arm", 0.35),
    ("arm", "arm", 0.3),
    ("ear", "ear", 0.4),
    ("leg", "leg", 0.12),
    ("chest", "torso", 0.1),
    ("head", "head", 0.45),
]
METHODS = [
    "concealment in bag",
    "concealment in clothing",
    "grab and run",
    "walk out with trolley",
    "distraction with accomplice",
    "self-checkout bypass",
    "threatened staff",
    "refund fraud",
]
TOPS = ["hoodie", "jacket", "coat", "tracksuit top", "t-shirt", "gilet", "puffer jacket"]
BOTTOMS = ["jeans", "joggers", "tracksuit bottoms", "shorts", "trousers"]
SHOES = ["trainers", "boots", "sliders"]
HATS = ["cap", "beanie", "bucket hat"]
COLOURS = ["black", "grey", "navy", "blue", "white", "red", "green", "khaki", "brown"]
BRANDS = ["nike", "adidas", "north face", "stone island", "puma", "under armour"]


@dataclass
class Mark:
    kind: str
    location: str
    region: str
    visibility: float
    side: str | None
    motif: str | None


@dataclass
class Person:
    truth_id: str
    sex: str
    age: int
    height: int
    build: str
    hair_colour: str
    hair_length: str
    hair_style: str | None
    marks: list[Mark]
    first: str | None
    surname: str | None
    aliases: list[str]
    vehicle: str | None
    forces: list[str]
    favourite_stores: list[str]
    area_stores: list[str]
    method: str
    signature: str | None
    start_day: int
    end_day: int
    associates: list[int] = field(default_factory=list)


def _plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNOPRSTUVWXYZ"
    area = rng.choice(letters) + rng.choice(letters)
    year = rng.choice(["15", "16", "17", "18", "19", "65", "66", "67", "68", "69", "70", "20"])
    tail = "".join(rng.choice(letters) for _ in range(3))
    return area + year + tail


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.random()
    if op < 0.3:
        return word[:i] + word[i + 1 :]
    if op < 0.55:
        return word[:i] + word[i] + word[i:]
    if op < 0.8:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    vowels = "aeiou"
    if word[i] in vowels:
        return word[:i] + rng.choice(vowels.replace(word[i], "")) + word[i + 1 :]
    swaps = {"c": "k", "k": "c", "s": "z", "y": "i", "i": "y", "f": "ph", "t": "tt"}
    return word[:i] + swaps.get(word[i], word[i]) + word[i + 1 :]


def _make_people(rng: random.Random, n: int, stores: dict[str, list[str]]) -> list[Person]:
    forces = list(STORES_PER_FORCE)
    force_w = [STORES_PER_FORCE[f] for f in forces]
    people: list[Person] = []
    for i in range(n):
        sex = "male" if rng.random() < 0.78 else "female"
        age = int(min(70, max(14, rng.lognormvariate(math.log(30), 0.3))))
        height = round(rng.gauss(177, 7) if sex == "male" else rng.gauss(164, 6))
        build = rng.choices(BUILD_ORDER, [0.3, 0.4, 0.12, 0.18])[0]
        colour = rng.choices(HAIR_COLOURS, HAIR_COLOUR_P)[0]
        if age > 50 and rng.random() < 0.5:
            colour = "grey"
        if sex == "male":
            length = rng.choices(["bald", "shaved", "short", "medium", "long"], [8, 15, 55, 15, 7])[
                0
            ]
        else:
            length = rng.choices(["short", "medium", "long"], [20, 35, 45])[0]
        style = None
        if length in ("medium", "long") and rng.random() < 0.3:
            style = rng.choice(["ponytail", "curly", "dreadlocks", "braids"])
        n_marks = rng.choices([0, 1, 2, 3], [55, 30, 12, 3])[0]
        marks = []
        for _ in range(n_marks):
            kind = rng.choices(["tattoo", "scar", "piercing"], [70, 20, 10])[0]
            loc, region, vis = rng.choice(LOCATIONS)
            if kind == "piercing":
                loc, region, vis = rng.choice(
                    [("eyebrow", "face", 0.6), ("nose", "face", 0.6), ("lip", "face", 0.6)]
                )
            side = rng.choice(["left", "right"]) if loc not in ("neck", "chest", "nose") else None
            motif = rng.choice(TATTOO_MOTIFS) if kind == "tattoo" else None
            marks.append(Mark(kind, loc, region, vis, side, motif))
        first = surname = None
        aliases: list[str] = []
        if rng.random() < 0.25:
            first = rng.choice(MALE_FIRST if sex == "male" else FEMALE_FIRST)
            surname = rng.choice(SURNAMES)
            if rng.random() < 0.3:
                aliases.append(rng.choice(STREET_NAMES))
            if rng.random() < 0.15:
                aliases.append(f"{first} {rng.choice(SURNAMES)}")
        vehicle = _plate(rng) if rng.random() < 0.12 else None
        base = rng.choices(forces, force_w)[0]
        home = [base]
        r = rng.random()
        if r < 0.45:
            extra = 1 if r < 0.35 else 2
            home += rng.sample(NEIGHBOURS[base], min(extra, len(NEIGHBOURS[base])))
        area_stores = [s for f in home for s in stores[f]]
        # Offenders work a patch: favourites from a few adjacent stores of the base force.
        base_stores = stores[base]
        k = rng.randint(2, 6)
        start = rng.randrange(len(base_stores))
        favourites = [base_stores[(start + j) % len(base_stores)] for j in range(k)]
        for f in home[1:]:
            favourites.append(rng.choice(stores[f]))
        signature = None
        if rng.random() < 0.4:
            signature = f"{rng.choice(COLOURS)} {rng.choice(BRANDS)} {rng.choice(TOPS + HATS)}"
        start_day = rng.randrange(0, 330)
        end_day = min(364, start_day + int(rng.expovariate(1 / 160)) + 20)
        people.append(
            Person(
                truth_id=f"T{i:05d}",
                sex=sex,
                age=age,
                height=height,
                build=build,
                hair_colour=colour,
                hair_length=length,
                hair_style=style,
                marks=marks,
                first=first,
                surname=surname,
                aliases=aliases,
                vehicle=vehicle,
                forces=home,
                favourite_stores=favourites,
                area_stores=area_stores,
                method=rng.choice(METHODS),
                signature=signature,
                start_day=start_day,
                end_day=end_day,
            )
        )
    by_force: dict[str, list[int]] = {}
    for i, p in enumerate(people):
        by_force.setdefault(p.forces[0], []).append(i)
    for i, p in enumerate(people):
        local = by_force[p.forces[0]]
        p.associates = [rng.choice(local) for _ in range(rng.choice([0, 1, 1, 2]))]
        p.associates = [a for a in p.associates if a != i]
    return people


def _range(rng: random.Random, value: float, sd: float, widths: list[int]) -> tuple[int, int]:
    est = value + rng.gauss(0, sd)
    w = rng.choice(widths)
    lo = round(est - w / 2)
    return lo, lo + w


def _describe_name(rng: random.Random, p: Person) -> str | None:
    if p.first is None or p.surname is None or rng.random() >= 0.45:
        return None
    first, surname = p.first, p.surname
    if rng.random() < 0.2 and first in NICK_OF:
        first = NICK_OF[first]
    r = rng.random()
    if r < 0.55:
        parts = [first, surname]
    elif r < 0.75:
        parts = [first]
    elif r < 0.85:
        parts = [surname]
    else:
        parts = (rng.choice(p.aliases) if p.aliases else f"{first} {surname}").split()
    if rng.random() < 0.2:
        j = rng.randrange(len(parts))
        parts[j] = _typo(rng, parts[j])
    text = " ".join(parts)
    return text.title() if rng.random() < 0.7 else text.upper() if rng.random() < 0.5 else text


def _describe_vehicle(rng: random.Random, p: Person) -> str | None:
    if p.vehicle is None or rng.random() >= 0.35:
        return None
    plate = p.vehicle
    r = rng.random()
    if r < 0.3:  # partial: what the witness caught
        plate = plate[:4] if rng.random() < 0.6 else plate[-3:]
    elif r < 0.45:  # misread O/0 or I/1, or one character
        chars = list(plate)
        j = rng.randrange(len(chars))
        chars[j] = {"O": "0", "0": "O", "I": "1", "1": "I"}.get(
            chars[j], rng.choice(string.ascii_uppercase)
        )
        plate = "".join(chars)
    if len(plate) == 7 and rng.random() < 0.6:
        plate = plate[:4] + " " + plate[4:]
    return plate if rng.random() < 0.8 else plate.lower()


def _describe_marks(rng: random.Random, p: Person) -> str | None:
    said = []
    for m in p.marks:
        if rng.random() >= m.visibility:
            continue
        side = m.side if (m.side and rng.random() < 0.6) else None
        loc = m.location
        if rng.random() < 0.15:  # the same place in other words
            loc = {"knuckles": "hand", "wrist": "hand", "cheek": "face", "forearm": "arm"}.get(
                loc, loc
            )
        where = f"{side} {loc}" if side else loc
        if m.kind == "tattoo":
            motif = m.motif if rng.random() < 0.75 else None
            templates = (
                [
                    f"tattoo of a {motif} on {where}",
                    f"{motif} tattoo on {where}",
                    f"{where} tattoo ({motif})",
                ]
                if motif
                else [f"tattoo on {where}", f"{where} tattoo", f"tattoos on {where}"]
            )
            said.append(rng.choice(templates))
        elif m.kind == "scar":
            said.append(rng.choice([f"scar on {where}", f"scar {where}", f"scarred {where}"]))
        else:
            said.append(rng.choice([f"{where} piercing", f"pierced {where}", f"stud in {where}"]))
    if not said:
        return None
    return rng.choice(["; ", ", ", " and "]).join(said)


def _describe_hair(rng: random.Random, p: Person) -> str | None:
    if rng.random() < 0.3:
        return rng.choice([None, "hood up", "wearing a hat", None])
    colour = p.hair_colour
    if rng.random() < 0.12:
        colour = rng.choice(HAIR_CONFUSE[colour])
    length = p.hair_length
    if rng.random() < 0.1 and length in ("short", "medium", "long"):
        length = {"short": "medium", "medium": rng.choice(["short", "long"]), "long": "medium"}[
            length
        ]
    if length == "bald":
        return rng.choice(["bald", "bald head", "balding"])
    if length == "shaved":
        return rng.choice(["shaved head", f"shaved {colour}", "skinhead"])
    text = rng.choice([f"{length} {colour} hair", f"{colour}, {length}", f"{colour} hair"])
    if p.hair_style and rng.random() < 0.6:
        text += f" in {p.hair_style}" if p.hair_style == "ponytail" else f", {p.hair_style}"
    return text


def _describe_clothing(rng: random.Random, p: Person) -> str | None:
    if rng.random() < 0.15:
        return None
    items = [
        f"{rng.choice(COLOURS)} {rng.choice(TOPS)}",
        f"{rng.choice(COLOURS)} {rng.choice(BOTTOMS)}",
    ]
    if rng.random() < 0.5:
        brand = rng.choice(BRANDS) + " " if rng.random() < 0.4 else ""
        items.append(f"{rng.choice(COLOURS)} {brand}{rng.choice(SHOES)}")
    if rng.random() < 0.3:
        items.append(f"{rng.choice(COLOURS)} {rng.choice(HATS)}")
    if p.signature and rng.random() < 0.35:
        items[0] = p.signature
    return ", ".join(items)


def describe(rng: random.Random, p: Person) -> dict[str, Any]:
    """One witness's description of person ``p``."""
    d: dict[str, Any] = {"truth_id": p.truth_id}
    r = rng.random()
    if r < 0.04:
        d["sex"] = "unknown"
    elif r < 0.05:
        d["sex"] = "female" if p.sex == "male" else "male"
    else:
        d["sex"] = p.sex
    if rng.random() < 0.8:
        if rng.random() < 0.03:
            d["age_min"], d["age_max"] = 18, 60  # "adult": vague
        else:
            lo, hi = _range(rng, p.age, 4.0, [4, 5, 6, 8, 10, 10, 15])
            lo = min(max(10, lo), 85)
            d["age_min"], d["age_max"] = lo, max(lo, min(90, hi))
    if rng.random() < 0.65:
        lo, hi = _range(rng, p.height, 6.0, [5, 10, 10, 15, 20])
        lo = min(max(120, lo), 215)
        d["height_min_cm"], d["height_max_cm"] = lo, max(lo, min(220, hi))
    if rng.random() < 0.75:
        b = p.build
        if rng.random() < 0.15:
            i = BUILD_ORDER.index(b)
            b = BUILD_ORDER[max(0, min(3, i + rng.choice([-1, 1])))]
        d["build"] = rng.choice(BUILD_WORDS[b])
    hair = _describe_hair(rng, p)
    if hair:
        d["hair"] = hair
    clothing = _describe_clothing(rng, p)
    if clothing:
        d["clothing"] = clothing
    marks = _describe_marks(rng, p)
    if marks:
        d["distinguishing_features"] = marks
    name = _describe_name(rng, p)
    if name:
        d["name"] = name
        if p.aliases and rng.random() < 0.2:
            d["aliases"] = [rng.choice(p.aliases)]
    vrm = _describe_vehicle(rng, p)
    if vrm:
        d["vehicle_registration"] = vrm
    if rng.random() < 0.3:
        # Present in real data, sensitive, and never read by the matcher.
        d["ic_code"] = rng.choice(["IC1", "IC2", "IC3", "IC4", "IC5", "IC6", "IC9"])
    return d


def store_locations(stores: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Each store's {"latitude", "longitude"} on its force's ring (see FORCE_CENTRES)."""
    out: dict[str, dict[str, float]] = {}
    for force, names in stores.items():
        lat0, lon0 = FORCE_CENTRES[force]
        radius_km = len(names) * STORE_SPACING_KM / (2 * math.pi)
        for i, name in enumerate(names):
            angle = 2 * math.pi * i / len(names)
            north_km, east_km = radius_km * math.cos(angle), radius_km * math.sin(angle)
            out[name] = {
                "latitude": round(lat0 + north_km / 111.0, 5),
                "longitude": round(lon0 + east_km / (111.0 * math.cos(math.radians(lat0))), 5),
            }
    return out


def generate(people: int, reports: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    stores = {f: [f"{f}-store-{i:03d}" for i in range(n)] for f, n in STORES_PER_FORCE.items()}
    store_force = {s: f for f, ss in stores.items() for s in ss}
    located = store_locations(stores)
    crowd = _make_people(rng, people, stores)
    # Heavy-tailed activity: everyone appears at least once; Pareto weights share the rest.
    weights = [min(60.0, rng.paretovariate(1.2)) for _ in crowd]
    total_w = sum(weights)
    extra = reports - people
    counts = [1 + int(extra * w / total_w) for w in weights]
    for i in rng.sample(range(people), reports - sum(counts)) if sum(counts) < reports else []:
        counts[i] += 1
    base = datetime(2025, 1, 1, tzinfo=UTC)
    events: list[tuple[datetime, int]] = []
    for i, (p, c) in enumerate(zip(crowd, counts, strict=True)):
        for _ in range(c):
            day = rng.randint(p.start_day, p.end_day)
            when = base + timedelta(days=day, minutes=rng.randint(8 * 60, 21 * 60))
            events.append((when, i))
    events.sort()
    for n, (when, i) in enumerate(events):
        p = crowd[i]
        store = rng.choice(p.favourite_stores) if rng.random() < 0.75 else rng.choice(p.area_stores)
        method = p.method if rng.random() < 0.65 else rng.choice(METHODS)
        offence = "theft_from_shop"
        if method == "threatened staff":
            offence = "threats_or_abuse_against_staff"
        elif rng.random() < 0.03:
            offence = "robbery"
        offenders = [describe(rng, p)]
        if rng.random() < 0.12:
            mate = rng.choice(p.associates) if p.associates and rng.random() < 0.7 else None
            if mate is None:
                local = [
                    j
                    for j in rng.sample(range(people), min(30, people))
                    if crowd[j].forces[0] in p.forces
                ]
                mate = local[0] if local else None
            if mate is not None and mate != i:
                offenders.append(describe(rng, crowd[mate]))
        yield {
            "report_id": f"R{n:07d}",
            "store_id": store,
            "store_location": located[store],
            "force": store_force[store],
            "occurred_at": when.isoformat(),
            "offence_type": offence,
            "method": method,
            "offenders": offenders,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.reports < args.people:
        ap.error("--reports must be at least --people (everyone appears at least once)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with args.out.open("w", encoding="utf-8") as fh:
        for record in generate(args.people, args.reports, args.seed):
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            n += 1
    print(f"wrote {n} reports to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
