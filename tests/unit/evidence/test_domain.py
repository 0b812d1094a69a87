from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopwatch.evidence.domain import (
    DEFAULT_LIMITS,
    S3_MAX_PART_SIZE,
    S3_MAX_PARTS,
    S3_MIN_PART_SIZE,
    EvidenceError,
    EvidenceStatus,
    GiB,
    InvalidTransition,
    MiB,
    UploadedPart,
    UploadLimits,
    allowed_transitions,
    can_transition,
    check_parts_complete,
    download_url_lifetime,
    parse_part_numbers,
    plan_parts,
    transition,
    validate_part_numbers,
    validate_sha256,
    validate_size,
)

# ---------------------------------------------------------------------------
# sizes and part plans


def test_one_byte_is_one_part() -> None:
    plan = plan_parts(1)
    assert (plan.part_count, plan.part_size, plan.last_part_size) == (1, 16 * MiB, 1)


def test_exact_multiple_has_a_full_last_part() -> None:
    plan = plan_parts(3 * 16 * MiB)
    assert plan.part_count == 3
    assert plan.last_part_size == 16 * MiB


def test_one_byte_over_a_multiple_adds_a_part() -> None:
    plan = plan_parts(3 * 16 * MiB + 1)
    assert plan.part_count == 4
    assert plan.last_part_size == 1


def test_fifty_gib_fits_in_s3_limits() -> None:
    plan = plan_parts(50 * GiB)
    assert plan.part_count <= S3_MAX_PARTS
    assert S3_MIN_PART_SIZE <= plan.part_size <= S3_MAX_PART_SIZE
    assert plan.part_size * (plan.part_count - 1) + plan.last_part_size == 50 * GiB


def test_small_preferred_part_size_grows_to_stay_within_10000_parts() -> None:
    limits = UploadLimits(preferred_part_size=5 * MiB)
    plan = plan_parts(50 * GiB, limits)
    assert plan.part_count <= S3_MAX_PARTS
    assert plan.part_size == 6 * MiB  # the smallest whole MiB that fits
    assert plan_parts(5 * MiB * S3_MAX_PARTS, limits).part_count == S3_MAX_PARTS


@given(st.integers(min_value=1, max_value=50 * GiB))
def test_any_allowed_size_gets_a_valid_plan(size: int) -> None:
    plan = plan_parts(size)
    assert 1 <= plan.part_count <= S3_MAX_PARTS
    assert S3_MIN_PART_SIZE <= plan.part_size <= S3_MAX_PART_SIZE
    assert 1 <= plan.last_part_size <= plan.part_size
    offset, length = plan.byte_range(plan.part_count)
    assert offset + length == size


@pytest.mark.parametrize(
    ("size", "code", "message"),
    [
        (0, "empty_file", "empty"),
        (-5, "empty_file", "empty"),
        (50 * GiB + 1, "too_large", "limit is 50.00 GiB"),
        (2**63, "too_large", "limit"),
    ],
)
def test_bad_sizes(size: int, code: str, message: str) -> None:
    with pytest.raises(EvidenceError, match=message) as info:
        plan_parts(size)
    assert (info.value.field, info.value.code) == ("size", code)


def test_size_must_be_an_int() -> None:
    with pytest.raises(EvidenceError):
        validate_size(True)
    with pytest.raises(EvidenceError):
        validate_size(1.5)  # type: ignore[arg-type]


def test_configured_limit() -> None:
    limits = UploadLimits(max_size=1 * GiB)
    assert validate_size(1 * GiB, limits) == 1 * GiB
    with pytest.raises(EvidenceError, match="the limit is"):
        validate_size(1 * GiB + 1, limits)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        UploadLimits(preferred_part_size=1 * MiB)
    with pytest.raises(ValueError):
        UploadLimits(max_size=S3_MAX_PARTS * S3_MAX_PART_SIZE + 1)
    with pytest.raises(ValueError):
        UploadLimits(min_size=0)


# ---------------------------------------------------------------------------
# presign requests


