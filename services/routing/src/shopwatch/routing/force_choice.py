"""Which force a case goes to: the store's override, else the postcode tables. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from shopwatch.schemas.enums import RoutingBasis
from shopwatch.schemas.forces import is_known_force
from shopwatch.schemas.postcodes import InvalidPostcodeError, default_force_match
from shopwatch.schemas.report import StoreSnapshot


@dataclass(frozen=True)
class ForceChoice:
    force: str | None  # None: unroutable
    basis: RoutingBasis | None
    explanation: str


def choose_force(store: StoreSnapshot) -> ForceChoice:
    if store.force_override is not None and is_known_force(store.force_override):
        return ForceChoice(
            store.force_override, RoutingBasis.STORE_OVERRIDE, "the store's force override"
        )
    try:
        match = default_force_match(store.postcode)
    except InvalidPostcodeError as exc:
        return ForceChoice(None, None, f"postcode {store.postcode!r} is not routable: {exc}")
    if match is None:
        return ForceChoice(
            None, None, f"postcode {store.postcode!r} is outside the UK forces' areas"
        )
    basis = (
        RoutingBasis.POSTCODE_DISTRICT if match.level == "district" else RoutingBasis.POSTCODE_AREA
    )
    return ForceChoice(match.force, basis, f"postcode {match.level} {match.matched}")
