"""UK postcodes: validation, normalisation and a default police force per district.

A postcode is ``<outward> <inward>``: the outward code is the area (one or two
letters, e.g. ``SW``) and the district (``SW1A``); the inward code is a sector digit
and a unit (``1AA``). Input is accepted in any case, with or without the space, and
normalised to upper case with a single space (``sw1a1aa`` -> ``SW1A 1AA``).

The force table is a *default* for routing: each postcode area maps to the force
that polices most of it, and district-level overrides correct the areas that
straddle force boundaries (``DH4`` is Sunderland, so Northumbria, not Durham).
Postcode and force boundaries do not nest exactly, so a store's own force override,
set when the store is registered, always wins over this table.

Crown Dependency postcodes (GY Guernsey, JE Jersey, IM Isle of Man) are valid
postcodes but are policed by their own forces, which are not UK forces: they have
no default force here and routing treats them as unroutable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from shopwatch.schemas.forces import FORCES

# Royal Mail's rules: the first letter is never Q, V or X; the second never I, J or Z;
# the letter closing an A9A district is one of ABCDEFGHJKPSTUW and that closing an
# AA9A district one of ABEHMNPRVWXY; the inward unit never uses C, I, K, M, O or V.
_L1 = "[A-PR-UWYZ]"
_L2 = "[A-HK-Y]"
_OUTWARD = (
    "(?P<outward>"
    f"{_L1}[0-9][0-9]?"  # A9, A99
    f"|{_L1}{_L2}[0-9][0-9]?"  # AA9, AA99
    f"|{_L1}[0-9][A-HJKPSTUW]"  # A9A
    f"|{_L1}{_L2}[0-9][ABEHMNPRVWXY]"  # AA9A
    ")"
)
_INWARD = r"(?P<inward>[0-9][ABD-HJLNP-UW-Z]{2})"
_POSTCODE_RE = re.compile(rf"^{_OUTWARD}{_INWARD}$")
_OUTWARD_RE = re.compile(rf"^{_OUTWARD}$")

POSTCODE_PATTERN = r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$"
"""The shape of a *normalised* postcode, as published in the JSON Schema."""

MAX_POSTCODE_INPUT = 16  # "sw1a 1aa" with stray spaces; longer is not a postcode


@dataclass(frozen=True, slots=True)
class ParsedPostcode:
    """A valid postcode split into its parts."""

    postcode: str  # normalised, "SW1A 1AA"
    outward: str  # "SW1A"
    inward: str  # "1AA"
    area: str  # "SW"
    district: str  # "SW1A"; the outward code is the postal district
    sector: str  # "SW1A 1"


class InvalidPostcodeError(ValueError):
    pass


def _compact(value: str) -> str:
    return "".join(value.split()).upper()


def _area_of(outward: str) -> str:
    return outward[:2] if outward[1].isalpha() else outward[:1]


def parse_postcode(value: str) -> ParsedPostcode:
    """Validate and split a UK postcode; raise ``InvalidPostcodeError`` with the reason."""
    if len(value) > MAX_POSTCODE_INPUT:
        raise InvalidPostcodeError(
            f"postcode is {len(value)} characters long; a UK postcode has at most 8"
        )
    compact = _compact(value)
    if compact == "GIR0AA":  # Girobank's historic non-geographic postcode
        raise InvalidPostcodeError("GIR 0AA is a non-geographic postcode, not a store address")
    match = _POSTCODE_RE.match(compact)
    if match is None:
        raise InvalidPostcodeError(
            f"{value!r} is not a valid UK postcode (expected e.g. 'SW1A 1AA' or 'DH1 3LE')"
        )
    area = _area_of(match["outward"])
    if area not in POSTCODE_AREAS:
        raise InvalidPostcodeError(
            f"{value!r} is not a valid UK postcode: no postcode area {area!r}"
        )
    outward, inward = match["outward"], match["inward"]
    return ParsedPostcode(
        postcode=f"{outward} {inward}",
        outward=outward,
        inward=inward,
        area=area,
        district=outward,
        sector=f"{outward} {inward[0]}",
    )


def normalise_postcode(value: str) -> str:
    """``' sw1a1aa '`` -> ``'SW1A 1AA'``; raises ``InvalidPostcodeError`` when invalid."""
    return parse_postcode(value).postcode


def is_valid_postcode(value: str) -> bool:
    try:
        parse_postcode(value)
    except InvalidPostcodeError:
        return False
    return True


def parse_outward(value: str) -> tuple[str, str]:
    """Validate an outward code (``'sw1a'`` -> ``('SW', 'SW1A')``)."""
    compact = _compact(value)
    match = _OUTWARD_RE.match(compact) if len(compact) <= 4 else None
    if match is None or _area_of(match["outward"]) not in POSTCODE_AREAS:
        raise InvalidPostcodeError(f"{value!r} is not a valid UK outward code (e.g. 'SW1A', 'DH1')")
    return _area_of(match["outward"]), match["outward"]


def _postcode_field(value: object) -> object:
    # Normalise before pydantic's own checks so the stored value is canonical.
    if isinstance(value, str):
        return normalise_postcode(value)
    return value


Postcode = Annotated[
    str,
    BeforeValidator(_postcode_field),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": POSTCODE_PATTERN,
            "maxLength": 8,
            "title": "UK postcode",
            "description": "A UK postcode, normalised to upper case with one space.",
            "examples": ["SW1A 1AA", "DH1 3LE"],
        }
    ),
]
"""A pydantic field type: validates and normalises a UK postcode."""


# --- the default force per postcode area ------------------------------------------------

_SCOTLAND = "police-scotland"

POSTCODE_AREAS: MappingProxyType[str, str | None] = MappingProxyType(
    {
        "AB": _SCOTLAND,  # Aberdeen
        "AL": "hertfordshire",  # St Albans
        "B": "west-midlands",  # Birmingham
        "BA": "avon-and-somerset",  # Bath
        "BB": "lancashire",  # Blackburn
        "BD": "west-yorkshire",  # Bradford
        "BH": "dorset",  # Bournemouth
        "BL": "greater-manchester",  # Bolton
        "BN": "sussex",  # Brighton
        "BR": "metropolitan",  # Bromley
        "BS": "avon-and-somerset",  # Bristol
        "BT": "northern-ireland",  # Belfast: all of Northern Ireland
        "CA": "cumbria",  # Carlisle
        "CB": "cambridgeshire",  # Cambridge
        "CF": "south-wales",  # Cardiff
        "CH": "cheshire",  # Chester
        "CM": "essex",  # Chelmsford
        "CO": "essex",  # Colchester
        "CR": "metropolitan",  # Croydon
        "CT": "kent",  # Canterbury
        "CV": "west-midlands",  # Coventry
        "CW": "cheshire",  # Crewe
        "DA": "kent",  # Dartford
        "DD": _SCOTLAND,  # Dundee
        "DE": "derbyshire",  # Derby
        "DG": _SCOTLAND,  # Dumfries
        "DH": "durham",  # Durham
        "DL": "durham",  # Darlington
        "DN": "south-yorkshire",  # Doncaster
        "DT": "dorset",  # Dorchester
        "DY": "west-midlands",  # Dudley
        "E": "metropolitan",  # London East
        "EC": "city-of-london",  # London East Central: the City
        "EH": _SCOTLAND,  # Edinburgh
        "EN": "metropolitan",  # Enfield
        "EX": "devon-and-cornwall",  # Exeter
        "FK": _SCOTLAND,  # Falkirk
        "FY": "lancashire",  # Blackpool
        "G": _SCOTLAND,  # Glasgow
        "GL": "gloucestershire",  # Gloucester
        "GU": "surrey",  # Guildford
        "GY": None,  # Guernsey: Crown Dependency
        "HA": "metropolitan",  # Harrow
        "HD": "west-yorkshire",  # Huddersfield
        "HG": "north-yorkshire",  # Harrogate
        "HP": "thames-valley",  # Hemel Hempstead: mostly Buckinghamshire
        "HR": "west-mercia",  # Hereford
        "HS": _SCOTLAND,  # Outer Hebrides
        "HU": "humberside",  # Hull
        "HX": "west-yorkshire",  # Halifax
        "IG": "metropolitan",  # Ilford
        "IM": None,  # Isle of Man: Crown Dependency
        "IP": "suffolk",  # Ipswich
        "IV": _SCOTLAND,  # Inverness
        "JE": None,  # Jersey: Crown Dependency
        "KA": _SCOTLAND,  # Kilmarnock
        "KT": "surrey",  # Kingston upon Thames: mostly Surrey
        "KW": _SCOTLAND,  # Kirkwall
        "KY": _SCOTLAND,  # Kirkcaldy
        "L": "merseyside",  # Liverpool
        "LA": "lancashire",  # Lancaster
        "LD": "dyfed-powys",  # Llandrindod Wells
        "LE": "leicestershire",  # Leicester
        "LL": "north-wales",  # Llandudno
        "LN": "lincolnshire",  # Lincoln
        "LS": "west-yorkshire",  # Leeds
        "LU": "bedfordshire",  # Luton
        "M": "greater-manchester",  # Manchester
        "ME": "kent",  # Medway
        "MK": "thames-valley",  # Milton Keynes
        "ML": _SCOTLAND,  # Motherwell
        "N": "metropolitan",  # London North
        "NE": "northumbria",  # Newcastle upon Tyne
        "NG": "nottinghamshire",  # Nottingham
        "NN": "northamptonshire",  # Northampton
        "NP": "gwent",  # Newport
        "NR": "norfolk",  # Norwich
        "NW": "metropolitan",  # London North West
        "OL": "greater-manchester",  # Oldham
        "OX": "thames-valley",  # Oxford
        "PA": _SCOTLAND,  # Paisley
        "PE": "cambridgeshire",  # Peterborough
        "PH": _SCOTLAND,  # Perth
        "PL": "devon-and-cornwall",  # Plymouth
        "PO": "hampshire",  # Portsmouth
        "PR": "lancashire",  # Preston
        "RG": "thames-valley",  # Reading
        "RH": "surrey",  # Redhill
        "RM": "metropolitan",  # Romford
        "S": "south-yorkshire",  # Sheffield
        "SA": "south-wales",  # Swansea
        "SE": "metropolitan",  # London South East
        "SG": "hertfordshire",  # Stevenage
        "SK": "greater-manchester",  # Stockport
        "SL": "thames-valley",  # Slough
        "SM": "metropolitan",  # Sutton
        "SN": "wiltshire",  # Swindon
        "SO": "hampshire",  # Southampton
        "SP": "wiltshire",  # Salisbury
        "SR": "northumbria",  # Sunderland
        "SS": "essex",  # Southend-on-Sea
        "ST": "staffordshire",  # Stoke-on-Trent
        "SW": "metropolitan",  # London South West
        "SY": "west-mercia",  # Shrewsbury
        "TA": "avon-and-somerset",  # Taunton
        "TD": _SCOTLAND,  # Galashiels
        "TF": "west-mercia",  # Telford
        "TN": "kent",  # Tonbridge
        "TQ": "devon-and-cornwall",  # Torquay
        "TR": "devon-and-cornwall",  # Truro
        "TS": "cleveland",  # Teesside
        "TW": "metropolitan",  # Twickenham
        "UB": "metropolitan",  # Southall
        "W": "metropolitan",  # London West
        "WA": "cheshire",  # Warrington
        "WC": "metropolitan",  # London West Central
        "WD": "hertfordshire",  # Watford
        "WF": "west-yorkshire",  # Wakefield
        "WN": "greater-manchester",  # Wigan
        "WR": "west-mercia",  # Worcester
        "WS": "west-midlands",  # Walsall
        "WV": "west-midlands",  # Wolverhampton
        "YO": "north-yorkshire",  # York
        "ZE": _SCOTLAND,  # Shetland
    }
)
"""Every postcode area (121 in the UK, plus the 3 Crown Dependencies mapped to None)."""

CROWN_DEPENDENCY_AREAS = frozenset(a for a, f in POSTCODE_AREAS.items() if f is None)


def _districts(force: str, *districts: str) -> dict[str, str]:
    return dict.fromkeys(districts, force)


def _range(area: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{area}{n}" for n in range(first, last + 1))


# District overrides where an area straddles force boundaries. A key is either a full
# district ("EC1V") or the numbered district ("EC1", covering EC1A..EC1Y unless one of
# those has its own entry). Only boundaries known well are listed; the rest fall back
# to the area's force, and a store's override always wins.
DISTRICT_OVERRIDES: MappingProxyType[str, str] = MappingProxyType(
    {
        # Birmingham area: Bromsgrove/Redditch (Worcestershire), Tamworth (Staffordshire),
        # north Warwickshire.
        **_districts("west-mercia", "B60", "B61", "B96", "B97", "B98"),
        **_districts("staffordshire", "B77", "B79"),
        **_districts("warwickshire", "B49", "B50", "B78", "B80", "B95"),
        # Bath area: west Wiltshire.
        **_districts("wiltshire", *_range("BA", 12, 15)),
        # Bradford area: Craven (North Yorkshire).
        **_districts("north-yorkshire", "BD23", "BD24"),
        # Bournemouth area: New Forest (Hampshire).
        **_districts("hampshire", "BH24", "BH25"),
        # Cambridge area: Haverhill (Suffolk), Saffron Walden (Essex).
        **_districts("suffolk", "CB8", "CB9"),  # Newmarket, Haverhill
        **_districts("essex", "CB10", "CB11"),
        # Chester area: Flintshire (North Wales) and the Wirral (Merseyside).
        **_districts("north-wales", "CH5", "CH6", "CH7", "CH8"),
        **_districts("merseyside", *_range("CH", 41, 49), *_range("CH", 60, 63)),
        # Chelmsford area: Bishop's Stortford (Hertfordshire).
        **_districts("hertfordshire", "CM22", "CM23"),
        # Colchester area: Sudbury (Suffolk).
        "CO10": "suffolk",
        # Croydon area: Caterham and Warlingham (Surrey).
        **_districts("surrey", "CR3", "CR6"),
        # Coventry area: Warwickshire towns, Market Bosworth (Leicestershire).
        **_districts(
            "warwickshire",
            *_range("CV", 8, 12),
            *_range("CV", 21, 23),
            *_range("CV", 31, 37),
            "CV47",
        ),
        "CV13": "leicestershire",
        # Dartford area: the London Borough of Bexley (Metropolitan).
        **_districts("metropolitan", "DA5", "DA6", "DA7", "DA8", *_range("DA", 14, 18)),
        # Derby area: Burton upon Trent (Staffordshire).
        **_districts("staffordshire", "DE13", "DE14", "DE15"),
        # Durham area: Houghton-le-Spring and Hetton (City of Sunderland).
        **_districts("northumbria", "DH4", "DH5"),
        # Darlington area: Hambleton and Richmondshire (North Yorkshire).
        **_districts("north-yorkshire", *_range("DL", 6, 11)),
        # Doncaster area: North and North East Lincolnshire, Goole (Humberside);
        # Gainsborough (Lincolnshire); Retford (Nottinghamshire).
        **_districts(
            "humberside",
            *_range("DN", 14, 20),
            *_range("DN", 31, 41),
        ),
        "DN21": "lincolnshire",
        "DN22": "nottinghamshire",
        # Dudley area: Kidderminster and the Wyre Forest (West Mercia).
        **_districts("west-mercia", *_range("DY", 10, 14)),
        # The City of London police the Square Mile; EC1's Clerkenwell, Finsbury and
        # Hatton Garden and EC2A's Shoreditch are in Islington, Camden and Hackney.
        **_districts("metropolitan", "EC1", "EC2A"),
        **_districts("city-of-london", "EC1A"),
        # Enfield area: Hertfordshire towns; Waltham Abbey (Essex).
        **_districts("hertfordshire", "EN6", "EN7", "EN8", "EN10", "EN11"),
        "EN9": "essex",
        # Guildford area: north-east Hampshire, West Sussex, Sandhurst (Thames Valley).
        **_districts(
            "hampshire",
            "GU11",
            "GU12",
            "GU13",
            "GU14",
            "GU17",
            "GU30",
            "GU31",
            "GU32",
            "GU33",
            "GU34",
            "GU35",
            "GU46",
            "GU51",
            "GU52",
        ),
        **_districts("sussex", "GU28", "GU29"),
        "GU47": "thames-valley",
        # Hemel Hempstead area: Dacorum (Hertfordshire); the rest is Buckinghamshire.
        **_districts("hertfordshire", "HP1", "HP2", "HP3", "HP4", "HP23"),
        # Ilford area: Epping Forest (Essex).
        **_districts("essex", "IG7", "IG9", "IG10"),
        # Ipswich area: south Norfolk and Breckland (Norfolk).
        **_districts("norfolk", "IP20", "IP21", "IP22", "IP24", "IP25"),
        # Kingston area: the Royal Borough of Kingston and Sutton (Metropolitan).
        **_districts("metropolitan", "KT1", "KT2", "KT3", "KT4", "KT5", "KT6", "KT9"),
        # Lancaster area: South Lakeland and Furness (Cumbria).
        **_districts("cumbria", *_range("LA", 7, 23)),
        # Leeds area: Tadcaster and Wetherby's rural edge (North Yorkshire).
        "LS24": "north-yorkshire",
        # Milton Keynes area: Bedford and mid Bedfordshire.
        **_districts("bedfordshire", *_range("MK", 40, 45)),
        # Nottingham area: Grantham and Sleaford (Lincolnshire).
        **_districts("lincolnshire", *_range("NG", 31, 34)),
        # Newport area: Crickhowell (Powys).
        "NP8": "dyfed-powys",
        # Norwich area: Lowestoft and Beccles (Suffolk).
        **_districts("suffolk", "NR32", "NR33", "NR34"),
        # Oldham area: Bacup (Lancashire), Todmorden (West Yorkshire).
        "OL13": "lancashire",
        "OL14": "west-yorkshire",
        # Liverpool area: Ormskirk and Burscough (West Lancashire).
        **_districts("lancashire", "L39", "L40"),
        # Gloucester area: Badminton (South Gloucestershire).
        "GL9": "avon-and-somerset",
        # Peterborough area: Oundle (Northamptonshire), south Lincolnshire, west Norfolk.
        "PE8": "northamptonshire",
        **_districts("lincolnshire", *_range("PE", 9, 12), *_range("PE", 20, 25)),
        **_districts("norfolk", *_range("PE", 30, 38)),
        # Portsmouth area: Chichester and Bognor Regis (Sussex).
        **_districts("sussex", *_range("PO", 18, 22)),
        # Preston area: Southport (Merseyside).
        **_districts("merseyside", "PR8", "PR9"),
        # Reading area: Basingstoke and Deane, Hart (Hampshire).
        **_districts("hampshire", *_range("RG", 21, 29)),
        # Redhill area: Crawley, Horsham, Mid Sussex, East Grinstead (Sussex).
        **_districts("sussex", *_range("RH", 10, 20)),
        # Romford area: Thurrock (Essex).
        **_districts("essex", *_range("RM", 15, 20)),
        # Sheffield area: north-east Derbyshire; Worksop (Nottinghamshire).
        **_districts("derbyshire", "S18", "S21", "S32", "S33", *_range("S", 40, 45)),
        **_districts("nottinghamshire", "S80", "S81"),
        # Swansea area: Carmarthenshire, Ceredigion, Pembrokeshire (Dyfed-Powys).
        **_districts(
            "dyfed-powys",
            *_range("SA", 14, 20),
            *_range("SA", 31, 48),
            *_range("SA", 61, 73),
        ),
        # Stevenage area: central Bedfordshire.
        **_districts("bedfordshire", *_range("SG", 15, 19)),
        # Stockport area: Cheshire East; High Peak (Derbyshire).
        **_districts("cheshire", "SK9", "SK10", "SK11", "SK12"),
        **_districts("derbyshire", "SK13", "SK17", "SK22", "SK23"),
        # Sutton area: Banstead (Surrey).
        "SM7": "surrey",
        # Swindon area: Faringdon (Thames Valley).
        "SN7": "thames-valley",
        # Salisbury area: Andover and Fordingbridge (Hampshire); north Dorset.
        **_districts("hampshire", "SP6", "SP10", "SP11"),
        **_districts("dorset", "SP7", "SP8"),
        # Sunderland area: Seaham and Peterlee (Durham).
        **_districts("durham", "SR7", "SR8"),
        # Shrewsbury area: Powys and Ceredigion (Dyfed-Powys).
        **_districts("dyfed-powys", *_range("SY", 15, 25)),
        # Galashiels area: Berwick-upon-Tweed (Northumbria).
        "TD15": "northumbria",
        # Tonbridge area: East Sussex (Sussex).
        **_districts("sussex", "TN5", "TN6", "TN7", *_range("TN", 19, 22), *_range("TN", 31, 40)),
        # Teesside area: Sedgefield and east Durham (Durham); Stokesley (North Yorkshire).
        **_districts("durham", "TS21", "TS28", "TS29"),
        "TS9": "north-yorkshire",
        # Twickenham area: Spelthorne and Runnymede (Surrey).
        **_districts("surrey", *_range("TW", 15, 20)),
        # Warrington area: St Helens and Newton-le-Willows (Merseyside).
        **_districts("merseyside", "WA9", "WA10", "WA11", "WA12"),
        # Wigan area: Skelmersdale (Lancashire).
        "WN8": "lancashire",
        # Walsall area: Cannock Chase, Lichfield and Burntwood (Staffordshire).
        **_districts("staffordshire", "WS6", "WS7", "WS11", "WS12", "WS13", "WS14", "WS15"),
        # Wolverhampton area: South Staffordshire; Bridgnorth and Albrighton (Shropshire).
        **_districts("staffordshire", "WV5", "WV8"),
        **_districts("west-mercia", "WV7", "WV15", "WV16"),
        # York area: the East Riding (Humberside).
        **_districts("humberside", "YO15", "YO16", "YO25", "YO42", "YO43"),
    }
)


@dataclass(frozen=True, slots=True)
class ForceMatch:
    """The default force for a postcode and which table entry decided it."""

    force: str
    matched: str  # the key that matched: "EC1V", "EC1" or "EC"
    level: str  # "district" or "area"


def _numbered_district(district: str) -> str:
    # "EC1V" -> "EC1"; "SW1A" -> "SW1"; "DH1" -> "DH1"
    return district[:-1] if district[-1].isalpha() else district


def default_force_match(postcode_or_outward: str) -> ForceMatch | None:
    """The default force for a full postcode or an outward code, with the rule used.

    Returns None for Crown Dependency postcodes. Raises ``InvalidPostcodeError`` for
    anything that is not a UK postcode or outward code. This is a default only: a
    store's own force override wins.
    """
    compact = _compact(postcode_or_outward)
    if len(compact) > 4:
        parsed = parse_postcode(postcode_or_outward)
        area, district = parsed.area, parsed.district
    else:
        area, district = parse_outward(postcode_or_outward)
    for key in (district, _numbered_district(district)):
        if key in DISTRICT_OVERRIDES:
            return ForceMatch(DISTRICT_OVERRIDES[key], key, "district")
    force = POSTCODE_AREAS[area]
    return None if force is None else ForceMatch(force, area, "area")


def default_force_for_postcode(postcode_or_outward: str) -> str | None:
    """The slug of the force that by default covers this postcode (see the module doc)."""
    match = default_force_match(postcode_or_outward)
    return None if match is None else match.force


def _check_tables() -> None:
    # Fail at import, not at routing time, if someone mistypes a slug or a district.
    for area, force in POSTCODE_AREAS.items():
        if force is not None and force not in FORCES:
            raise AssertionError(f"postcode area {area}: unknown force {force!r}")
    for district, force in DISTRICT_OVERRIDES.items():
        if force not in FORCES:
            raise AssertionError(f"district {district}: unknown force {force!r}")
        parse_outward(district)  # raises if the key is not a real outward code


_check_tables()
