"""Field types and the base model every contract model shares.

The rules live in the types, so each model only says which type a field has:
bounded lengths, no control characters, money as non-negative integer pence,
aware datetimes normalised to UTC, ids safe to use in keys, logs and file names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.networks import validate_email

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a timestamp may be: clocks of shop tills and phones drift."""

MAX_FREE_TEXT = 10_000
MAX_ITEMS = 100
MAX_OFFENDERS = 20
MAX_PENCE = 100_000_000  # £1,000,000 for one line; larger is a typo, not a shop theft


def utc_now() -> datetime:
    """The current time, aware and in UTC (a seam tests can patch)."""
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every contract model: immutable, strict about unknown fields.

    ``extra="forbid"`` makes a typo in a field name an error instead of silent data
    loss. The price is a rollout rule for additive changes: deploy consumers that
    know a new optional field before producers start sending it.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


# --- text -----------------------------------------------------------------------------

_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_single_line(value: str) -> str:
    if _CONTROL_SINGLE_LINE.search(value):
        raise ValueError("must be a single line without control characters")
    return value


def _no_control_multiline(value: str) -> str:
    if _CONTROL_MULTILINE.search(value):
        raise ValueError("must not contain control characters (other than new lines and tabs)")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_single_line),
]
"""A person's or a place's name: one line, 1-200 characters."""

ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_single_line),
]
"""A short single-line description, 1-200 characters."""

Line500 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_control_single_line),
]

MediumText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000),
    AfterValidator(_no_control_multiline),
]
"""A paragraph, 1-2,000 characters; new lines allowed."""

LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FREE_TEXT),
    AfterValidator(_no_control_multiline),
]
"""Free text such as an account or a statement, 1-10,000 characters."""

Id = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"),
]
"""An identifier (UUID, ULID, ObjectId...): letters, digits, '-' and '_', 1-64 long.

Safe in Kafka keys, MongoDB ids, log fields, URLs and file names.
"""


@lru_cache(maxsize=4096)
def _normalised_email(value: str) -> str:
    # The same check and normalisation as pydantic's EmailStr, remembered: a chain's bulk
    # file repeats a few staff addresses thousands of times, and each check costs ~60 us
    # (a fifth of validating a whole report). Invalid addresses raise and are not cached.
    return validate_email(value)[1]


# An email address, validated like pydantic's EmailStr (JSON Schema: format "email").
Email = Annotated[
    str,
    Field(max_length=254),
    AfterValidator(_normalised_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest in lower-case hex."""

MediaType = Annotated[
    str,
    StringConstraints(
        max_length=255,
        pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$",
    ),
]
"""A lower-case IANA media type without parameters, e.g. ``video/mp4``."""

Reference = Annotated[str, StringConstraints(pattern=r"^SW-[0-9]{8}-[0-9]{6}$")]
"""The human report reference: ``SW-`` + UTC date + daily sequence, e.g. SW-20261129-000123."""

ExhibitRef = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9/_-]{0,31}$")]
"""An exhibit reference as written on an exhibit label, e.g. ``JS-1`` or ``JS/1``."""

# --- numbers --------------------------------------------------------------------------

Pence = Annotated[int, Field(ge=0, le=MAX_PENCE)]
"""Money as a whole number of pence, never negative (floats lose pennies)."""

ByteSize = Annotated[int, Field(ge=0, le=1 << 50)]

Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]

# --- time -----------------------------------------------------------------------------


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _not_in_future(value: datetime) -> datetime:
    latest = utc_now() + MAX_CLOCK_SKEW
    if value > latest:
        raise ValueError(
            f"must not be in the future: {value.isoformat()} is after "
            f"{latest.replace(microsecond=0).isoformat()} (now plus "
            f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes of clock skew)"
        )
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An aware datetime (naive ones are refused), converted to UTC."""

PastUtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc), AfterValidator(_not_in_future)]
"""An aware datetime in UTC that is not in the future (beyond MAX_CLOCK_SKEW)."""


def sensitive(**kwargs: Any) -> Any:
    """``Field(...)`` for special category data: marked ``x-sensitive`` in the schema.

    ``shopwatch.schemas.sensitive.strip_sensitive`` removes such fields from anything
    that goes to someone other than the owning force.
    """
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra["x-sensitive"] = True
    return Field(json_schema_extra=extra, **kwargs)


def _safe_file_name(value: str) -> str:
    if value in {".", ".."} or "/" in value or "\\" in value:
        raise ValueError("must be a plain file name without path separators")
    if _CONTROL_SINGLE_LINE.search(value):
        raise ValueError("must not contain control characters")
    return value


FileName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_safe_file_name),
]
"""A file name as the uploader gave it: no path separators, no control characters."""
