"""`shopwatch admin retailer|store|key …`: tenants and their API keys."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from shopwatch.cli.app import admin_app
from shopwatch.cli.intake_db import intake_admin
from shopwatch.cli.output import emit, fail
from shopwatch.intake.admin import AdminError
from shopwatch.schemas.report import Location

retailer_app = typer.Typer(help="Retailers (national chains, corner shops).", no_args_is_help=True)
store_app = typer.Typer(help="A retailer's stores.", no_args_is_help=True)
key_app = typer.Typer(help="A retailer's API keys.", no_args_is_help=True)
admin_app.add_typer(retailer_app, name="retailer")
admin_app.add_typer(store_app, name="store")
admin_app.add_typer(key_app, name="key")

KEY_WARNING = "Store this API key now: it is shown once and cannot be recovered."


@retailer_app.command("add")
def retailer_add(
    name: str,
    notify: Annotated[list[str], typer.Option(help="Notification email (repeatable).")] = [],  # noqa: B006
) -> None:
    """Register a retailer; prints its id and a first API key."""

    async def run() -> None:
        async with intake_admin() as admin:
            try:
                retailer, key = await admin.add_retailer(name, notify)
            except AdminError as exc:
                fail(str(exc))
        emit(
            {
                "retailer_id": retailer.retailer_id,
                "name": retailer.name,
                "key_id": key.key_id,
                "api_key": key.api_key,
            },
            f"retailer {retailer.name}: {retailer.retailer_id}\n"
            f"API key ({key.key_id}): {key.api_key}\n{KEY_WARNING}",
        )

    asyncio.run(run())


@retailer_app.command("list")
def retailer_list() -> None:
    """List retailers."""

    async def run() -> None:
        async with intake_admin() as admin:
            retailers = await admin.tenants.list_retailers()
        emit(
            {"retailers": [{"retailer_id": r.retailer_id, "name": r.name} for r in retailers]},
            "\n".join(f"{r.retailer_id}  {r.name}" for r in retailers) or "no retailers",
        )

    asyncio.run(run())


@store_app.command("add")
def store_add(
    retailer: Annotated[str, typer.Option(help="Retailer id.")],
    name: Annotated[str, typer.Option(help="Store name.")],
    address: Annotated[list[str], typer.Option(help="Address line (repeatable).")],
    town: Annotated[str, typer.Option(help="Town or city.")],
    postcode: Annotated[str, typer.Option(help="UK postcode.")],
    lat: Annotated[float | None, typer.Option(help="Latitude.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude.")] = None,
    force: Annotated[str | None, typer.Option(help="Force slug overriding the postcode.")] = None,
    notify: Annotated[list[str], typer.Option(help="Notification email (repeatable).")] = [],  # noqa: B006
) -> None:
    """Register a store of a retailer; prints the store id."""

    async def run() -> None:
        try:
            location = (
                Location(latitude=lat, longitude=lon)
                if lat is not None and lon is not None
                else None
            )
        except ValueError as exc:
            fail(f"location: {exc}")
        async with intake_admin() as admin:
            try:
                store = await admin.add_store(
                    retailer,
                    name=name,
                    address_lines=address,
                    town=town,
                    postcode=postcode,
                    location=location,
                    force_override=force,
                    notification_emails=notify,
                )
            except AdminError as exc:
                fail(str(exc))
        emit(
            {
                "store_id": store.store_id,
                "retailer_id": store.retailer_id,
                "name": store.name,
                "postcode": store.postcode,
                "force_override": store.force_override,
            },
            f"store {store.name} ({store.postcode}): {store.store_id}",
        )

    asyncio.run(run())


@key_app.command("add")
def key_add(
    retailer: Annotated[str, typer.Option(help="Retailer id.")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Issue another API key for a retailer (shown once)."""

    async def run() -> None:
        async with intake_admin() as admin:
            try:
                key = await admin.add_key(retailer, label)
            except AdminError as exc:
                fail(str(exc))
        emit(
            {"key_id": key.key_id, "retailer_id": key.retailer_id, "api_key": key.api_key},
            f"API key ({key.key_id}): {key.api_key}\n{KEY_WARNING}",
        )

    asyncio.run(run())


@key_app.command("revoke")
def key_revoke(key_id: str) -> None:
    """Revoke an API key at once."""

    async def run() -> None:
        async with intake_admin() as admin:
            try:
                await admin.revoke_key(key_id)
            except AdminError as exc:
                fail(str(exc))
        emit({"key_id": key_id, "revoked": True}, f"key {key_id} revoked")

    asyncio.run(run())
