"""Normalisation: names, registrations, marks, clothing, build and hair."""

from __future__ import annotations

from shopwatch.matching.normalise import (
    Hair,
    VrmMatch,
    canonical_vrm,
    clothing_tokens,
    compare_vrm,
    feature_tokens,
    normalise_build,
    normalise_hair,
    normalise_name,
    normalise_vrm,
    parse_marks,
    phonetic_key,
    usable_range,
)


def test_names_fold_case_punctuation_order_and_nicknames() -> None:
    assert normalise_name("Danny O'Brien") == "daniel obrien"
    assert normalise_name("OBRIEN, Daniel") == "daniel obrien"
    assert normalise_name("Mr. Jon  SMITH") == "john smith"
    assert normalise_name("Zoë Łukasz") == normalise_name("zoe ukasz")
    assert normalise_name("   ") == ""
    assert normalise_name(None) == ""


def test_phonetic_key_groups_spellings() -> None:
    assert phonetic_key("smith") == phonetic_key("smyth")
    assert phonetic_key("") == ""


def test_vehicle_registrations() -> None:
    assert normalise_vrm(" ab12 cde ") == "AB12CDE"
    assert normalise_vrm("AB-12-CDE") == "AB12CDE"
    assert compare_vrm("AB12CDE", "AB12CDE")[0] == VrmMatch.EXACT
    # O/0 and I/1 confusions are near, not exact, and share a canonical form.
    assert compare_vrm("AB12CDO", "AB12CD0")[0] == VrmMatch.NEAR
    assert canonical_vrm("AB12CD0") == canonical_vrm("AB12CDO")
    assert compare_vrm("AB11CDE", "ABI1CDE")[0] == VrmMatch.NEAR
    # One character off on a full plate is near; a partial plate is partial.
    assert compare_vrm("AB12CDE", "AB12CDF")[0] == VrmMatch.NEAR
    assert compare_vrm("AB12", "AB12CDE") == (VrmMatch.PARTIAL, 4)
    assert compare_vrm("CDE", "AB12CDE") == (VrmMatch.PARTIAL, 3)
    assert compare_vrm("XY65ZZZ", "AB12CDE")[0] == VrmMatch.DIFFERENT
    assert compare_vrm("", "AB12CDE")[0] == VrmMatch.DIFFERENT


def test_distinguishing_features_become_tokens() -> None:
    assert feature_tokens("tattoo of a rose on left hand") == {"tattoo", "rose", "hand", "left"}
    marks = parse_marks("Tattoo of a rose on left hand; scar above right eye, nose piercing")
    assert [(m.kind, m.region, m.side) for m in marks] == [
        ("tattoo", "hand", "left"),
        ("scar", "face", "right"),
        ("piercing", "face", None),
    ]
    assert marks[0].motif == {"rose"}
    # Other words for the same place land in the same region.
    assert parse_marks("spider web tattoo on knuckles")[0].region == "hand"
    assert parse_marks("walks with a stoop") == ()


def test_clothing_build_and_hair() -> None:
    assert clothing_tokens("Grey hoody, black trackies, Nike trainers") == {
        "grey",
        "hoodie",
        "black",
        "joggers",
        "nike",
        "trainers",
    }
    assert "northface" in clothing_tokens("black North Face jacket")
    assert normalise_build("Skinny") == "slim"
    assert normalise_build("stocky lad") == "athletic"
    assert normalise_build("overweight") == "heavy"
    assert normalise_build("tall") is None
    assert normalise_hair("long blonde hair in a ponytail") == Hair(
        "blonde", "long", frozenset({"ponytail"})
    )
    assert normalise_hair("shaved head") == Hair(None, "shaved", frozenset())
    assert normalise_hair("hood up") is None
    assert normalise_hair(None) is None


def test_ranges() -> None:
    assert usable_range(20, 30, 25) == (20, 30)
    assert usable_range(30, None, 25) == (30, 30)
    assert usable_range(18, 70, 25) is None  # too vague to use
    assert usable_range(None, None, 25) is None


def test_huge_text_is_bounded() -> None:
    text = "tattoo of a rose on left hand; " * 5000
    assert len(parse_marks(text)) <= 8
    assert len(clothing_tokens("red " * 100_000)) == 1
