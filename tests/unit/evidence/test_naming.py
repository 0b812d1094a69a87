from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopwatch.evidence.domain import EvidenceError
from shopwatch.evidence.naming import (
    Derivative,
    InvalidExhibitRef,
    InvalidFileName,
    derivative_name,
    derived_key,
    format_exhibit_ref,
    initials,
    master_key,
    next_exhibit_ref,
    parse_exhibit_ref,
    ref_for_keys,
    safe_name,
    validate_exhibit_ref,
    validate_file_name,
)

# ---------------------------------------------------------------------------
# uploaded file names


@pytest.mark.parametrize(
    "name",
    [
        "camera1.mp4",
        "CAM 01 2026-11-29 14.03.22.avi",
        "Caméra du magasin.mkv",
        "店内カメラ.mp4",
        "فيديو.mp4",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.mp4",  # Persian with ZWNJ
        ".hidden.mp4",
        "a" * 251 + ".mp4",
    ],
)
def test_good_names_pass(name: str) -> None:
    assert validate_file_name(name) == unicodedata.normalize("NFC", name)


def test_names_are_nfc_normalised() -> None:
    decomposed = "Came\u0301ra.mp4"
    assert validate_file_name(decomposed) == "Caméra.mp4"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("../../etc/passwd", "path separators"),
        ("dir/clip.mp4", "path separators"),
        ("C:\\Users\\clip.mp4", "path separators"),
        ("clip\uff0fmp4", "path separators"),  # full-width solidus
        ("clip\u2215x.mp4", "path separators"),  # division slash
        ("clip\u2044x.mp4", "path separators"),  # fraction slash
        ("..", "'..'"),
        ("clip..mp4", "'..'"),
        (".", "'.'"),
        ("clip\x00.mp4", "control characters"),
        ("clip\n.mp4", "control characters"),
        ("clip\x7f.mp4", "control characters"),
        ("clip\x85.mp4", "control characters"),  # C1 next line
        ("clip\u2028.mp4", "control characters"),  # line separator
        ("evil\u202egpj.exe", "invisible formatting"),  # right-to-left override
        ("clip\u200b.mp4", "invisible formatting"),  # zero-width space
        ("\ufeffclip.mp4", "invisible formatting"),  # BOM
        (" clip.mp4", "spaces"),
        ("clip.mp4 ", "spaces"),
        ("a" * 256, "too long"),
        ("é" * 200, "too long"),  # 200 characters but 400 UTF-8 bytes
        ("clip\ud800.mp4", "surrogate"),
    ],
)
def test_bad_names_are_refused_with_a_clear_reason(name: str, message: str) -> None:
    with pytest.raises(InvalidFileName, match=re.escape(message)) as info:
        validate_file_name(name)
    assert info.value.field == "file_name"
    assert isinstance(info.value, EvidenceError)


@given(st.text(max_size=300))
def test_any_accepted_name_is_a_single_safe_path_component(name: str) -> None:
    try:
        clean = validate_file_name(name)
    except InvalidFileName as exc:
        assert exc.message
        return
    assert "/" not in clean and "\\" not in clean
    assert ".." not in clean
    assert clean not in (".", "")
    assert all(unicodedata.category(c) not in ("Cc", "Zl", "Zp") for c in clean)
    assert len(clean.encode()) <= 255
    assert unicodedata.normalize("NFC", clean) == clean
    assert "/" not in unicodedata.normalize("NFKC", clean)


@given(st.text(min_size=1, max_size=200))
def test_safe_name_is_ascii_key_safe(name: str) -> None:
    try:
        safe = safe_name(name)
    except InvalidFileName:
        return
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,120}", safe)
    assert not safe.startswith(".")
    assert ".." not in safe


def test_safe_name_keeps_the_extension() -> None:
    assert safe_name("Caméra 1 (nuit).MP4") == "Camera_1_nuit.mp4"
    assert safe_name("店内カメラ.mp4") == "file.mp4"
    assert safe_name("README") == "README"


# ---------------------------------------------------------------------------
# exhibit references


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane Smith", "JS"),
        ("jane  smith", "JS"),
        ("Mary-Jane O'Neill", "MJO"),
        ("Zoë Ågren", "ZA"),
        ("Cher", "C"),
        ("Anna Beth Carol Dee Eve", "ACDE"),
    ],
)
def test_initials(name: str, expected: str) -> None:
    assert initials(name) == expected


def test_initials_need_letters() -> None:
    with pytest.raises(InvalidExhibitRef):
        initials("  123 ")


def test_format_parse_and_validate() -> None:
    assert format_exhibit_ref("js", 1) == "JS/1"
    assert validate_exhibit_ref(" js/12 ") == "JS/12"
    assert parse_exhibit_ref("ABC/7") == ("ABC", 7)


@pytest.mark.parametrize(
    "ref",
    ["", "JS", "JS/", "JS/0", "JS/01", "J S/1", "JS-1", "JS/1/2", "ABCDEF/1", "JS/1234567", "ÉS/1"],
)
def test_bad_refs_are_refused(ref: str) -> None:
    with pytest.raises(InvalidExhibitRef, match=r"e\.g\. JS/1") as info:
        validate_exhibit_ref(ref)
    assert info.value.field == "exhibit_ref"


def test_next_exhibit_ref_counts_per_initials() -> None:
    assert next_exhibit_ref("JS", []) == "JS/1"
    assert next_exhibit_ref("JS", ["JS/1", "JS/3", "AB/9", "garbage"]) == "JS/4"
    assert next_exhibit_ref("ab", ["JS/1", "AB/9"]) == "AB/10"


@given(st.from_regex(r"[A-Z]{1,5}", fullmatch=True), st.integers(min_value=1, max_value=999_999))
def test_refs_round_trip(letters: str, seq: int) -> None:
    ref = format_exhibit_ref(letters, seq)
    assert parse_exhibit_ref(ref) == (letters, seq)
    assert "/" not in ref_for_keys(ref)


# ---------------------------------------------------------------------------
# derivatives and keys


def test_derivative_names_tie_to_the_master() -> None:
    assert derivative_name("JS/1", Derivative.PREVIEW) == "JS_1-PREVIEW-1.mp4"
    assert derivative_name("JS/1", Derivative.STILL, 3) == "JS_1-STILL-3.jpg"
    assert derivative_name("js/12", Derivative.THUMBS) == "JS_12-THUMBS-1.jpg"
    with pytest.raises(EvidenceError):
        derivative_name("JS/1", Derivative.STILL, 0)
    with pytest.raises(InvalidExhibitRef):
        derivative_name("../1", Derivative.STILL)


def test_object_keys() -> None:
    assert (
        master_key("tesco", "ev_01HZX", "CAM 1 (entrance).mp4")
        == "masters/tesco/ev_01HZX/CAM_1_entrance.mp4"
    )
    assert derived_key("ev_01HZX", "JS_1-PREVIEW-1.mp4") == "derived/ev_01HZX/JS_1-PREVIEW-1.mp4"


@pytest.mark.parametrize(
    ("retailer", "evidence"), [("../x", "e1"), ("r1", "a/b"), ("", "e1"), ("r1", "-e")]
)
def test_keys_refuse_unsafe_ids(retailer: str, evidence: str) -> None:
    with pytest.raises(EvidenceError):
        master_key(retailer, evidence, "clip.mp4")


def test_derived_key_refuses_unsafe_names() -> None:
    with pytest.raises(EvidenceError):
        derived_key("e1", "../masters/x.mp4")
    with pytest.raises(EvidenceError):
        derived_key("e1", "a b.jpg")
