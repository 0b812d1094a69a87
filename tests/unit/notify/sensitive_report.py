"""A report full of what must never reach an email, and the strings that would betray it.

Shared by notify's unit tests (templates) and integration tests (every sent message):
import it as ``tests.unit.notify.sensitive_report``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from shopwatch.schemas.enums import Build, IcCode, OffenceType, Sex, WitnessRole
from shopwatch.schemas.events import ReportSubmitted
from shopwatch.schemas.report import (
    ContactDetails,
    Item,
    OffenderDescription,
    Report,
    ReporterContact,
    StoreSnapshot,
    WitnessStatement,
)

# Offender descriptions, ethnicity codes, witness details and the account: none of these
# may appear anywhere in any email (subject, headers, text or HTML).
SENSITIVE = (
    # offenders
    "bleached blond mohican",
    "red Arsenal away shirt",
    "scar through the left eyebrow",
    "Kyle Brannigan",
    "Spiderman Kyle",
    "YX21ZZK",
    "YX21 ZZK",
    "black Audi A3",
    "navy puffer jacket",
    "teardrop tattoo under the right eye",
    # witness
    "Priya Ramanathan",
    "priya.r@witness.example",
    "07700 900123",
    "I saw the man in the red shirt hide two bottles",
    # the account and the goods
    "pushed the door guard into the display",
    "Glenfiddich",
)
IC_CODE = re.compile(r"\bIC[1-69]\b")


def leaks(text: str) -> list[str]:
    """The sensitive strings found in `text` (case-insensitive), IC codes included."""
    lowered = text.lower()
    found = [s for s in SENSITIVE if s.lower() in lowered]
    found.extend(IC_CODE.findall(text))
    return found


def sensitive_report_event(
    *,
    report_id: str | None = None,
    reference: str = "SW-20261102-000777",
    retailer_id: str = "ret-northmart",
    store_id: str = "store-durham-0042",
    store_name: str = "Northmart Durham Market Place",
    reporter_email: str = "store.manager@northmart.example",
) -> ReportSubmitted:
    occurred = datetime.now(UTC) - timedelta(hours=3)
    report = Report(
        store_id=store_id,
        occurred_at=occurred,
        offence_type=OffenceType.THEFT_FROM_SHOP,
        account=(
            "Two men took whisky from the spirits aisle; one pushed the door guard into the "
            "display on the way out."
        ),
        items=[Item(description="Glenfiddich 12 70cl", quantity=2, unit_value_pence=4200)],
        offenders=[
            OffenderDescription(
                sex=Sex.MALE,
                age_min=20,
                age_max=25,
                hair="bleached blond mohican",
                clothing="red Arsenal away shirt",
                distinguishing_features="scar through the left eyebrow",
                name="Kyle Brannigan",
                aliases=["Spiderman Kyle"],
                vehicle_registration="YX21 ZZK",
                vehicle_description="black Audi A3",
                build=Build.SLIM,
                ic_code=IcCode.IC3,
            ),
            OffenderDescription(
                sex=Sex.FEMALE,
                clothing="navy puffer jacket",
                distinguishing_features="teardrop tattoo under the right eye",
                ic_code=IcCode.IC4,
            ),
        ],
        cctv_available=True,
        witness_statement=WitnessStatement(
            witness_name="Priya Ramanathan",
            witness_role=WitnessRole.CUSTOMER,
            contact=ContactDetails(email="priya.r@witness.example", phone="07700 900123"),
            statement="I saw the man in the red shirt hide two bottles under his jacket.",
            consent_to_contact=True,
            declaration_accepted=True,
        ),
        reporter=ReporterContact(name="Sam Store-Manager", email=reporter_email),
    )
    return ReportSubmitted(
        report_id=report_id or str(uuid.uuid4()),
        reference=reference,
        retailer_id=retailer_id,
        store=StoreSnapshot(
            store_id=store_id,
            name=store_name,
            address_lines=["12 Market Place"],
            town="Durham",
            postcode="DH1 3NJ",
        ),
        submitted_at=occurred + timedelta(minutes=30),
        report=report,
    )
