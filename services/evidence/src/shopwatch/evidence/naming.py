"""Names: the uploaded file name, exhibit references, derivative names, object keys.

The original file name is kept (NFC-normalised) because it is part of the exhibit's
provenance, but it never reaches a path or an object key as-is: keys are built from
ids and a sanitised ASCII form of the name.

Exhibit references follow police practice: the producing witness's initials and a
sequence number, ``JS/1``, ``JS/2``. Derivatives carry the master's reference so a
copy can always be traced to its exhibit: ``JS_1-PREVIEW-1.mp4``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum

from shopwatch.evidence.domain import EvidenceError

MAX_FILE_NAME_CHARS = 255
MAX_FILE_NAME_BYTES = 255  # what ext4, NTFS (UTF-16 units aside) and APFS allow

# Characters that act or look like path separators. NFKC folds the full-width forms
# into '/' and '\\'; the rest survive NFKC and must be named.
_SEPARATOR_LOOKALIKES = frozenset("/\\\u2215\u2044\u29f8\u29f9\u2216\ufe68\uff0f\uff3c")
# Format characters allowed inside names: the zero-width (non-)joiners are real
# orthography in Persian, Indic scripts and emoji sequences.
_ALLOWED_FORMAT_CHARS = frozenset("\u200c\u200d")


class InvalidFileName(EvidenceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="file_name", code="invalid_file_name")


def validate_file_name(name: str) -> str:
    """Return the NFC form of an uploaded file name, or raise ``InvalidFileName``."""
    if not isinstance(name, str):
        raise InvalidFileName("file name must be text")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFileName("file name is not valid Unicode (lone surrogate)") from None
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise InvalidFileName("file name is empty")
    if len(name) > MAX_FILE_NAME_CHARS or len(name.encode("utf-8")) > MAX_FILE_NAME_BYTES:
        raise InvalidFileName(
            f"file name is too long (at most {MAX_FILE_NAME_CHARS} characters"
            f" and {MAX_FILE_NAME_BYTES} bytes in UTF-8)"
        )
    for ch in name:
        if ch in _SEPARATOR_LOOKALIKES:
            raise InvalidFileName(
                f"file name must not contain path separators (found {_describe(ch)});"
                " send the bare name, e.g. camera1.mp4"
            )
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            raise InvalidFileName(
                f"file name must not contain control characters ({_describe(ch)})"
            )
        if category == "Cf" and ch not in _ALLOWED_FORMAT_CHARS:
            # Bidi overrides (U+202E turns "evil\u202e4pm.exe" into "evilexe.mp4" on
            # screen), zero-width spaces and BOMs hide what a name really is.
            raise InvalidFileName(
                f"file name must not contain invisible formatting characters ({_describe(ch)})"
            )
    folded = unicodedata.normalize("NFKC", name)
    if any(ch in _SEPARATOR_LOOKALIKES for ch in folded):
        raise InvalidFileName("file name must not contain path separators (or look-alikes)")
    if ".." in name or ".." in folded:
        raise InvalidFileName("file name must not contain '..'")
    if name.strip() != name:
        raise InvalidFileName("file name must not start or end with spaces")
    if name == ".":
        raise InvalidFileName("file name must not be '.'")
    return name


def _describe(ch: str) -> str:
    label = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {label}" if label else "")


_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_SAFE_NAME = 120


def safe_name(name: str) -> str:
    """An ASCII object-key-safe form of a validated file name, keeping its extension.

    ``"Caméra 1 (nuit).MP4"`` -> ``"Camera_1_nuit.mp4"``. The original name is kept
    in the evidence record; this is only for keys and download file names.
    """
    name = validate_file_name(name)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    stem = _ascii_slug(stem) or "file"
    ext = _ascii_slug(ext).lower()[:16]
    stem = stem[: _MAX_SAFE_NAME - len(ext) - 1].strip("._-") or "file"
    return f"{stem}.{ext}" if ext else stem


def _ascii_slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE_KEY_CHARS.sub("_", ascii_text)
    slug = re.sub(r"\.{2,}", ".", slug)
    return slug.strip("._-")


# ---------------------------------------------------------------------------
# Exhibit references

EXHIBIT_REF_PATTERN = re.compile(r"^([A-Z]{1,5})/([1-9][0-9]{0,5})$")
_MAX_INITIALS = 4


class InvalidExhibitRef(EvidenceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="exhibit_ref", code="invalid_exhibit_ref")


def initials(full_name: str) -> str:
    """``"Jane Smith"`` -> ``"JS"``; ``"Mary-Jane O'Neill"`` -> ``"MJO"``; accents dropped."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode()
    words = [w for w in re.split(r"[\s\-]+", ascii_name) if w]
    letters = [next((c for c in w if c.isalpha()), "") for w in words]
    found = "".join(letters).upper()
    if not found:
        raise InvalidExhibitRef(f"cannot take initials from {full_name!r}")
    if len(found) > _MAX_INITIALS:
        # keep the first forename and the last names, as officers do: "ABCDE" -> "ACDE"
        found = found[0] + found[-(_MAX_INITIALS - 1) :]
    return found