def test_parse_part_numbers_lists_and_ranges() -> None:
    plan = plan_parts(100 * 16 * MiB)
    assert parse_part_numbers("3,1, 5-7", plan) == [1, 3, 5, 6, 7]
    assert parse_part_numbers("100", plan) == [100]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        ("0", "outside 1..100"),
        ("101", "outside 1..100"),
        ("1,1", "listed twice"),
        ("5-3", "backwards"),
        ("a", "not a part number"),
        ("1-", "not a part number"),
        ("-1", "not a part number"),
        ("1-99999", "at most 100"),
        (",".join(str(n) for n in range(1, 102)), "at most 100"),
        ("99999999999", "not a part number"),
    ],
)
def test_bad_part_numbers(text: str, message: str) -> None:
    plan = plan_parts(100 * 16 * MiB)
    with pytest.raises(EvidenceError, match=message) as info:
        parse_part_numbers(text, plan)
    assert info.value.field == "numbers"


def test_validate_part_numbers_bounds_the_request() -> None:
    plan = plan_parts(50 * GiB)
    assert validate_part_numbers(list(range(1, 101)), plan) == list(range(1, 101))
    with pytest.raises(EvidenceError, match="at most"):
        validate_part_numbers(list(range(1, 102)), plan)
    small = UploadLimits(max_parts_per_request=2)
    with pytest.raises(EvidenceError, match="at most 2"):
        validate_part_numbers([1, 2, 3], plan, small)


def test_complete_upload_passes_in_order() -> None:
    plan = plan_parts(40 * MiB)
    parts = [UploadedPart(n, plan.part_length(n), f"e{n}") for n in (3, 1, 2)]
    assert [p.number for p in check_parts_complete(plan, parts)] == [1, 2, 3]


def test_missing_and_wrong_sized_parts_are_named() -> None:
    plan = plan_parts(40 * MiB)  # 16 + 16 + 8
    parts = [UploadedPart(1, 16 * MiB, "a"), UploadedPart(3, 7 * MiB, "c")]
    with pytest.raises(EvidenceError, match=r"missing parts 2; parts of the wrong size 3") as info:
        check_parts_complete(plan, parts)
    assert info.value.code == "incomplete_upload"


# ---------------------------------------------------------------------------
# status machine


def test_happy_path() -> None:
    status = EvidenceStatus.INITIATED
    for target in (EvidenceStatus.UPLOADED, EvidenceStatus.VERIFYING, EvidenceStatus.STORED):
        status = transition(status, target)
    assert transition(status, EvidenceStatus.DELETED) is EvidenceStatus.DELETED


def test_rejected_path() -> None:
    assert can_transition(EvidenceStatus.VERIFYING, EvidenceStatus.REJECTED)
    assert can_transition(EvidenceStatus.REJECTED, EvidenceStatus.DELETED)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (EvidenceStatus.UPLOADED, EvidenceStatus.UPLOADED),  # completing twice
        (EvidenceStatus.INITIATED, EvidenceStatus.STORED),
        (EvidenceStatus.STORED, EvidenceStatus.REJECTED),
        (EvidenceStatus.REJECTED, EvidenceStatus.STORED),
        (EvidenceStatus.STORED, EvidenceStatus.UPLOADED),  # never overwrite a good master
        (EvidenceStatus.DELETED, EvidenceStatus.STORED),
    ],
)
def test_illegal_transitions(current: EvidenceStatus, target: EvidenceStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"is {current.value}") as info:
        transition(current, target)
    assert info.value.code == "conflict"


def test_every_live_status_can_be_deleted() -> None:
    for status in EvidenceStatus:
        if status is not EvidenceStatus.DELETED:
            assert EvidenceStatus.DELETED in allowed_transitions(status)
    assert allowed_transitions(EvidenceStatus.DELETED) == frozenset()


# ---------------------------------------------------------------------------
# declared hash and links


def test_sha256_format() -> None:
    digest = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
    assert validate_sha256(digest) == digest.lower()
    for bad in ("", "abc", digest[:-1], digest + "0", "g" * 64, " " + digest[1:]):
        with pytest.raises(EvidenceError, match="64 hexadecimal") as info:
            validate_sha256(bad)
        assert info.value.field == "sha256"


def test_download_links_live_at_most_fifteen_minutes() -> None:
    assert download_url_lifetime() == timedelta(minutes=15)
    assert download_url_lifetime(timedelta(hours=2)) == timedelta(minutes=15)
    assert download_url_lifetime(timedelta(seconds=5)) == timedelta(minutes=1)
    assert DEFAULT_LIMITS.max_size == 50 * GiB
