import pytest

from shopwatch.routing.force_choice import choose_force
from shopwatch.schemas.enums import RoutingBasis
from shopwatch.schemas.report import StoreSnapshot


def store(postcode: str, override: str | None = None) -> StoreSnapshot:
    return StoreSnapshot(
        store_id="st_1",
        name="Test store",
        address_lines=["1 High Street"],
        town="Town",
        postcode=postcode,
        force_override=override,
    )


@pytest.mark.parametrize(
    ("postcode", "force"),
    [
        ("DH1 3LE", "durham"),
        ("TS1 2AA", "cleveland"),
        ("NE1 4ST", "northumbria"),
        ("SW1A 1AA", "metropolitan"),
        ("EC2V 7HH", "city-of-london"),
    ],
)
def test_postcode_decides_when_there_is_no_override(postcode: str, force: str) -> None:
    choice = choose_force(store(postcode))
    assert choice.force == force
    assert choice.basis in {RoutingBasis.POSTCODE_AREA, RoutingBasis.POSTCODE_DISTRICT}


def test_store_override_wins() -> None:
    choice = choose_force(store("DH1 3LE", override="btp"))
    assert (choice.force, choice.basis) == ("btp", RoutingBasis.STORE_OVERRIDE)


def test_crown_dependency_postcode_is_unroutable_with_a_reason() -> None:
    choice = choose_force(store("JE2 3AB"))
    assert choice.force is None and choice.basis is None
    assert "JE2 3AB" in choice.explanation
