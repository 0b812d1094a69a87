"""Human references for reports: ``SW-YYYYMMDD-NNNNNN``, read out over the phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

REFERENCE_PATTERN = re.compile(r"^SW-\d{8}-\d{6,}$")


def day_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d")


def format_reference(day: str, sequence: int) -> str:
    if sequence < 1:
        raise ValueError("reference sequence starts at 1")
    return f"SW-{day}-{sequence:06d}"
