"""Evidence rules with no I/O: upload sizes and S3 multipart planning, presign requests,
the evidence status machine, and the declared hash.

Every refusal is an ``EvidenceError`` naming the request field at fault, so the HTTP
layer turns it into a 4xx that tells the client what to fix (never a 5xx).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class EvidenceError(ValueError):
    """A request the evidence rules refuse. ``field`` is the request field at fault."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


# ---------------------------------------------------------------------------
# Sizes and multipart plans

# S3's multipart rules (the same on AWS, SeaweedFS, Ceph, MinIO and versitygw).
S3_MIN_PART_SIZE = 5 * MiB  # every part except the last
S3_MAX_PART_SIZE = 5 * GiB
S3_MAX_PARTS = 10_000


@dataclass(frozen=True)
class UploadLimits:
    max_size: int = 50 * GiB
    min_size: int = 1
    # Larger parts mean fewer presign round trips and better throughput; 16 MiB keeps
    # a dropped connection cheap to resume.
    preferred_part_size: int = 16 * MiB
    max_parts_per_request: int = 100  # part URLs presigned in one GET /parts

    def __post_init__(self) -> None:
        if self.min_size < 1:
            raise ValueError("min_size must be at least 1 byte")
        if self.max_size < self.min_size:
            raise ValueError("max_size must not be below min_size")
        if self.max_size > S3_MAX_PARTS * S3_MAX_PART_SIZE:
            raise ValueError("max_size is beyond what S3 multipart upload can hold")
        if not S3_MIN_PART_SIZE <= self.preferred_part_size <= S3_MAX_PART_SIZE:
            raise ValueError("preferred_part_size must be within S3's part size limits")
        if self.max_parts_per_request < 1:
            raise ValueError("max_parts_per_request must be positive")


DEFAULT_LIMITS = UploadLimits()


def validate_size(size: int, limits: UploadLimits = DEFAULT_LIMITS) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise EvidenceError("size must be a whole number of bytes", field="size")
    if size < 1:
        raise EvidenceError("the file is empty (0 bytes)", field="size", code="empty_file")
    if size < limits.min_size:
        raise EvidenceError(
            f"the file is {size} bytes; the minimum is {limits.min_size}",
            field="size",
            code="too_small",
        )
    if size > limits.max_size:
        raise EvidenceError(
            f"the file is {_human(size)}; the limit is {_human(limits.max_size)}",
            field="size",
            code="too_large",
        )
    return size


@dataclass(frozen=True)
class PartPlan:
    size: int
    part_size: int
    part_count: int

    @property
    def last_part_size(self) -> int:
        return self.size - self.part_size * (self.part_count - 1)

    def part_length(self, number: int) -> int:
        """The exact byte count of part ``number`` (1-based)."""
        if not 1 <= number <= self.part_count:
            raise EvidenceError(f"part {number} is outside 1..{self.part_count}", field="numbers")
        return self.last_part_size if number == self.part_count else self.part_size

    def byte_range(self, number: int) -> tuple[int, int]:
        """``(offset, length)`` of part ``number`` in the file."""
        return (number - 1) * self.part_size, self.part_length(number)


