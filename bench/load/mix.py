"""What the load generator sends: chains and stores spread across forces, and a realistic
mix of reports (offence types, goods and values, offenders, flags, witnesses, CCTV).

No I/O: `plan_stores` says which stores to register where, `ReportMix` makes report
bodies for the stores intake gave ids to. Deterministic for a seed.

Offenders come from the matching benchmark's synthetic crowd (`bench.matching.generate`):
people with stable traits described differently by each witness, heavy-tailed activity,
so the same offender turns up across stores and forces and matching has real work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bench.matching.generate import BUILD_WORDS, STORES_PER_FORCE, _make_people, describe
from shopwatch.schemas.enums import OffenceType
from shopwatch.schemas.postcodes import POSTCODE_AREAS, default_force_for_postcode

# Shares of offence types. Theft is by far the most common (the BRC Crime Survey's
# ~55,000 incidents a day are mostly theft; violence and abuse about 2,000 of them);
# the rarer categories stay in so that every priority rule of routing fires.
OFFENCE_WEIGHTS: dict[OffenceType, float] = {
    OffenceType.THEFT_FROM_SHOP: 0.84,
    OffenceType.THREATS_OR_ABUSE_AGAINST_STAFF: 0.06,
    OffenceType.VIOLENCE_AGAINST_STAFF: 0.03,
    OffenceType.CRIMINAL_DAMAGE: 0.02,
    OffenceType.FRAUD: 0.02,
    OffenceType.ROBBERY: 0.015,
    OffenceType.BURGLARY: 0.01,
    OffenceType.OTHER: 0.005,
}
# How many offenders a report describes: none seen clearly, one, a pair, a group.
OFFENDER_COUNT_WEIGHTS = {0: 0.15, 1: 0.70, 2: 0.12, 3: 0.03}
# Goods taken: (description, lowest and highest unit value in pence).
GOODS = [
    ("Beef joint 1kg", 900, 1600),
    ("Ground coffee 227g", 375, 650),
    ("Bottle of spirits 70cl", 1500, 3500),
    ("Razor blades, pack of 8", 1100, 2400),
    ("Baby formula 800g", 1000, 1500),
    ("Laundry pods, 50", 800, 1400),
    ("Fragrance 100ml", 3500, 9500),
    ("Cheese block 400g", 350, 600),
    ("Bluetooth headphones", 2500, 15000),
    ("Chocolate selection box", 400, 1200),
    ("Mobile phone", 15000, 60000),
    ("Power tool", 6000, 20000),
]
ACCOUNTS = {
    OffenceType.THEFT_FROM_SHOP: "{who} filled a bag from the shelves and left past the tills"
    " without paying. Staff saw it on the camera by the door.",
    OffenceType.THREATS_OR_ABUSE_AGAINST_STAFF: "{who} was challenged at the door and"
    " shouted abuse at the staff member, threatening to come back for them.",
    OffenceType.VIOLENCE_AGAINST_STAFF: "{who} pushed the supervisor against the counter when"
    " asked to hand back the goods, then ran out of the store.",
    OffenceType.CRIMINAL_DAMAGE: "{who} kicked over a display stand and smashed the glass of"
    " the chiller door before leaving.",
    OffenceType.FRAUD: "{who} paid with a card that was later declined as stolen and left with"
    " gift cards.",
    OffenceType.ROBBERY: "{who} demanded the cash from the till, saying they had a knife, and"
    " left with the takings and stock.",
    OffenceType.BURGLARY: "{who} forced the rear fire door after closing and took stock from"
    " the stock room.",
    OffenceType.OTHER: "{who} acted suspiciously around the self-checkouts and left when staff"
    " approached.",
}
TOWNS = ["Market Place", "High Street", "Retail Park", "Station Road", "Shopping Centre"]
T = TypeVar("T")
_BUILD_OF_WORD = {word: build for build, words in BUILD_WORDS.items() for word in words}


@dataclass(frozen=True)
class StorePlan:
    """A store to register: which chain, which force covers it, its address."""

    chain: int
    index: int
    force: str
    postcode: str
    name: str
    town: str


@dataclass(frozen=True)
class Store:
    """A registered store: intake's id, and the force its postcode routes to."""

    store_id: str
    chain: int
    force: str


def force_postcodes(count: int) -> list[tuple[str, str]]:
    """`count` distinct forces, each with a postcode that routes to it by default.

    In the order of the postcode areas, skipping an area whose force is already taken
    and any postcode a district override sends elsewhere.
    """
    chosen: dict[str, str] = {}
    for area, force in POSTCODE_AREAS.items():
        if force is None or force in chosen:
            continue
        postcode = f"{area}1 1AA"
        if default_force_for_postcode(postcode) == force:
            chosen[force] = postcode
        if len(chosen) == count:
            break
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} forces can be given postcodes, not {count}")
    return list(chosen.items())


