"""`shopwatch admin notify …` on the real database: contacts, preferences, the email record.

The commands run in this process (typer's runner) to keep the module fast; one runs as
the installed `python -m shopwatch.cli` to prove the wiring.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from typer.testing import CliRunner

import shopwatch.cli.commands  # noqa: F401 - registers the commands on the app
from shopwatch.cli.app import app
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.notify.adapters.mongo import MongoSentEmails

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def database(stack_env: Any, mongo_db_name: Callable[[str], str]) -> str:
    return mongo_db_name("cli")


@pytest.fixture(scope="module")
def tenant(stack_env: Any, database: str) -> tuple[str, str, str]:
    """A retailer with two stores, registered in intake's tenants (same test database)."""

    async def register() -> tuple[str, str, str]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)
        try:
            admin = IntakeAdmin(MongoTenants(client[database]))
            retailer, _ = await admin.add_retailer("Northmart")
            stores = [
                await admin.add_store(
                    retailer.retailer_id,
                    name=f"Northmart {town}",
                    address_lines=["1 High Street"],
                    town=town,
                    postcode=postcode,
                )
                for town, postcode in (("Durham", "DH1 3LE"), ("Stockton", "TS18 1AA"))
            ]
            return retailer.retailer_id, stores[0].store_id, stores[1].store_id
        finally:
            await client.close()

    return asyncio.run(register())


@pytest.fixture
def cli(stack_env: Any, database: str) -> Iterator[Callable[..., Any]]:
    runner = CliRunner()
    env = {
        "SHOPWATCH_MONGO_URL": stack_env.mongo_url,
        "SHOPWATCH_MONGO_DATABASE": database,
        "COLUMNS": "250",  # rich wraps at 80 columns when there is no terminal
    }

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env=env)

    yield invoke


def test_contacts_are_checked_deduplicated_and_shown(
    cli: Callable[..., Any], tenant: tuple[str, str, str]
) -> None:
    retailer, durham, stockton = tenant
    unknown = cli(
        "admin", "notify", "contacts", "set", "--retailer", "ret-nope", "--email", "a@b.example"
    )
    assert unknown.exit_code == 1
    assert "retailer 'ret-nope' is not registered" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1 and "Traceback" not in unknown.stderr

    not_theirs = cli(
        "admin", "notify", "contacts", "set", "--retailer", retailer, "--store", "st-x",
        "--email", "a@b.example",
    )  # fmt: skip
    assert not_theirs.exit_code == 1 and "is not a store of retailer" in not_theirs.stderr

    bad = cli(
        "admin", "notify", "contacts", "set", "--retailer", retailer, "--email", "not-an-address"
    )
    assert bad.exit_code == 1 and "not-an-address" in bad.stderr

    nothing = cli("admin", "notify", "contacts", "set", "--retailer", retailer)
    assert nothing.exit_code == 1 and "--email" in nothing.stderr

    saved = cli(
        "--json", "admin", "notify", "contacts", "set", "--retailer", retailer,
        "--email", "Loss.Prevention@Northmart.example",
        "--email", "loss.prevention@northmart.example", "--email", "ops@northmart.example",
    )  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    assert json.loads(saved.stdout) == {
        "retailer_id": retailer,
        "store_id": None,
        "emails": ["Loss.Prevention@northmart.example", "ops@northmart.example"],
    }
    store = cli(
        "admin", "notify", "contacts", "set", "--retailer", retailer, "--store", durham,
        "--email", "durham@northmart.example",
    )  # fmt: skip
    assert store.exit_code == 0 and f"store {durham}: durham@northmart.example" in store.stdout

    shown = cli("--json", "admin", "notify", "contacts", "show", "--retailer", retailer)
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["contacts"] == [
        {
            "retailer_id": retailer,
            "store_id": None,
            "emails": ["Loss.Prevention@northmart.example", "ops@northmart.example"],
        },
        {"retailer_id": retailer, "store_id": durham, "emails": ["durham@northmart.example"]},
    ]
    readable = cli("admin", "notify", "contacts", "show", "--retailer", retailer)
    assert (
        "durham@northmart.example" in readable.stdout and "ops@northmart.example" in readable.stdout
    )

    cleared = cli(
        "--json", "admin", "notify", "contacts", "set", "--retailer", retailer, "--store", durham,
        "--clear",
    )  # fmt: skip
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["emails"] == []
    one = cli(
        "--json", "admin", "notify", "contacts", "show", "--retailer", retailer, "--store", stockton
    )
    assert json.loads(one.stdout)["contacts"] == [
        {"retailer_id": retailer, "store_id": stockton, "emails": []}
    ]