def plan_parts(size: int, limits: UploadLimits = DEFAULT_LIMITS) -> PartPlan:
    """Choose a part size: the preferred one, grown (in whole MiB) only as far as needed
    to stay within S3's 10,000 parts. A file no bigger than one part is a single part
    (S3 allows the last part, and so a lone part, to be below 5 MiB).
    """
    validate_size(size, limits)
    smallest_fitting = -(-size // S3_MAX_PARTS)  # ceil
    part_size = max(limits.preferred_part_size, _round_up(smallest_fitting, MiB))
    part_size = min(part_size, S3_MAX_PART_SIZE)
    part_count = max(1, -(-size // part_size))
    if part_count > S3_MAX_PARTS:  # unreachable while UploadLimits caps max_size
        raise EvidenceError("the file is too large for a multipart upload", field="size")
    return PartPlan(size=size, part_size=part_size, part_count=part_count)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# ---------------------------------------------------------------------------
# Presign requests: GET /v1/evidence/{id}/parts?numbers=1,2,5-9

_PART_TOKEN = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")


def parse_part_numbers(
    text: str, plan: PartPlan, limits: UploadLimits = DEFAULT_LIMITS
) -> list[int]:
    """Parse ``"1,2,5-9"`` into sorted part numbers and validate them against the plan."""
    if not text or not text.strip():
        raise EvidenceError("give at least one part number", field="numbers")
    numbers: list[int] = []
    for token in text.split(","):
        match = _PART_TOKEN.match(token)
        if match is None:
            raise EvidenceError(
                f"{token.strip()!r} is not a part number or range like 5-9", field="numbers"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first:
            raise EvidenceError(f"range {first}-{last} runs backwards", field="numbers")
        if last - first + 1 > limits.max_parts_per_request:
            raise EvidenceError(
                f"at most {limits.max_parts_per_request} parts per request", field="numbers"
            )
        numbers.extend(range(first, last + 1))
        if len(numbers) > limits.max_parts_per_request:
            raise EvidenceError(
                f"at most {limits.max_parts_per_request} parts per request", field="numbers"
            )
    return validate_part_numbers(numbers, plan, limits)


def validate_part_numbers(
    numbers: Sequence[int], plan: PartPlan, limits: UploadLimits = DEFAULT_LIMITS
) -> list[int]:
    if not numbers:
        raise EvidenceError("give at least one part number", field="numbers")
    if len(numbers) > limits.max_parts_per_request:
        raise EvidenceError(
            f"at most {limits.max_parts_per_request} parts per request", field="numbers"
        )
    seen: set[int] = set()
    for n in numbers:
        if isinstance(n, bool) or not isinstance(n, int):
            raise EvidenceError("part numbers must be whole numbers", field="numbers")
        if not 1 <= n <= plan.part_count:
            raise EvidenceError(
                f"part {n} is outside 1..{plan.part_count} for this upload", field="numbers"
            )
        if n in seen:
            raise EvidenceError(f"part {n} is listed twice", field="numbers")
        seen.add(n)
    return sorted(seen)


@dataclass(frozen=True)
class UploadedPart:
    number: int
    size: int
    etag: str


def check_parts_complete(plan: PartPlan, uploaded: Iterable[UploadedPart]) -> list[UploadedPart]:
    """Before CompleteMultipartUpload: every planned part is there with its exact size.

    Returns the parts in order; raises ``EvidenceError(code="incomplete_upload")``
    naming the missing or wrong-sized parts (first few) so the client can re-send them.
    """
    by_number: dict[int, UploadedPart] = {}
    for part in uploaded:
        if 1 <= part.number <= plan.part_count:
            by_number[part.number] = part
    missing = [n for n in range(1, plan.part_count + 1) if n not in by_number]
    wrong = [n for n, p in sorted(by_number.items()) if p.size != plan.part_length(n)]
    if missing or wrong:
        problems = []
        if missing:
            problems.append(f"missing parts {_list_some(missing)}")
        if wrong:
            problems.append(f"parts of the wrong size {_list_some(wrong)}")
        raise EvidenceError(
            "the upload is not complete: " + "; ".join(problems),
            field="parts",
            code="incomplete_upload",
        )
    return [by_number[n] for n in range(1, plan.part_count + 1)]


def _list_some(numbers: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    more = len(numbers) - limit
    return shown + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------------
# Status


class EvidenceStatus(StrEnum):
    INITIATED = "initiated"  # upload session open, parts arriving
    UPLOADED = "uploaded"  # multipart upload completed
    VERIFYING = "verifying"  # server is hashing and probing
    STORED = "stored"  # verified master exhibit
    REJECTED = "rejected"  # failed verification; reason recorded
    DELETED = "deleted"  # retention sweep, abandonment or withdrawal; log kept


_TRANSITIONS: Mapping[EvidenceStatus, frozenset[EvidenceStatus]] = {
    EvidenceStatus.INITIATED: frozenset({EvidenceStatus.UPLOADED, EvidenceStatus.DELETED}),
    EvidenceStatus.UPLOADED: frozenset({EvidenceStatus.VERIFYING, EvidenceStatus.DELETED}),
    EvidenceStatus.VERIFYING: frozenset(
        {EvidenceStatus.STORED, EvidenceStatus.REJECTED, EvidenceStatus.DELETED}
    ),
    EvidenceStatus.STORED: frozenset({EvidenceStatus.DELETED}),
    EvidenceStatus.REJECTED: frozenset({EvidenceStatus.DELETED}),
    EvidenceStatus.DELETED: frozenset(),
}


class InvalidTransition(EvidenceError):
    def __init__(self, current: EvidenceStatus, target: EvidenceStatus) -> None:
        super().__init__(
            f"evidence is {current.value}; it cannot become {target.value}",
            field="status",
            code="conflict",
        )
        self.current = current
        self.target = target


def can_transition(current: EvidenceStatus, target: EvidenceStatus) -> bool:
    return target in _TRANSITIONS[current]


def transition(current: EvidenceStatus, target: EvidenceStatus) -> EvidenceStatus:
    """Return ``target`` if the move is allowed, else raise ``InvalidTransition`` (409).

    Completing twice is ``uploaded -> uploaded``: refused, and the master untouched.
    """
    if not can_transition(current, target):
        raise InvalidTransition(current, target)
    return target


def allowed_transitions(current: EvidenceStatus) -> frozenset[EvidenceStatus]:
    return _TRANSITIONS[current]


def is_final(status: EvidenceStatus) -> bool:
    return status is EvidenceStatus.DELETED


# ---------------------------------------------------------------------------
# Declared hash and download links

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def validate_sha256(value: str, *, field: str = "sha256") -> str:
    """The client's SHA-256 as 64 hex characters; returned in lowercase."""
    if not isinstance(value, str) or not _SHA256_HEX.match(value):
        raise EvidenceError(
            "sha256 must be 64 hexadecimal characters (the hex digest of the file)",
            field=field,
        )
    return value.lower()


MAX_DOWNLOAD_URL_LIFETIME = timedelta(minutes=15)


def download_url_lifetime(requested: timedelta | None = None) -> timedelta:
    """A presigned download link lives at most 15 minutes (and at least one)."""
    if requested is None:
        return MAX_DOWNLOAD_URL_LIFETIME
    return max(timedelta(minutes=1), min(requested, MAX_DOWNLOAD_URL_LIFETIME))


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
