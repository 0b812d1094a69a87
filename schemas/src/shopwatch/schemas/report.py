"""The report a retailer files, and the store it is about.

``Report`` is the body a retailer posts (``POST /v1/reports``): it carries no id the
server assigns. ``ReportSubmitted`` (events) wraps it with the report id, the human
reference, the retailer id and a snapshot of the store as registered.

What police ask for from a shop-theft report: time and place, offence, goods and value,
a description of each offender, whether staff were hurt or threatened, whether the
offender was detained, a witness statement in MG11 shape, and the CCTV (uploaded
separately to the evidence service).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from shopwatch.schemas.enums import Build, IcCode, OffenceType, Sex, WitnessRole
from shopwatch.schemas.forces import ForceSlug
from shopwatch.schemas.postcodes import Postcode
from shopwatch.schemas.primitives import (
    MAX_ITEMS,
    MAX_OFFENDERS,
    Contract,
    Email,
    Id,
    Line500,
    LongText,
    MediumText,
    Name,
    PastUtcDatetime,
    Pence,
    ShortText,
    sensitive,
)

MG11_DECLARATION = (
    "This statement (consisting of the text I have given) is true to the best of my "
    "knowledge and belief and I make it knowing that, if it is tendered in evidence, I "
    "shall be liable to prosecution if I have wilfully stated in it anything which I "
    "know to be false, or do not believe to be true."
)
"""The s.9 Criminal Justice Act 1967 declaration a witness accepts on an MG11."""

PhoneNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{5,22}[0-9]$"),
]
"""A telephone number: digits with optional leading +, spaces, brackets and dashes."""

VehicleRegistration = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=12),
]


def _normalise_registration(value: str) -> str:
    compact = "".join(ch for ch in value.upper() if ch not in " -")
    if not compact or not compact.isascii() or not compact.isalnum() or len(compact) > 10:
        raise ValueError(
            "must be 1-10 letters and digits (spaces and dashes are ignored), "
            "e.g. 'AB12 CDE' or a partial 'AB12'"
        )
    return compact


class Location(Contract):
    """WGS84 coordinates, bounded to the UK and its surrounding waters."""

    latitude: float = Field(ge=49.0, le=61.5, allow_inf_nan=False)
    longitude: float = Field(ge=-11.0, le=2.5, allow_inf_nan=False)


class StoreSnapshot(Contract):
    """The store as registered with intake at the time of the report.

    A snapshot travels with the report so downstream services never need intake's
    database. ``force_override`` is set when the store's force is known better than
    the postcode table can know it; routing honours it first.
    """

    store_id: Id
    name: Name
    address_lines: list[ShortText] = Field(min_length=1, max_length=6)
    town: ShortText
    postcode: Postcode
    location: Location | None = None
    force_override: ForceSlug | None = None


class Item(Contract):
    """One line of goods taken: what, how many, what each was worth."""

    description: Line500
    quantity: int = Field(ge=1, le=10_000)
    unit_value_pence: Pence
    recovered: bool = False

    @property
    def total_value_pence(self) -> int:
        return self.quantity * self.unit_value_pence


class OffenderDescription(Contract):
    """What staff saw of one offender. Everything is optional: staff say what they know.

    Ranges are inclusive and must be in order (``age_min`` <= ``age_max``). ``ic_code``
    is special category data: marked sensitive and sent to the owning force only.
    """

    sex: Sex = Sex.UNKNOWN
    age_min: int | None = Field(default=None, ge=0, le=120)
    age_max: int | None = Field(default=None, ge=0, le=120)
    height_min_cm: int | None = Field(default=None, ge=50, le=250)
    height_max_cm: int | None = Field(default=None, ge=50, le=250)
    build: Build | None = None
    hair: ShortText | None = None
    clothing: MediumText | None = None
    distinguishing_features: MediumText | None = None
    name: Name | None = None
    aliases: list[Name] = Field(default_factory=list, max_length=10)
    vehicle_registration: VehicleRegistration | None = None
    vehicle_description: ShortText | None = None
    ic_code: IcCode | None = sensitive(
        default=None,
        description="Officer-perceived ethnicity code. Sensitive: owning force only.",
    )

    @field_validator("age_max")
    @classmethod
    def _age_range_in_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("age_min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"age_max ({value}) must not be less than age_min ({low})")
        return value

    @field_validator("height_max_cm")
    @classmethod
    def _height_range_in_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("height_min_cm")
        if value is not None and low is not None and value < low:
            raise ValueError(f"height_max_cm ({value}) must not be less than height_min_cm ({low})")
        return value

    @field_validator("vehicle_registration")
    @classmethod
    def _registration(cls, value: str | None) -> str | None:
        return None if value is None else _normalise_registration(value)


class ReportFlags(Contract):
    """Facts the Retail Crime Action Plan prioritises on."""

    staff_injured: bool = False
    weapon_seen: bool = False
    offender_detained_by_staff: bool = False
    offender_juvenile: bool | None = Field(
        default=None, description="True or false if known; null when staff could not tell."
    )


class ContactDetails(Contract):
    email: Email | None = None
    phone: PhoneNumber | None = None


class WitnessStatement(Contract):
    """A witness statement in the shape of an MG11 (s.9 CJA 1967).

    The witness's own words, their consent to be contacted, when they cannot attend
    court, and their acceptance of the s.9 declaration (``MG11_DECLARATION``); without
    the declaration it is not a statement police can tender.
    """

    witness_name: Name
    witness_role: WitnessRole
    occupation: ShortText | None = None
    over_18: bool = True
    contact: ContactDetails = Field(default_factory=ContactDetails)
    statement: LongText
    consent_to_contact: bool
    willing_to_attend_court: bool | None = None
    unavailable_dates: list[date] = Field(default_factory=list, max_length=60)
    availability_notes: MediumText | None = None
    declaration_accepted: bool
    made_at: PastUtcDatetime | None = None

    @field_validator("consent_to_contact")
    @classmethod
    def _reachable_if_consenting(cls, value: bool, info: ValidationInfo) -> bool:
        contact = info.data.get("contact")
        if value and isinstance(contact, ContactDetails) and not (contact.email or contact.phone):
            raise ValueError(
                "consent_to_contact is true but contact has neither an email nor a phone number"
            )
        return value

    @field_validator("declaration_accepted")
    @classmethod
    def _declaration(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "the witness must accept the s.9 Criminal Justice Act 1967 declaration "
                "for the statement to be usable as evidence"
            )
        return value


class ReporterContact(Contract):
    """Who at the store filed the report; where the force and notify reach them."""

    name: Name
    job_title: ShortText | None = None
    email: Email
    phone: PhoneNumber | None = None


class Report(Contract):
    """What a retailer files about one incident at one of its stores.

    The retailer is known from the API key; the store must be one of theirs.
    """

    store_id: Id
    retailer_incident_ref: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = Field(default=None, description="The retailer's own incident number, if any.")
    occurred_at: PastUtcDatetime
    offence_type: OffenceType
    account: LongText = Field(description="What happened, in the reporter's words.")
    items: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS)
    offenders: list[OffenderDescription] = Field(default_factory=list, max_length=MAX_OFFENDERS)
    flags: ReportFlags = Field(default_factory=ReportFlags)
    cctv_available: bool = Field(
        default=False, description="True when CCTV exists and will be uploaded as evidence."
    )
    witness_statement: WitnessStatement | None = None
    reporter: ReporterContact

    @property
    def total_value_pence(self) -> int:
        return sum(item.total_value_pence for item in self.items)

    @property
    def unrecovered_value_pence(self) -> int:
        return sum(item.total_value_pence for item in self.items if not item.recovered)