def test_preferences_show_change_and_refuse_nonsense(
    cli: Callable[..., Any], tenant: tuple[str, str, str]
) -> None:
    retailer = tenant[0]
    default = cli("--json", "admin", "notify", "prefs", "--retailer", retailer)
    assert default.exit_code == 0, default.stderr
    assert json.loads(default.stdout)["mode"] == "immediate"
    assert len(json.loads(default.stdout)["statuses"]) == 6

    changed = cli(
        "--json", "admin", "notify", "prefs", "--retailer", retailer,
        "--statuses", "routed,crime_recorded", "--statuses", "outcome_recorded", "--mode", "digest",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.stderr
    assert json.loads(changed.stdout) == {
        "retailer_id": retailer,
        "statuses": ["crime_recorded", "outcome", "received"],
        "mode": "digest",
    }
    mode_only = cli("admin", "notify", "prefs", "--retailer", retailer, "--mode", "immediate")
    assert mode_only.exit_code == 0
    assert "immediate, statuses crime_recorded, outcome, received" in mode_only.stdout

    for args, message in (
        (("--statuses", "charged"), "unknown status 'charged'"),
        (("--mode", "weekly"), "--mode must be immediate or digest"),
    ):
        wrong = cli("admin", "notify", "prefs", "--retailer", retailer, *args)
        assert wrong.exit_code == 1 and message in wrong.stderr, wrong.stderr
    unknown = cli("admin", "notify", "prefs", "--retailer", "ret-nope", "--mode", "digest")
    assert unknown.exit_code == 1 and "not registered" in unknown.stderr


def test_the_email_record_lists_failures_with_their_reason(
    stack_env: Any, cli: Callable[..., Any], database: str
) -> None:
    async def record() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            stack_env.mongo_url, tz_aware=True
        )
        try:
            await MongoSentEmails(client[database]).record_failed(
                "<cli-test@shopwatch.example>",
                to="left@northmart.example",
                template="crime_recorded",
                report_id="rep-1",
                retailer_id="ret-1",
                event_id="ev-1",
                reason="recipient_refused",
                error="550 5.1.1 mailbox unavailable",
                now=datetime.now(UTC),
            )
        finally:
            await client.close()

    asyncio.run(record())
    failed = cli("--json", "admin", "notify", "emails", "--status", "failed")
    assert failed.exit_code == 0, failed.stderr
    rows = json.loads(failed.stdout)["emails"]
    assert [(r["_id"], r["reason"]) for r in rows] == [
        ("<cli-test@shopwatch.example>", "recipient_refused")
    ]
    readable = cli("admin", "notify", "emails", "--report", "rep-1")
    assert "recipient_refused" in readable.stdout
    wrong = cli("admin", "notify", "emails", "--status", "lost")
    assert wrong.exit_code == 1 and "--status must be pending, sent or failed" in wrong.stderr


def test_the_installed_command_runs(
    stack_env: Any, database: str, tenant: tuple[str, str, str]
) -> None:
    env = {
        **os.environ,
        "SHOPWATCH_MONGO_URL": stack_env.mongo_url,
        "SHOPWATCH_MONGO_DATABASE": database,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopwatch.cli",
            "--json",
            "admin",
            "notify",
            "prefs",
            "--retailer",
            tenant[0],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["retailer_id"] == tenant[0]
