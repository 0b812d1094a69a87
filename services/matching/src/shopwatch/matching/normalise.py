"""Turn free-text offender descriptions into comparable values. Pure functions, no I/O.

Everything here is deliberately forgiving: a value we cannot read becomes ``None`` or an
empty set (unknown), never an error, because staff describe people in their own words.
Work is bounded: text is cut to ``MAX_TEXT_CHARS`` and at most ``MAX_TOKENS`` tokens are
kept per field, so a huge description costs the same as a long one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jellyfish
from rapidfuzz.distance import Levenshtein

if TYPE_CHECKING:
    from shopwatch.matching.domain import OffenderFeatures

MAX_TEXT_CHARS = 2_000
MAX_TOKENS = 64
MAX_NAMES = 8
MAX_MARKS = 8

_WORD = re.compile(r"[a-z0-9]+")

# A small, documented nickname map: the familiar form -> the name it is short for.
# Only common English short forms whose expansion is unambiguous enough for matching;
# ambiguous ones (Sam = Samuel/Samantha, Alex, Jo) are left alone on purpose.
NICKNAMES: dict[str, str] = {
    "bill": "william",
    "billy": "william",
    "will": "william",
    "willy": "william",
    "liam": "william",
    "bob": "robert",
    "bobby": "robert",
    "rob": "robert",
    "robbie": "robert",
    "dan": "daniel",
    "danny": "daniel",
    "dave": "david",
    "davey": "david",
    "jim": "james",
    "jimmy": "james",
    "jamie": "james",
    "jon": "john",
    "johnny": "john",
    "jonny": "john",
    "mike": "michael",
    "mikey": "michael",
    "mick": "michael",
    "micky": "michael",
    "steve": "stephen",
    "stevie": "stephen",
    "steven": "stephen",
    "tom": "thomas",
    "tommy": "thomas",
    "tony": "anthony",
    "chris": "christopher",
    "matt": "matthew",
    "nick": "nicholas",
    "joe": "joseph",
    "joey": "joseph",
    "ben": "benjamin",
    "benny": "benjamin",
    "andy": "andrew",
    "pete": "peter",
    "phil": "philip",
    "rick": "richard",
    "ricky": "richard",
    "rich": "richard",
    "eddie": "edward",
    "ed": "edward",
    "ted": "edward",
    "charlie": "charles",
    "harry": "henry",
    "kate": "katherine",
    "katie": "katherine",
    "kathy": "katherine",
    "catherine": "katherine",
    "liz": "elizabeth",
    "lizzie": "elizabeth",
    "beth": "elizabeth",
    "becky": "rebecca",
    "jen": "jennifer",
    "jenny": "jennifer",
    "sue": "susan",
    "vicky": "victoria",
    "mandy": "amanda",
}

_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "aka", "known", "as", "called"})


def _fold(text: str) -> str:
    """Lower-case ASCII letters and digits only (accents dropped), bounded length."""
    text = text[:MAX_TEXT_CHARS]
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


def words(text: str | None) -> list[str]:
    """The lower-case words of ``text`` (at most ``MAX_TOKENS``); apostrophes join words."""
    if not text:
        return []
    folded = _fold(text).replace("'", "").replace("\u2019", "")
    return _WORD.findall(folded)[:MAX_TOKENS]


# --- names -----------------------------------------------------------------------------


def normalise_name(name: str | None) -> str:
    """A comparable form of a name: folded, titles dropped, nicknames expanded, tokens sorted.

    ``"Danny O'Brien"`` and ``"OBRIEN, Daniel"`` both become ``"daniel obrien"``. Returns
    ``""`` when nothing usable is left.
    """
    tokens = [NICKNAMES.get(t, t) for t in words(name) if t not in _TITLES and not t.isdigit()]
    tokens = [t for t in tokens if len(t) >= 2][:6]
    return " ".join(sorted(tokens))


def name_tokens(normalised: str) -> frozenset[str]:
    return frozenset(normalised.split())


def phonetic_key(token: str) -> str:
    """Metaphone (jellyfish) of one name token: ``smith`` and ``smyth`` share ``SM0``."""
    return str(jellyfish.metaphone(token)) if token else ""


# --- vehicle registrations --------------------------------------------------------------

# Letters and digits that witnesses and number-plate readers confuse. The canonical form
# maps both sides to one character so a confused plate lands in the same blocking key;
# scoring still tells an exact match from a confused one.
_CONFUSABLE = str.maketrans({"0": "O", "1": "I"})


def normalise_vrm(reg: str | None) -> str:
    """Upper-case letters and digits only: ``"ab12 cde"`` -> ``"AB12CDE"``; ``""`` if none."""
    if not reg:
        return ""
    return "".join(ch for ch in _fold(reg).upper() if ch.isalnum())[:10]


def canonical_vrm(reg: str) -> str:
    """The normalised registration with O/0 and I/1 folded together."""
    return reg.translate(_CONFUSABLE)


class VrmMatch:
    EXACT = "exact"
    NEAR = "near"
    PARTIAL = "partial"
    DIFFERENT = "different"


FULL_VRM_MIN = 5
"""Shorter than this a registration is treated as partial (what the witness caught)."""


def compare_vrm(a: str, b: str) -> tuple[str, int]:
    """How two normalised registrations relate, and how many characters support it.

    ``exact``: identical. ``near``: equal after folding O/0 and I/1, or one edit apart when
    both are full plates. ``partial``: one is a prefix or suffix (3+ characters) of the
    other, as when only part of a plate was seen. Otherwise ``different``.
    """
    if not a or not b:
        return VrmMatch.DIFFERENT, 0
    if a == b:
        return VrmMatch.EXACT, len(a)
    ca, cb = canonical_vrm(a), canonical_vrm(b)
    if ca == cb:
        return VrmMatch.NEAR, len(a)
    if len(a) >= FULL_VRM_MIN and len(b) >= FULL_VRM_MIN:
        if abs(len(a) - len(b)) <= 1 and Levenshtein.distance(ca, cb, score_cutoff=1) <= 1:
            return VrmMatch.NEAR, min(len(a), len(b))
        return VrmMatch.DIFFERENT, 0
    short, long_ = (ca, cb) if len(ca) <= len(cb) else (cb, ca)
    if len(short) >= 3 and (long_.startswith(short) or long_.endswith(short)):
        return VrmMatch.PARTIAL, len(short)
    return VrmMatch.DIFFERENT, 0


# --- distinguishing features -----------------------------------------------------------

_MARK_KINDS: dict[str, str] = {
    "tattoo": "tattoo",
    "tattoos": "tattoo",
    "tattooed": "tattoo",
    "tat": "tattoo",
    "tats": "tattoo",
    "inked": "tattoo",
    "ink": "tattoo",
    "scar": "scar",
    "scars": "scar",
    "scarred": "scar",
    "scarring": "scar",
    "piercing": "piercing",
    "piercings": "piercing",
    "pierced": "piercing",
    "stud": "piercing",
    "studs": "piercing",
    "ring": "piercing",
    "birthmark": "birthmark",
    "mole": "mole",
    "burn": "burn",
    "burns": "burn",
    "limp": "limp",
    "limping": "limp",
    "tooth": "teeth",
    "teeth": "teeth",
}

# Body words -> a coarse region. Witnesses say "knuckles" or "hand" for the same tattoo;
# the region is what scoring compares.
_BODY: dict[str, str] = {
    "face": "face",
    "cheek": "face",
    "cheekbone": "face",
    "eye": "face",
    "eyes": "face",
    "eyebrow": "face",
    "brow": "face",
    "forehead": "face",
    "nose": "face",
    "lip": "face",
    "lips": "face",
    "mouth": "face",
    "chin": "face",
    "jaw": "face",
    "temple": "face",
    "ear": "ear",
    "ears": "ear",
    "earlobe": "ear",
    "neck": "neck",
    "throat": "neck",
    "hand": "hand",
    "hands": "hand",
    "knuckle": "hand",
    "knuckles": "hand",
    "finger": "hand",
    "fingers": "hand",
    "wrist": "hand",
    "arm": "arm",
    "arms": "arm",
    "forearm": "arm",
    "elbow": "arm",
    "bicep": "arm",
    "sleeve": "arm",
    "shoulder": "arm",
    "chest": "torso",
    "back": "torso",
    "stomach": "torso",
    "leg": "leg",
    "legs": "leg",
    "calf": "leg",
    "ankle": "leg",
    "knee": "leg",
    "shin": "leg",
    "head": "head",
    "scalp": "head",
}
_SIDES = {"left": "left", "right": "right", "l": "left", "r": "right"}
_STOP = frozenset(
    {
        "a", "an", "the", "of", "on", "in", "at", "his", "her", "their", "with", "and", "has",
        "had", "have", "was", "is", "small", "large", "big", "visible", "side", "upper",
        "lower", "possibly", "maybe", "some", "kind", "sort", "like", "looked", "looks",
        "what", "which", "across", "above", "below", "under", "over", "near", "to", "from",
        "by", "he", "she", "they", "it", "seen", "saw", "obvious", "noticeable", "x",
    }
)  # fmt: skip
_MARK_SPLIT = re.compile(r"[;,.\n/]|\band\b|\balso\b|\bplus\b")


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class Mark:
    """One distinguishing mark: what (``tattoo``), where (``hand``, ``left``), of what."""

    kind: str
    region: str | None = None
    side: str | None = None
    motif: frozenset[str] = frozenset()

    def tokens(self) -> frozenset[str]:
        out = {self.kind, *self.motif}
        if self.region:
            out.add(self.region)
        if self.side:
            out.add(self.side)
        return frozenset(out)

    def to_list(self) -> list[object]:
        return [self.kind, self.region, self.side, sorted(self.motif)]

    @classmethod
    def from_list(cls, raw: list[object]) -> Mark:
        kind, region, side, motif = raw
        return cls(
            str(kind),
            None if region is None else str(region),
            None if side is None else str(side),
            frozenset(str(m) for m in motif) if isinstance(motif, list) else frozenset(),
        )


def parse_marks(text: str | None) -> tuple[Mark, ...]:
    """Distinguishing-features text as structured marks.

    ``"tattoo of a rose on left hand; scar above right eye"`` ->
    ``Mark(tattoo, hand, left, {rose})``, ``Mark(scar, face, right, {})``. A phrase
    naming no kind of mark ("walks with a stoop") is dropped.
    """
    if not text:
        return ()
    marks: list[Mark] = []
    seen = 0
    for chunk in _MARK_SPLIT.split(_fold(text).replace("'", "")):
        tokens = _WORD.findall(chunk)
        seen += len(tokens)
        if seen > MAX_TOKENS * 2:
            break
        kind = region = side = None
        motif: set[str] = set()
        for tok in tokens:
            if tok in _MARK_KINDS and kind is None:
                kind = _MARK_KINDS[tok]
            elif tok in _BODY:
                region = region or _BODY[tok]
            elif tok in _SIDES:
                side = side or _SIDES[tok]
            elif tok not in _STOP and not tok.isdigit() and len(tok) > 1:
                motif.add(_singular(tok))
        if kind is None:
            continue
        marks.append(Mark(kind, region, side, frozenset(sorted(motif)[:6])))
        if len(marks) >= MAX_MARKS:
            break
    return tuple(marks)


def feature_tokens(text: str | None) -> frozenset[str]:
    """All tokens of all marks.

    ``"tattoo of a rose on left hand"`` -> ``{tattoo, rose, hand, left}``.
    """
    out: set[str] = set()
    for mark in parse_marks(text):
        out |= mark.tokens()
    return frozenset(out)


# --- clothing, build, hair -------------------------------------------------------------

_CLOTHING_SYNONYMS: dict[str, str] = {
    "hoody": "hoodie",
    "hoodies": "hoodie",
    "hooded": "hoodie",
    "sneakers": "trainers",
    "trainer": "trainers",
    "joggers": "joggers",
    "trackies": "joggers",
    "tracksuit": "joggers",
    "sweatpants": "joggers",
    "beanie": "beanie",
    "woolly": "beanie",
    "coat": "jacket",
    "parka": "jacket",
    "puffer": "jacket",
    "anorak": "jacket",
    "jeans": "jeans",
    "denim": "jeans",
    "cap": "cap",
    "baseball": "cap",
    "gray": "grey",
    "navy": "blue",
    "face": "northface",  # "north face" -> "north" + "northface"; "north" alone is dropped
}
_CLOTHING_STOP = _STOP | frozenset({"wearing", "wore", "top", "north", "dark", "light", "hat"})


def clothing_tokens(text: str | None) -> frozenset[str]:
    """Clothing words with synonyms merged (``hoody``/``hooded top`` -> ``hoodie``)."""
    out = set()
    for w in words(text):
        if w in _CLOTHING_STOP or len(w) < 2:
            continue
        one = _singular(w)
        out.add(_CLOTHING_SYNONYMS.get(w, _CLOTHING_SYNONYMS.get(one, one)))
    return frozenset(out)


BUILDS = ("slim", "medium", "athletic", "heavy")
_BUILD_WORDS: dict[str, str] = {
    "slim": "slim",
    "thin": "slim",
    "skinny": "slim",
    "slender": "slim",
    "slight": "slim",
    "wiry": "slim",
    "medium": "medium",
    "average": "medium",
    "normal": "medium",
    "regular": "medium",
    "athletic": "athletic",
    "muscular": "athletic",
    "stocky": "athletic",
    "broad": "athletic",
    "heavy": "heavy",
    "large": "heavy",
    "fat": "heavy",
    "overweight": "heavy",
    "big": "heavy",
    "chubby": "heavy",
    "plump": "heavy",
    "obese": "heavy",
    "heavyset": "heavy",
}


def normalise_build(text: str | None) -> str | None:
    """One of ``BUILDS`` or ``None``: ``"Skinny"`` -> ``slim``, ``"stocky"`` -> ``athletic``."""
    for w in words(text):
        if w in _BUILD_WORDS:
            return _BUILD_WORDS[w]
    return None


def build_distance(a: str, b: str) -> int:
    """0 same, 1 neighbouring (slim-medium, medium-athletic/heavy, athletic-heavy), else 2."""
    if a == b:
        return 0
    pair = {a, b}
    if "slim" in pair and pair & {"athletic", "heavy"}:
        return 2
    return 1


_HAIR_COLOURS: dict[str, str] = {
    "black": "black",
    "jet": "black",
    "dark": "dark",
    "brunette": "brown",
    "brown": "brown",
    "mousy": "brown",
    "mousey": "brown",
    "blonde": "blonde",
    "blond": "blonde",
    "fair": "blonde",
    "bleached": "blonde",
    "ginger": "ginger",
    "red": "ginger",
    "auburn": "ginger",
    "grey": "grey",
    "gray": "grey",
    "white": "grey",
    "silver": "grey",
    "greying": "grey",
}
_HAIR_LENGTHS: dict[str, str] = {
    "bald": "bald",
    "shaved": "shaved",
    "skinhead": "shaved",
    "buzz": "shaved",
    "buzzcut": "shaved",
    "short": "short",
    "cropped": "short",
    "medium": "medium",
    "collar": "medium",
    "long": "long",
    "shoulder": "long",
}
_HAIR_STYLES = frozenset(
    {"ponytail", "curly", "dreadlocks", "dreads", "braids", "afro", "mohawk", "receding",
     "spiky", "fade", "bun", "wavy", "straight", "balding", "highlights", "quiff"}
)  # fmt: skip
_HAIR_UNKNOWN = frozenset({"hood", "hooded", "covered", "hat", "cap", "unknown", "unseen"})
_LENGTH_ORDER = {"bald": 0, "shaved": 1, "short": 2, "medium": 3, "long": 4}


@dataclass(frozen=True, slots=True)
class Hair:
    colour: str | None = None
    length: str | None = None
    styles: frozenset[str] = frozenset()


def normalise_hair(text: str | None) -> Hair | None:
    """``"long blonde hair in a ponytail"`` -> ``Hair(blonde, long, {ponytail})``.

    "Hood up" and the like say nothing about hair: ``None`` unless a colour or length is
    also given.
    """
    colour = length = None
    styles: set[str] = set()
    ws = words(text)
    for w in ws:
        if w in _HAIR_COLOURS and colour in (None, "dark"):
            colour = _HAIR_COLOURS[w]
        elif w in _HAIR_LENGTHS and length is None:
            length = _HAIR_LENGTHS[w]
        elif w in _HAIR_STYLES:
            styles.add("dreadlocks" if w == "dreads" else w)
    if colour is None and length is None and not styles:
        return None
    if any(w in _HAIR_UNKNOWN for w in ws) and colour is None and length is None:
        return None
    return Hair(colour, length, frozenset(styles))


def hair_colour_relation(a: str, b: str) -> str:
    """``same``, ``near`` (dark/black/brown, blonde/ginger/brown, grey/any) or ``different``."""
    if a == b:
        return "same"
    pair = {a, b}
    if "dark" in pair and pair & {"black", "brown"}:
        return "near"
    if "grey" in pair:
        return "near"
    if pair in ({"blonde", "brown"}, {"blonde", "ginger"}, {"brown", "ginger"}):
        return "near"
    return "different"


def hair_length_distance(a: str, b: str) -> int:
    return abs(_LENGTH_ORDER[a] - _LENGTH_ORDER[b])


# --- ranges ----------------------------------------------------------------------------

AGE_USEFUL_WIDTH = 25
"""An age range wider than this says next to nothing; it is ignored rather than trusted."""
HEIGHT_USEFUL_WIDTH = 40


def usable_range(lo: int | None, hi: int | None, max_width: int) -> tuple[int, int] | None:
    """A (lo, hi) pair if the witness gave at least one bound and the range is narrow enough.

    A single bound stands for itself (``age_min=30`` alone -> 30-30 plus the usual noise).
    """
    if lo is None and hi is None:
        return None
    lo_v = hi if lo is None else lo
    hi_v = lo if hi is None else hi
    assert lo_v is not None and hi_v is not None
    if hi_v < lo_v or hi_v - lo_v > max_width:
        return None
    return lo_v, hi_v


# --- the whole offender ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NormalisedOffender:
    """What the blocker and the scorer compare: one offender, normalised."""

    sex: str | None  # "m" / "f" / None
    age: tuple[int, int] | None
    height: tuple[int, int] | None
    build: str | None
    hair: Hair | None
    names: tuple[str, ...]
    vrm: str
    marks: tuple[Mark, ...]
    clothing: frozenset[str]
    store_id: str
    force: str
    day: int
    method: str | None
    offence: str | None
    # Other stores within walking or bus distance of this one (the matcher fills it in).
    nearby_stores: frozenset[str] = frozenset()

    @property
    def name_tokens(self) -> frozenset[str]:
        return frozenset(t for n in self.names for t in n.split())

    @property
    def describes_someone(self) -> bool:
        """False when nothing about the person is known (only where and when)."""
        return bool(
            self.sex
            or self.age
            or self.height
            or self.build
            or self.hair
            or self.names
            or self.vrm
            or self.marks
            or self.clothing
        )

    @property
    def has_identifier(self) -> bool:
        """A name, a registration or a distinguishing mark: evidence that can link alone."""
        return bool(self.names or self.vrm or self.marks)


_SEX = {"male": "m", "m": "m", "man": "m", "female": "f", "f": "f", "woman": "f"}


def normalise_sex(value: str | None) -> str | None:
    return _SEX.get(value.strip().lower()) if value else None


def _method_key(value: str | None) -> str | None:
    ws = words(value)
    return " ".join(ws[:8]) or None


def normalise_offender(features: OffenderFeatures) -> NormalisedOffender:
    """Normalise every field of one offender; ethnicity is not among them (by design)."""
    names: list[str] = []
    for raw in (features.name, *features.aliases):
        n = normalise_name(raw)
        if n and n not in names:
            names.append(n)
    return NormalisedOffender(
        sex=normalise_sex(features.sex),
        age=usable_range(features.age_min, features.age_max, AGE_USEFUL_WIDTH),
        height=usable_range(features.height_min_cm, features.height_max_cm, HEIGHT_USEFUL_WIDTH),
        build=normalise_build(features.build),
        hair=normalise_hair(features.hair),
        names=tuple(names[:MAX_NAMES]),
        vrm=normalise_vrm(features.vehicle_registration),
        marks=parse_marks(features.distinguishing_features),
        clothing=clothing_tokens(features.clothing),
        store_id=features.store_id,
        force=features.force,
        day=features.occurred_at.toordinal(),
        method=_method_key(features.method),
        offence=_method_key(features.offence_type),
    )
