"""Forces are complete and postcodes validate and map to their default force."""

from __future__ import annotations

import re

import pytest

from shopwatch.schemas.forces import (
    FORCE_SLUGS,
    FORCES,
    TERRITORIAL_ENGLAND_AND_WALES,
    ForceKind,
    Nation,
    UnknownForceError,
    canonical_force_slug,
    force_by_slug,
    is_known_force,
)
from shopwatch.schemas.postcodes import (
    CROWN_DEPENDENCY_AREAS,
    DISTRICT_OVERRIDES,
    POSTCODE_AREAS,
    InvalidPostcodeError,
    default_force_for_postcode,
    default_force_match,
    is_valid_postcode,
    normalise_postcode,
    parse_outward,
    parse_postcode,
)


def test_all_uk_forces() -> None:
    assert len(FORCES) == 46
    assert len(TERRITORIAL_ENGLAND_AND_WALES) == 43
    assert len(set(FORCE_SLUGS)) == 46
    assert {"btp", "police-scotland", "northern-ireland"} <= set(FORCE_SLUGS)
    assert force_by_slug("btp").kind is ForceKind.SPECIAL
    assert force_by_slug("police-scotland").nation is Nation.SCOTLAND
    assert force_by_slug("northern-ireland").name == "Police Service of Northern Ireland"
    welsh = {f.slug for f in FORCES.values() if f.nation is Nation.WALES}
    assert welsh == {"dyfed-powys", "gwent", "north-wales", "south-wales"}


def test_slugs_are_topic_safe() -> None:
    for slug, force in FORCES.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", slug), slug
        assert force.slug == slug
        assert force.name


@pytest.mark.parametrize(
    "slug", ["durham", "cleveland", "northumbria", "metropolitan", "city-of-london"]
)
def test_known_slugs(slug: str) -> None:
    assert is_known_force(slug)
    assert force_by_slug(slug).slug == slug


def test_unknown_slug() -> None:
    assert not is_known_force("Durham")
    assert not is_known_force("psni")  # an alias, not a slug
    with pytest.raises(UnknownForceError, match="unknown force slug 'gotham'"):
        force_by_slug("gotham")


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("Durham", "durham"),
        ("PSNI", "northern-ireland"),
        ("British Transport Police", "btp"),
        ("city_of_london", "city-of-london"),
        (" met ", "metropolitan"),
    ],
)
def test_canonical_force_slug(typed: str, slug: str) -> None:
    assert canonical_force_slug(typed) == slug


# --- postcodes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        (" SW1A  1AA ", "SW1A 1AA"),
        ("dh1 3le", "DH1 3LE"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("W1A 0AX", "W1A 0AX"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("BT1 5GS", "BT1 5GS"),
        ("ZE1 0AA", "ZE1 0AA"),
    ],
)
def test_valid_postcodes_normalise(given: str, normalised: str) -> None:
    assert normalise_postcode(given) == normalised
    assert is_valid_postcode(given)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SW1A",
        "SW1A 1A",
        "QA1 1AA",  # Q never starts a postcode
        "AI1 1AA",  # I never second
        "XX1 1AA",  # no such area
        "ZZ99 3WZ",  # pseudo-postcode
        "SW1A 1AC",  # C not used in the unit
        "12345",
        "GIR 0AA",
        "SW1A-1AA",
        "SW1A 1AA 2BB",
    ],
)
def test_invalid_postcodes(bad: str) -> None:
    assert not is_valid_postcode(bad)
    with pytest.raises(InvalidPostcodeError):
        normalise_postcode(bad)


def test_postcode_parts() -> None:
    parsed = parse_postcode("sw1a 2aa")
    assert (parsed.area, parsed.district, parsed.outward, parsed.inward, parsed.sector) == (
        "SW",
        "SW1A",
        "SW1A",
        "2AA",
        "SW1A 2",
    )
    assert parse_outward("ec2") == ("EC", "EC2")
    with pytest.raises(InvalidPostcodeError):
        parse_outward("EC2AB")


@pytest.mark.parametrize(
    ("postcode", "force"),
    [
        ("DH1", "durham"),
        ("DH1 3LE", "durham"),
        ("TS1", "cleveland"),
        ("TS1 2AA", "cleveland"),
        ("NE1", "northumbria"),
        ("NE1 4ST", "northumbria"),
        ("SW1A", "metropolitan"),
        ("SW1A 1AA", "metropolitan"),
        ("EC2", "city-of-london"),
        ("EC2V 7HH", "city-of-london"),
        ("EC1A 1BB", "city-of-london"),
        ("EC1V 2NX", "metropolitan"),
        ("EC2A 4NE", "metropolitan"),
        ("DH4 5AA", "northumbria"),  # Houghton-le-Spring, City of Sunderland
        ("SR8 1AA", "durham"),  # Peterlee
        ("TD15 1AA", "northumbria"),  # Berwick-upon-Tweed
        ("TD1 1AA", "police-scotland"),
        ("BT7 1NN", "northern-ireland"),
        ("CF10 1AA", "south-wales"),
        ("SA31 1AA", "dyfed-powys"),
        ("CH5 1AA", "north-wales"),
        ("CH41 1AA", "merseyside"),
        ("M1 1AE", "greater-manchester"),
        ("B1 1AA", "west-midlands"),
        ("B98 0AA", "west-mercia"),
        ("CV34 4AA", "warwickshire"),
        ("PO19 1AA", "sussex"),
        ("LA9 4AA", "cumbria"),
        ("HP1 1AA", "hertfordshire"),
        ("HP20 1AA", "thames-valley"),
        ("L39 2AA", "lancashire"),  # Ormskirk
        ("CB8 7AA", "suffolk"),  # Newmarket
        ("TN34 1AA", "sussex"),  # Hastings
        ("RG21 7AA", "hampshire"),  # Basingstoke
        ("KT1 1AA", "metropolitan"),  # Kingston
        ("KT22 7AA", "surrey"),  # Leatherhead
    ],
)
def test_default_force_pairs(postcode: str, force: str) -> None:
    assert default_force_for_postcode(postcode) == force


def test_match_says_which_rule_decided() -> None:
    district = default_force_match("EC1V 2NX")
    assert district is not None
    assert (district.matched, district.level) == ("EC1", "district")
    area = default_force_match("DH1 3LE")
    assert area is not None
    assert (area.matched, area.level) == ("DH", "area")


def test_crown_dependencies_have_no_uk_force() -> None:
    assert {"GY", "JE", "IM"} == CROWN_DEPENDENCY_AREAS
    assert default_force_for_postcode("GY1 1AA") is None
    assert default_force_match("JE2 3AB") is None


def test_every_uk_postcode_area_is_covered() -> None:
    uk_areas = set(POSTCODE_AREAS) - CROWN_DEPENDENCY_AREAS
    assert len(uk_areas) == 121
    for area in uk_areas:
        assert POSTCODE_AREAS[area] in FORCES


def test_every_territorial_force_is_some_postcode_default() -> None:
    defaults = {f for f in POSTCODE_AREAS.values() if f} | set(DISTRICT_OVERRIDES.values())
    territorial = {f.slug for f in FORCES.values() if f.kind is ForceKind.TERRITORIAL}
    assert territorial <= defaults
    assert "btp" not in defaults  # the railways have no postcode of their own


def test_overrides_are_real_districts_of_their_area() -> None:
    for district, force in DISTRICT_OVERRIDES.items():
        area, outward = parse_outward(district)
        assert outward == district
        assert POSTCODE_AREAS[area] != force or district in {"EC1A"}, district
