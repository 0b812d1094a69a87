"""The contract's `Email` accepts, normalises and refuses exactly what pydantic's EmailStr does."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import EmailStr, Field, TypeAdapter, ValidationError

from shopwatch.schemas.primitives import Email

OURS: TypeAdapter[str] = TypeAdapter(Email)
PYDANTIC: TypeAdapter[str] = TypeAdapter(Annotated[EmailStr, Field(max_length=254)])

ADDRESSES = [
    "staff@example.co.uk",
    "Staff.Member@EXAMPLE.COM",
    "  padded@example.com ",
    "Jo Bloggs <jo@example.com>",
    "dónde@example.es",
    "user+tag@münchen.de",
    "no-at-sign.example.com",
    "two@@example.com",
    "trailing-dot@example.com.",
    "ip@[127.0.0.1]",
    "line\nbreak@example.com",
    "",
    "a" * 250 + "@example.com",
]


def _outcome(adapter: TypeAdapter[str], value: str) -> tuple[str, str]:
    try:
        return ("ok", adapter.validate_python(value))
    except ValidationError as exc:
        # Which check speaks first may differ (length before format here); refused is refused.
        return ("error", "value_error" if exc.errors() else "")


@pytest.mark.parametrize("address", ADDRESSES)
def test_same_outcome_as_emailstr_twice_in_a_row(address: str) -> None:
    expected = _outcome(PYDANTIC, address)
    assert _outcome(OURS, address) == expected
    assert _outcome(OURS, address) == expected  # the remembered answer is the same


def test_same_json_schema_as_emailstr() -> None:
    assert OURS.json_schema() == PYDANTIC.json_schema()
