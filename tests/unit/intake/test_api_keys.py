import pytest

from shopwatch.intake.api_keys import (
    MalformedApiKey,
    issue_key,
    parse_key,
    secret_matches,
)


def test_issued_key_round_trips_and_matches_only_its_hash() -> None:
    issued = issue_key()
    presented = parse_key(issued.plaintext)
    assert presented.key_id == issued.key_id
    assert secret_matches(presented, issued.secret_hash)
    assert not secret_matches(presented, issue_key().secret_hash)


def test_plaintext_secret_is_not_the_stored_hash() -> None:
    issued = issue_key()
    assert parse_key(issued.plaintext).secret not in issued.secret_hash


def test_two_keys_differ() -> None:
    assert issue_key().plaintext != issue_key().plaintext


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Bearer x",
        "sw_",
        "sw_zzzzzzzzzzzz_" + "a" * 40,
        "xx_0123456789ab_" + "a" * 40,
        "sw_0123456789ab_short",
    ],
)
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(MalformedApiKey):
        parse_key(bad)