def format_exhibit_ref(reporter_initials: str, sequence: int) -> str:
    ref = f"{reporter_initials.upper()}/{sequence}"
    return validate_exhibit_ref(ref)


def validate_exhibit_ref(ref: str) -> str:
    """Accept ``js/1``, `` JS/1 `` as ``JS/1``; refuse anything else with the pattern."""
    if not isinstance(ref, str):
        raise InvalidExhibitRef("exhibit reference must be text")
    candidate = ref.strip().upper()
    if not EXHIBIT_REF_PATTERN.match(candidate):
        raise InvalidExhibitRef(
            f"exhibit reference {ref!r} must be 1-5 initials, '/', and a number from 1, e.g. JS/1"
        )
    return candidate


def parse_exhibit_ref(ref: str) -> tuple[str, int]:
    match = EXHIBIT_REF_PATTERN.match(validate_exhibit_ref(ref))
    assert match is not None  # validated above
    return match.group(1), int(match.group(2))


def next_exhibit_ref(reporter_initials: str, existing: Iterable[str]) -> str:
    """The next free ``<initials>/<n>`` given the refs already used on the report."""
    wanted = reporter_initials.upper()
    highest = 0
    for ref in existing:
        try:
            found, seq = parse_exhibit_ref(ref)
        except InvalidExhibitRef:
            continue
        if found == wanted:
            highest = max(highest, seq)
    return format_exhibit_ref(wanted, highest + 1)


def ref_for_keys(ref: str) -> str:
    """``JS/1`` -> ``JS_1``: a reference usable in object keys and file names."""
    return validate_exhibit_ref(ref).replace("/", "_")


# ---------------------------------------------------------------------------
# Derivatives and object keys


class Derivative(StrEnum):
    PREVIEW = "PREVIEW"
    STILL = "STILL"
    THUMBS = "THUMBS"
    REDACTED = "REDACTED"


_EXTENSIONS = {
    Derivative.PREVIEW: "mp4",
    Derivative.STILL: "jpg",
    Derivative.THUMBS: "jpg",
    Derivative.REDACTED: "mp4",
}


def derivative_name(exhibit_ref: str, kind: Derivative, number: int = 1) -> str:
    """``("JS/1", STILL, 3)`` -> ``"JS_1-STILL-3.jpg"``: unique per master and kind."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise EvidenceError("derivative number starts at 1", field="number")
    return f"{ref_for_keys(exhibit_ref)}-{kind.value}-{number}.{_EXTENSIONS[kind]}"


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise EvidenceError(f"{what} {value!r} is not a valid id", field=what)
    return value


def master_key(retailer_id: str, evidence_id: str, file_name: str) -> str:
    """``masters/<retailer>/<evidence_id>/<safe-name>``: one master per evidence id."""
    return (
        f"masters/{_check_id(retailer_id, 'retailer_id')}/"
        f"{_check_id(evidence_id, 'evidence_id')}/{safe_name(file_name)}"
    )


def derived_key(evidence_id: str, name: str) -> str:
    """``derived/<evidence_id>/<name>`` for a name from ``derivative_name``."""
    _check_id(evidence_id, "evidence_id")
    if safe_name(name) != name:
        raise EvidenceError(f"derivative name {name!r} is not key-safe", field="name")
    return f"derived/{evidence_id}/{name}"
