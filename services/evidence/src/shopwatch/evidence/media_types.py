"""What an uploaded file really is, decided by its first bytes and never by its name.

Evidence arrives as whatever the store's CCTV recorder exports: MP4 and MOV, AVI,
Matroska, MPEG transport and programme streams, ASF/WMV, FLV, and proprietary dumps
(Dahua ``.dav``, Hikvision ``IMKH`` files, raw H.264/H.265 ``.264``/``.265``). Stills
come as JPEG or PNG. Anything else is refused, and a file that looks like something
*executable or active* (a Windows or Linux program, a script, an archive, a PDF, a web
page) is refused with a reason that says so, because a renamed ``.exe`` is exactly what
an attacker would upload to a police-facing system.

``sniff`` needs only the head of the file (``SNIFF_BYTES``); the verifier captures it
while hashing the object, so nothing is read twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Enough to see an M2TS/TS packet run, an EBML doc type or a proprietary header.
SNIFF_BYTES = 8192

GENERIC_MEDIA_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})


class Category(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    FORBIDDEN = "forbidden"  # executable, script, archive, document, markup
    UNKNOWN = "unknown"


class Kind(StrEnum):
    # video containers and streams
    MP4 = "mp4"
    QUICKTIME = "quicktime"
    THREE_GP = "3gp"
    MATROSKA = "matroska"
    WEBM = "webm"
    AVI = "avi"
    MPEG_TS = "mpeg-ts"
    MPEG_PS = "mpeg-ps"
    MPEG_VIDEO = "mpeg-video"  # MPEG-1/2 elementary stream
    ASF = "asf"
    FLV = "flv"
    H264 = "h264"  # raw Annex B byte stream
    H265 = "h265"  # raw Annex B byte stream
    DAHUA_DAV = "dahua-dav"
    HIKVISION = "hikvision"
    # stills
    JPEG = "jpeg"
    PNG = "png"
    # refused on sight
    PE = "windows-executable"
    ELF = "elf-executable"
    MACHO = "macho-executable"
    SCRIPT = "script"
    ZIP = "zip-archive"
    ARCHIVE = "archive"
    OLE = "ole-document"
    PDF = "pdf"
    HTML = "html"
    # nothing to go on
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Detected:
    kind: Kind
    category: Category
    media_type: str  # the type we will record and serve, whatever the client declared
    description: str
    # The FFmpeg demuxer to force when probing: raw streams and proprietary dumps
    # are not always found by FFmpeg's own probing.
    demuxer: str | None = None

    @property
    def acceptable(self) -> bool:
        return self.category in (Category.VIDEO, Category.IMAGE)


_INFO: dict[Kind, tuple[Category, str, str, str | None]] = {
    Kind.MP4: (Category.VIDEO, "video/mp4", "MP4 video", None),
    Kind.QUICKTIME: (Category.VIDEO, "video/quicktime", "QuickTime (MOV) video", None),
    Kind.THREE_GP: (Category.VIDEO, "video/3gpp", "3GP video", None),
    Kind.MATROSKA: (Category.VIDEO, "video/x-matroska", "Matroska (MKV) video", None),
    Kind.WEBM: (Category.VIDEO, "video/webm", "WebM video", None),
    Kind.AVI: (Category.VIDEO, "video/x-msvideo", "AVI video", None),
    Kind.MPEG_TS: (Category.VIDEO, "video/mp2t", "MPEG transport stream", "mpegts"),
    Kind.MPEG_PS: (Category.VIDEO, "video/mpeg", "MPEG programme stream", "mpeg"),
    Kind.MPEG_VIDEO: (Category.VIDEO, "video/mpeg", "MPEG-1/2 video stream", "mpegvideo"),
    Kind.ASF: (Category.VIDEO, "video/x-ms-asf", "ASF/WMV video", None),
    Kind.FLV: (Category.VIDEO, "video/x-flv", "Flash video (FLV)", None),
    Kind.H264: (Category.VIDEO, "video/h264", "raw H.264 video stream", "h264"),
    Kind.H265: (Category.VIDEO, "video/h265", "raw H.265/HEVC video stream", "hevc"),
    Kind.DAHUA_DAV: (Category.VIDEO, "video/x-dahua-dav", "Dahua DAV video", "dhav"),
    Kind.HIKVISION: (Category.VIDEO, "video/x-hikvision", "Hikvision video", "mpeg"),
    # Forced for images too: FFmpeg's own guess over HTTP (the verifier reads a
    # presigned URL) failed for about 1 JPEG in 20 with bytes after the end-of-image
    # marker, which cameras and phones do write (measured: 16 of 300; forced: 0).
    Kind.JPEG: (Category.IMAGE, "image/jpeg", "JPEG image", "jpeg_pipe"),
    Kind.PNG: (Category.IMAGE, "image/png", "PNG image", "png_pipe"),
    Kind.PE: (
        Category.FORBIDDEN,
        "application/vnd.microsoft.portable-executable",
        "a Windows executable (MZ/PE)",
        None,
    ),
    Kind.ELF: (Category.FORBIDDEN, "application/x-elf", "a Linux/Unix executable (ELF)", None),
    Kind.MACHO: (
        Category.FORBIDDEN,
        "application/x-mach-binary",
        "a macOS executable (Mach-O) or Java class file",
        None,
    ),
    Kind.SCRIPT: (Category.FORBIDDEN, "text/x-script", "a script (#!)", None),
    Kind.ZIP: (Category.FORBIDDEN, "application/zip", "a ZIP archive (or JAR/APK/Office)", None),
    Kind.ARCHIVE: (
        Category.FORBIDDEN,
        "application/octet-stream",
        "a compressed archive (RAR/7z/gzip)",
        None,
    ),
    Kind.OLE: (
        Category.FORBIDDEN,
        "application/x-ole-storage",
        "an OLE compound document (MSI or legacy Office)",
        None,
    ),
    Kind.PDF: (Category.FORBIDDEN, "application/pdf", "a PDF document", None),
    Kind.HTML: (Category.FORBIDDEN, "text/html", "an HTML/XML/SVG document", None),
    Kind.EMPTY: (Category.UNKNOWN, "application/octet-stream", "an empty file", None),
    Kind.UNKNOWN: (
        Category.UNKNOWN,
        "application/octet-stream",
        "content of an unrecognised type",
        None,
    ),
}


def detected(kind: Kind) -> Detected:
    category, media_type, description, demuxer = _INFO[kind]
    return Detected(kind, category, media_type, description, demuxer)


# Declared media types a client may reasonably send for each kind (beyond the generic
# octet-stream and the kind's own media type). Used by ``check_declared(strict=True)``.
_ALIASES: dict[Kind, frozenset[str]] = {
    Kind.MP4: frozenset({"video/mp4", "application/mp4", "video/x-m4v", "video/quicktime"}),
    Kind.QUICKTIME: frozenset({"video/quicktime", "video/mp4"}),
    Kind.THREE_GP: frozenset({"video/3gpp", "video/3gpp2", "video/mp4"}),
    Kind.MATROSKA: frozenset({"video/x-matroska", "video/matroska", "video/webm"}),
    Kind.WEBM: frozenset({"video/webm", "video/x-matroska", "video/matroska"}),
    Kind.AVI: frozenset({"video/x-msvideo", "video/avi", "video/msvideo", "video/vnd.avi"}),
    Kind.MPEG_TS: frozenset({"video/mp2t", "video/mpeg", "video/vnd.dlna.mpeg-tts"}),
    Kind.MPEG_PS: frozenset({"video/mpeg", "video/mp2p", "video/x-mpeg"}),
    Kind.MPEG_VIDEO: frozenset({"video/mpeg", "video/mpv", "video/x-mpeg"}),
    Kind.ASF: frozenset({"video/x-ms-asf", "video/x-ms-wmv", "application/vnd.ms-asf"}),
    Kind.FLV: frozenset({"video/x-flv", "video/flv"}),
    Kind.H264: frozenset({"video/h264", "video/x-h264", "video/264"}),
    Kind.H265: frozenset({"video/h265", "video/hevc", "video/x-h265"}),
    Kind.DAHUA_DAV: frozenset({"video/x-dahua-dav", "video/x-dav", "video/dav"}),
    Kind.HIKVISION: frozenset({"video/x-hikvision", "video/mp4", "video/mpeg"}),
    Kind.JPEG: frozenset({"image/jpeg", "image/jpg", "image/pjpeg"}),
    Kind.PNG: frozenset({"image/png", "image/x-png"}),
}


# ---------------------------------------------------------------------------
# Sniffing


def sniff(head: bytes) -> Detected:
    """Identify content from its first bytes (pass at least ``SNIFF_BYTES`` if you have them)."""
    head = bytes(head[:SNIFF_BYTES])
    if not head:
        return detected(Kind.EMPTY)
    # Executables and friends first: they are matched at offset 0 and must win over
    # the scanning detectors below, which look for a signature anywhere in the head.
    for check in (_forbidden, _fixed_signature, _iso_bmff, _ebml, _riff, _transport_stream):
        kind = check(head)
        if kind is not None:
            return detected(kind)
    for scan in (_dahua, _annex_b):
        kind = scan(head)
        if kind is not None:
            return detected(kind)
    return detected(Kind.UNKNOWN)


def _forbidden(head: bytes) -> Kind | None:
    if head.startswith(b"MZ"):
        return Kind.PE
    if head.startswith(b"\x7fELF"):
        return Kind.ELF
    if head[:4] in (
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",  # fat Mach-O, and also a Java class file: refused either way
    ):
        return Kind.MACHO
    if head.startswith(b"#!"):
        return Kind.SCRIPT
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return Kind.ZIP
    if head.startswith((b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b")):
        return Kind.ARCHIVE
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return Kind.OLE
    if head.startswith(b"%PDF-"):
        return Kind.PDF
    if _looks_like_markup(head):
        return Kind.HTML
    return None


_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def _fixed_signature(head: bytes) -> Kind | None:
    if head.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if head.startswith(_ASF_GUID):
        return Kind.ASF
    if head.startswith(b"FLV\x01"):
        return Kind.FLV
    if head.startswith(b"\x00\x00\x01\xba"):
        return Kind.MPEG_PS
    if head.startswith(b"\x00\x00\x01\xb3"):
        return Kind.MPEG_VIDEO
    if head.startswith(b"IMKH"):
        # Hikvision recorders prepend a 40-byte "IMKH" header to an MPEG-PS stream
        # (their exports are often named .mp4 although they are not ISO BMFF).
        return Kind.HIKVISION
    if head.startswith(b"DHAV"):
        return Kind.DAHUA_DAV
    return None


_QUICKTIME_BRANDS = frozenset({b"qt  "})
_NOT_VIDEO_BRANDS = frozenset(
    # audio-only MPEG-4 and HEIF/AVIF still images: ISO BMFF, but not evidence we take
    {b"M4A ", b"M4B ", b"M4P ", b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}
)
# Pre-ftyp QuickTime files start straight with one of these atoms.
_LEGACY_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def _iso_bmff(head: bytes) -> Kind | None:
    if len(head) < 12:
        return None
    box_type = head[4:8]
    if box_type == b"ftyp":
        box_size = int.from_bytes(head[0:4], "big")
        if box_size < 16 and box_size not in (0, 1):
            return None
        major = head[8:12]
        compatible = [head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
        if major in _NOT_VIDEO_BRANDS:
            return None
        if major in _QUICKTIME_BRANDS:
            return Kind.QUICKTIME
        if major.startswith((b"3gp", b"3g2")):
            return Kind.THREE_GP
        if any(b in _NOT_VIDEO_BRANDS for b in compatible) and not any(
            b.startswith((b"iso", b"mp4", b"avc", b"qt ")) for b in compatible
        ):
            return None
        # isom, iso2..iso9, mp41, mp42, avc1, M4V, dash, msnv, f4v, XAVC and the
        # many vendor brands: all ISO BMFF video that FFmpeg's mov demuxer reads.
        if all(0x20 <= c < 0x7F for c in major):
            return Kind.MP4
        return None
    if box_type in _LEGACY_QT_ATOMS:
        size = int.from_bytes(head[0:4], "big")
        if size == 1 or size >= 8:
            return Kind.QUICKTIME
    return None


def _ebml(head: bytes) -> Kind | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    # The DocType element (ID 0x4282) says "webm" or "matroska"; it sits in the EBML
    # header, well inside the first 64 bytes.
    idx = head.find(b"\x42\x82", 4, 64)
    if idx != -1 and b"webm" in head[idx : idx + 16]:
        return Kind.WEBM
    return Kind.MATROSKA


def _riff(head: bytes) -> Kind | None:
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return Kind.AVI
    return None


def _transport_stream(head: bytes) -> Kind | None:
    # 188-byte packets starting with the 0x47 sync byte (TS), or 192-byte packets
    # with a 4-byte timecode in front (M2TS/AVCHD). Require several consecutive sync
    # bytes so a text file that happens to start with "G" is not taken for video.
    for offset, stride in ((0, 188), (4, 192)):
        positions = range(offset, len(head), stride)
        if len(positions) < 2:
            continue
        wanted = list(positions)[:6]
        if all(head[p] == 0x47 for p in wanted):
            return Kind.MPEG_TS
    return None


def _dahua(head: bytes) -> Kind | None:
    # Dahua .dav: a run of "DHAV" frames (type byte 0xF0-0xFD follows the magic);
    # some exports put a small file header before the first frame.
    idx = head.find(b"DHAV")
    if idx != -1 and idx + 4 < len(head) and head[idx + 4] in (0xF0, 0xF1, 0xFC, 0xFD):
        return Kind.DAHUA_DAV
    return None


_START_CODE = re.compile(b"\x00\x00\x01")


def _annex_b(head: bytes) -> Kind | None:
    """Raw H.264/H.265 byte streams: NAL units separated by 00 00 01 start codes.

    The stream must *start* with a start code (optionally after zero bytes) and the
    parameter sets must be there: H.264 needs an SPS (type 7) and H.265 a VPS or SPS
    (types 32/33). Counting several valid NAL headers keeps random binary out.
    """
    stripped = head.lstrip(b"\x00")
    lead = len(head) - len(stripped)
    if lead < 2 or not stripped.startswith(b"\x01"):
        return None
    headers = [
        head[m.end() : m.end() + 2] for m in _START_CODE.finditer(head) if m.end() + 2 <= len(head)
    ]
    if not headers:
        return None
    if len(headers) < 2:
        return None
    # H.264 NAL header: forbidden bit, 2-bit nal_ref_idc, 5-bit type.
    h264_ok = all(h[0] & 0x80 == 0 for h in headers) and any(h[0] & 0x1F == 7 for h in headers)
    # H.265 NAL header: forbidden bit, 6-bit type, 6-bit layer id (0 for the base layer
    # a recorder writes), 3-bit temporal id plus one (never 0).
    h265_ok = all(
        h[0] & 0x80 == 0 and h[0] & 0x01 == 0 and h[1] >> 3 == 0 and h[1] & 0x07 != 0
        for h in headers
    ) and any((h[0] >> 1) & 0x3F in (32, 33) for h in headers)
    if h264_ok and h265_ok:
        # Rare: both readings are valid. H.265 streams open with a parameter set,
        # an access unit delimiter or a prefix SEI (types 32-35, 39).
        return Kind.H265 if (headers[0][0] >> 1) & 0x3F in (32, 33, 34, 35, 39) else Kind.H264
    if h264_ok:
        return Kind.H264
    if h265_ok:
        return Kind.H265
    return None


_MARKUP_PREFIXES = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<iframe",
    b"<svg",
    b"<?xml",
    b"<!--",
)


def _looks_like_markup(head: bytes) -> bool:
    text = head[:512]
    for bom in (b"\xef\xbb\xbf",):
        if text.startswith(bom):
            text = text[len(bom) :]
    text = text.lstrip(b" \t\r\n\x0c").lower()
    return text.startswith(_MARKUP_PREFIXES)


# ---------------------------------------------------------------------------
# Declared versus detected


class RejectionCode(StrEnum):
    """Why content was refused; the values match ``EvidenceRejectionReason`` in schemas."""

    EMPTY_FILE = "empty_file"
    UNRECOGNISED_CONTENT = "unrecognised_content"
    MEDIA_TYPE_MISMATCH = "media_type_mismatch"
    EXECUTABLE_CONTENT = "executable_content"


@dataclass(frozen=True)
class ContentCheck:
    ok: bool
    detected: Detected
    code: RejectionCode | None = None
    reason: str | None = None


_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


class InvalidMediaType(ValueError):
    """The declared media type is not of the form ``type/subtype``."""


def normalise_media_type(value: str) -> str:
    """``Video/MP4; codecs="avc1"`` -> ``video/mp4``; raises ``InvalidMediaType``."""
    essence = value.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.match(essence):
        raise InvalidMediaType(f"media type {value!r} is not of the form type/subtype")
    return essence


def check_declared(
    declared_media_type: str, found: Detected, *, strict: bool = False
) -> ContentCheck:
    """Is the detected content acceptable, and consistent with what the client declared?

    Refused: empty, unrecognised, executable-like content, whatever was declared; and
    content whose category (video or image) differs from the declared one. With
    ``strict`` the declared type must also name the detected container family.
    Non-strict is the default because recorders and browsers routinely mislabel
    containers (an AVI sent as ``video/mp4``); what we record is the detected type.
    """
    if found.kind is Kind.EMPTY:
        return _refuse(found, RejectionCode.EMPTY_FILE, "the file is empty")
    if found.category is Category.FORBIDDEN:
        return _refuse(
            found,
            RejectionCode.EXECUTABLE_CONTENT,
            f"the content is {found.description}, not video or an image",
        )
    if found.category is Category.UNKNOWN:
        return _refuse(
            found,
            RejectionCode.UNRECOGNISED_CONTENT,
            "the content is not a recognised video or image format",
        )
    try:
        declared = normalise_media_type(declared_media_type)
    except InvalidMediaType as exc:
        return _refuse(found, RejectionCode.MEDIA_TYPE_MISMATCH, str(exc))
    if declared in GENERIC_MEDIA_TYPES:
        return ContentCheck(True, found)
    declared_top = declared.split("/", 1)[0]
    if declared_top not in ("video", "image") and declared not in _ALIASES[found.kind]:
        return _refuse(
            found,
            RejectionCode.MEDIA_TYPE_MISMATCH,
            f"declared type {declared} is not a video or image type",
        )
    if declared_top in ("video", "image") and declared_top != found.category.value:
        return _refuse(
            found,
            RejectionCode.MEDIA_TYPE_MISMATCH,
            f"declared as {declared} but the content is {found.description}",
        )
    if strict and declared != found.media_type and declared not in _ALIASES[found.kind]:
        return _refuse(
            found,
            RejectionCode.MEDIA_TYPE_MISMATCH,
            f"declared as {declared} but the content is {found.description} ({found.media_type})",
        )
    return ContentCheck(True, found)


def _refuse(found: Detected, code: RejectionCode, reason: str) -> ContentCheck:
    return ContentCheck(False, found, code, reason)
