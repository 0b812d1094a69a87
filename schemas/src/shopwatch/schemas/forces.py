"""The UK police forces a case can be routed to.

Slugs are the data.police.uk force identifiers (``durham``, ``metropolitan``,
``city-of-london``, ``btp``, ``northern-ireland``, ...): they name each force's Kafka
topics (``force.<slug>.cases.v1``) and its Kafka principal, so they never change.

data.police.uk has no identifier for Police Scotland (it publishes no Scottish data);
``police-scotland`` is ours, in the same style. For humans typing a slug, a few
aliases resolve to the canonical slug (``british-transport-police`` -> ``btp``,
``psni`` -> ``northern-ireland``); everything stored or sent uses canonical slugs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema


class Nation(StrEnum):
    ENGLAND = "england"
    WALES = "wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"
    GREAT_BRITAIN = "great_britain"  # British Transport Police: England, Wales, Scotland


class ForceKind(StrEnum):
    TERRITORIAL = "territorial"
    SPECIAL = "special"  # British Transport Police: the railways, not an area


@dataclass(frozen=True, slots=True)
class Force:
    slug: str
    name: str
    nation: Nation
    kind: ForceKind = ForceKind.TERRITORIAL


_E, _W = Nation.ENGLAND, Nation.WALES

_FORCE_LIST: tuple[Force, ...] = (
    # The 43 territorial forces of England and Wales.
    Force("avon-and-somerset", "Avon and Somerset Constabulary", _E),
    Force("bedfordshire", "Bedfordshire Police", _E),
    Force("cambridgeshire", "Cambridgeshire Constabulary", _E),
    Force("cheshire", "Cheshire Constabulary", _E),
    Force("city-of-london", "City of London Police", _E),
    Force("cleveland", "Cleveland Police", _E),
    Force("cumbria", "Cumbria Constabulary", _E),
    Force("derbyshire", "Derbyshire Constabulary", _E),
    Force("devon-and-cornwall", "Devon & Cornwall Police", _E),
    Force("dorset", "Dorset Police", _E),
    Force("durham", "Durham Constabulary", _E),
    Force("dyfed-powys", "Dyfed-Powys Police", _W),
    Force("essex", "Essex Police", _E),
    Force("gloucestershire", "Gloucestershire Constabulary", _E),
    Force("greater-manchester", "Greater Manchester Police", _E),
    Force("gwent", "Gwent Police", _W),
    Force("hampshire", "Hampshire and Isle of Wight Constabulary", _E),
    Force("hertfordshire", "Hertfordshire Constabulary", _E),
    Force("humberside", "Humberside Police", _E),
    Force("kent", "Kent Police", _E),
    Force("lancashire", "Lancashire Constabulary", _E),
    Force("leicestershire", "Leicestershire Police", _E),
    Force("lincolnshire", "Lincolnshire Police", _E),
    Force("merseyside", "Merseyside Police", _E),
    Force("metropolitan", "Metropolitan Police Service", _E),
    Force("norfolk", "Norfolk Constabulary", _E),
    Force("north-wales", "North Wales Police", _W),
    Force("north-yorkshire", "North Yorkshire Police", _E),
    Force("northamptonshire", "Northamptonshire Police", _E),
    Force("northumbria", "Northumbria Police", _E),
    Force("nottinghamshire", "Nottinghamshire Police", _E),
    Force("south-wales", "South Wales Police", _W),
    Force("south-yorkshire", "South Yorkshire Police", _E),
    Force("staffordshire", "Staffordshire Police", _E),
    Force("suffolk", "Suffolk Constabulary", _E),
    Force("surrey", "Surrey Police", _E),
    Force("sussex", "Sussex Police", _E),
    Force("thames-valley", "Thames Valley Police", _E),
    Force("warwickshire", "Warwickshire Police", _E),
    Force("west-mercia", "West Mercia Police", _E),
    Force("west-midlands", "West Midlands Police", _E),
    Force("west-yorkshire", "West Yorkshire Police", _E),
    Force("wiltshire", "Wiltshire Police", _E),
    # The rest of the UK.
    Force("btp", "British Transport Police", Nation.GREAT_BRITAIN, ForceKind.SPECIAL),
    Force("police-scotland", "Police Scotland", Nation.SCOTLAND),
    Force("northern-ireland", "Police Service of Northern Ireland", Nation.NORTHERN_IRELAND),
)

FORCES: MappingProxyType[str, Force] = MappingProxyType({f.slug: f for f in _FORCE_LIST})
"""Every force by canonical slug, in alphabetical order of England and Wales, then the rest."""

FORCE_SLUGS: tuple[str, ...] = tuple(FORCES)

TERRITORIAL_ENGLAND_AND_WALES: tuple[str, ...] = tuple(
    f.slug
    for f in _FORCE_LIST
    if f.kind is ForceKind.TERRITORIAL and f.nation in (Nation.ENGLAND, Nation.WALES)
)

FORCE_ALIASES: MappingProxyType[str, str] = MappingProxyType(
    {
        "british-transport-police": "btp",
        "psni": "northern-ireland",
        "police-service-of-northern-ireland": "northern-ireland",
        "scotland": "police-scotland",
        "met": "metropolitan",
        "metropolitan-police": "metropolitan",
        "city-of-london-police": "city-of-london",
    }
)


class UnknownForceError(ValueError):
    """A slug that names no force; the message lists how to find the valid ones."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__(
            f"unknown force slug {slug!r}: expected a data.police.uk force identifier "
            f"such as 'durham' or 'metropolitan' ({len(FORCES)} known forces)"
        )


def is_known_force(slug: str) -> bool:
    """True only for a canonical slug (aliases are not slugs)."""
    return slug in FORCES


def force_by_slug(slug: str) -> Force:
    """The force with this canonical slug, or ``UnknownForceError``."""
    try:
        return FORCES[slug]
    except KeyError:
        raise UnknownForceError(slug) from None


def canonical_force_slug(value: str) -> str:
    """Resolve what a person typed (any case, an alias) to a canonical slug."""
    cleaned = value.strip().lower().replace("_", "-").replace(" ", "-")
    slug = FORCE_ALIASES.get(cleaned, cleaned)
    if slug not in FORCES:
        raise UnknownForceError(value)
    return slug


def _check_force_slug(value: str) -> str:
    if value not in FORCES:
        raise UnknownForceError(value)
    return value


ForceSlug = Annotated[
    str,
    AfterValidator(_check_force_slug),
    WithJsonSchema({"type": "string", "enum": list(FORCE_SLUGS), "title": "Force slug"}),
]
"""A pydantic field type accepting only canonical force slugs."""