def plan_stores(chains: int, stores_per_chain: int, forces: int) -> list[StorePlan]:
    """Every chain's stores dealt round the forces, each chain starting one force further
    on, so every force has stores of several chains and every chain spans forces."""
    if chains < 1 or stores_per_chain < 1 or forces < 1:
        raise ValueError("chains, stores and forces must each be at least 1")
    places = force_postcodes(forces)
    plans = []
    for chain in range(chains):
        for index in range(stores_per_chain):
            force, postcode = places[(chain + index) % forces]
            town = TOWNS[index % len(TOWNS)]
            plans.append(
                StorePlan(
                    chain=chain,
                    index=index,
                    force=force,
                    postcode=postcode,
                    name=f"Chain {chain + 1} {force} {town} {index + 1}",
                    town=force.replace("-", " ").title(),
                )
            )
    return plans


def _weighted(rng: random.Random, weights: dict[T, float]) -> T:
    return rng.choices(list(weights), list(weights.values()))[0]


class ReportMix:
    """Makes report bodies (`POST /v1/reports` JSON) for registered stores."""

    def __init__(self, seed: int = 1, people: int = 400, evidence_share: float = 0.0) -> None:
        if not 0.0 <= evidence_share <= 1.0:
            raise ValueError("evidence_share must be between 0 and 1")
        self.rng = random.Random(seed)
        self.evidence_share = evidence_share
        crowd_stores = {f: [f"{f}-{i}" for i in range(n)] for f, n in STORES_PER_FORCE.items()}
        self.crowd = _make_people(self.rng, people, crowd_stores)
        # Heavy-tailed: a few prolific offenders account for many reports.
        self.activity = [min(60.0, self.rng.paretovariate(1.2)) for _ in self.crowd]
        self.count = 0

    def report(self, store: Store, now: datetime | None = None) -> tuple[dict[str, Any], bool]:
        """(body, whether CCTV is to be uploaded for it)."""
        rng = self.rng
        self.count += 1
        offence = _weighted(rng, OFFENCE_WEIGHTS)
        offenders = [self._offender() for _ in range(_weighted(rng, OFFENDER_COUNT_WEIGHTS))]
        with_evidence = rng.random() < self.evidence_share
        when = (now or datetime.now(UTC)) - timedelta(seconds=rng.randint(300, 6 * 3600))
        who = "A man" if offenders and offenders[0].get("sex") == "male" else "A person"
        if len(offenders) > 1:
            who = f"A group of {len(offenders)}"
        juvenile = any(o.get("age_max", 99) < 18 for o in offenders) if offenders else None
        reporter = f"manager.{store.store_id[-8:].lower()}@chain{store.chain + 1}.example"
        body: dict[str, Any] = {
            "store_id": store.store_id,
            "retailer_incident_ref": f"C{store.chain + 1}-{self.count:08d}",
            "occurred_at": when.isoformat(),
            "offence_type": offence.value,
            "account": ACCOUNTS[offence].format(who=who),
            "items": self._items(offence),
            "offenders": offenders,
            "flags": {
                "staff_injured": offence is OffenceType.VIOLENCE_AGAINST_STAFF
                and rng.random() < 0.4,
                "weapon_seen": (offence is OffenceType.ROBBERY and rng.random() < 0.4)
                or rng.random() < 0.01,
                "offender_detained_by_staff": rng.random() < 0.08,
                "offender_juvenile": juvenile,
            },
            "cctv_available": with_evidence or rng.random() < 0.5,
            "reporter": {"name": "Store Manager", "job_title": "Store manager", "email": reporter},
        }
        if rng.random() < 0.25:
            body["witness_statement"] = {
                "witness_name": "Store Manager",
                "witness_role": "store_manager",
                "contact": {"email": reporter},
                "statement": f"I saw what happened. {body['account']}",
                "consent_to_contact": True,
                "declaration_accepted": True,
            }
        return body, with_evidence

    def _offender(self) -> dict[str, Any]:
        person = self.rng.choices(self.crowd, self.activity)[0]
        said = describe(self.rng, person)
        said.pop("truth_id", None)
        if "build" in said:  # the crowd says "stocky"; the contract has an enum
            said["build"] = _BUILD_OF_WORD.get(said["build"], "unknown")
        return said

    def _items(self, offence: OffenceType) -> list[dict[str, Any]]:
        rng = self.rng
        if offence is OffenceType.CRIMINAL_DAMAGE:
            return [{"description": "Chiller door glass", "quantity": 1, "unit_value_pence": 35000}]
        if offence is OffenceType.FRAUD:
            return [
                {
                    "description": "Gift card",
                    "quantity": rng.randint(1, 5),
                    "unit_value_pence": 5000,
                }
            ]
        takes_goods = offence in (
            OffenceType.THEFT_FROM_SHOP,
            OffenceType.ROBBERY,
            OffenceType.BURGLARY,
        )
        if not takes_goods and rng.random() < 0.7:
            return []
        lines = rng.choices(GOODS, k=rng.choices([1, 2, 3, 4], [0.45, 0.3, 0.15, 0.1])[0])
        return [
            {
                "description": description,
                "quantity": rng.choices([1, 2, 3, 4, 6], [0.4, 0.25, 0.15, 0.1, 0.1])[0],
                "unit_value_pence": rng.randint(low, high),
                "recovered": rng.random() < 0.15,
            }
            for description, low, high in lines
        ]
