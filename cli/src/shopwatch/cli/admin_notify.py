"""`shopwatch admin notify contacts|prefs|emails`: who notify emails, how, and what it sent.

Contacts and preferences live in notify's own database. The retailer and store ids are
checked against intake's tenants first, so a typo is an error rather than a contact
list nobody's reports ever use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import typer
from pymongo.errors import PyMongoError

from shopwatch.cli.app import admin_app
from shopwatch.cli.output import emit, emit_table, fail, state
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.config import IntakeSettings
from shopwatch.notify.admin import AdminError, ContactList, NotifyAdmin
from shopwatch.notify.config import NotifySettings
from shopwatch.notify.domain import STATUS_ALIASES, Preferences
from shopwatch.runtime.db import mongo_client, service_database

notify_app = typer.Typer(
    help="Notify: who gets emails about a retailer's reports, and how.", no_args_is_help=True
)
contacts_app = typer.Typer(help="Notification contacts of a retailer or a store.")
admin_app.add_typer(notify_app, name="notify")
notify_app.add_typer(contacts_app, name="contacts", no_args_is_help=True)

Retailer = Annotated[str, typer.Option("--retailer", help="Retailer id.")]
Store = Annotated[str | None, typer.Option("--store", help="Store id (omit: the retailer's).")]


@asynccontextmanager
async def notify_admin(
    retailer_id: str | None = None, store_id: str | None = None
) -> AsyncIterator[NotifyAdmin]:
    """Notify's database (after checking the ids against intake's tenants)."""
    settings = NotifySettings()
    client = mongo_client(settings, server_selection_timeout_ms=3_000)
    try:
        if retailer_id is not None:
            intake = service_database(client, IntakeSettings().database_name)
            await _check_tenant(MongoTenants(intake), retailer_id, store_id)
        admin = NotifyAdmin(service_database(client, settings.database_name))
        await admin.ensure_indexes()
        yield admin
    except PyMongoError as exc:
        fail(
            f"cannot reach notify's database at {settings.mongo_url_for_logs()}: "
            f"{type(exc).__name__} (is the stack up? `make stack-up`)"
        )
    except AdminError as exc:
        fail(str(exc))
    finally:
        await client.close()


async def _check_tenant(tenants: MongoTenants, retailer_id: str, store_id: str | None) -> None:
    if await tenants.get_retailer(retailer_id) is None:
        raise AdminError(
            f"retailer {retailer_id!r} is not registered (see `shopwatch admin retailer list`)"
        )
    if store_id is not None:
        store = await tenants.get_store(store_id)
        if store is None or store.retailer_id != retailer_id:
            raise AdminError(f"store {store_id!r} is not a store of retailer {retailer_id!r}")


def _contacts_doc(c: ContactList) -> dict[str, Any]:
    return {"retailer_id": c.retailer_id, "store_id": c.store_id, "emails": list(c.emails)}


def _whose(c: ContactList) -> str:
    return f"store {c.store_id}" if c.store_id else f"retailer {c.retailer_id}"


@contacts_app.command("set")
def contacts_set(
    retailer: Retailer,
    store: Store = None,
    email: Annotated[
        list[str], typer.Option("--email", help="Notification address (repeatable).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    clear: Annotated[bool, typer.Option("--clear", help="Remove every address.")] = False,
) -> None:
    """Replace the notification addresses of a retailer (or of one of its stores)."""
    if not email and not clear:
        fail("give at least one --email, or --clear to remove them all")
    if email and clear:
        fail("--clear removes every address; do not combine it with --email")

    async def run() -> None:
        async with notify_admin(retailer, store) as admin:
            try:
                saved = await admin.set_contacts(retailer, store, email)
            except AdminError as exc:
                fail(str(exc))
        emit(
            _contacts_doc(saved),
            f"{_whose(saved)}: " + (", ".join(saved.emails) or "no notification addresses"),
        )

    asyncio.run(run())


@contacts_app.command("show")
def contacts_show(retailer: Retailer, store: Store = None) -> None:
    """Show the notification addresses of a retailer and its stores (or of one store)."""

    async def run() -> None:
        async with notify_admin() as admin:
            try:
                lists = await admin.show_contacts(retailer, store)
            except AdminError as exc:
                fail(str(exc))
        if state.json_output:
            emit({"contacts": [_contacts_doc(c) for c in lists]})
            return
        emit_table(
            f"notification contacts of retailer {retailer}",
            ["for", "emails"],
            [[_whose(c), ", ".join(c.emails) or "-"] for c in lists],
        )

    asyncio.run(run())


def _prefs_doc(prefs: Preferences) -> dict[str, Any]:
    return {
        "retailer_id": prefs.retailer_id,
        "statuses": sorted(k.value for k in prefs.statuses),
        "mode": prefs.mode.value,
    }


@notify_app.command("prefs")
def prefs(
    retailer: Retailer,
    statuses: Annotated[
        list[str] | None,
        typer.Option(
            "--statuses",
            help=(
                "Which emails to send: all, or any of "
                + ", ".join(sorted(STATUS_ALIASES))
                + " (comma-separated or repeated)."
            ),
        ),
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="immediate, or digest (one summary a day).")
    ] = None,
) -> None:
    """Show a retailer's email preferences, or change them with --statuses / --mode."""

    async def run() -> None:
        changing = statuses is not None or mode is not None
        async with notify_admin(retailer if changing else None) as admin:
            try:
                if changing:
                    chosen = await admin.set_preferences(retailer, statuses, mode)
                else:
                    chosen = await admin.preferences_of(retailer)
            except AdminError as exc:
                fail(str(exc))
        doc = _prefs_doc(chosen)
        emit(
            doc,
            f"retailer {chosen.retailer_id}: {doc['mode']}, statuses " + ", ".join(doc["statuses"]),
        )

    asyncio.run(run())


@notify_app.command("emails")
def emails(
    status: Annotated[str | None, typer.Option("--status", help="pending, sent or failed.")] = None,
    report: Annotated[str | None, typer.Option("--report", help="Report id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
) -> None:
    """The record of emails (newest first): who, which template, sent or failed and why."""

    async def run() -> None:
        async with notify_admin() as admin:
            try:
                rows = await admin.emails(status=status, report_id=report, limit=limit)
            except AdminError as exc:
                fail(str(exc))
        fields = ("_id", "status", "to", "template", "report_id", "attempts", "reason", "error")
        docs = [{k: row.get(k) for k in (*fields, "created_at", "sent_at")} for row in rows]
        if state.json_output:
            emit({"emails": docs})
            return
        emit_table(
            "emails",
            ["message id", "status", "to", "template", "report", "attempts", "reason"],
            [[d[k] if d[k] is not None else "-" for k in fields[:-1]] for d in docs],
        )

    asyncio.run(run())
