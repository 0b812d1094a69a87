"""Opens intake's database for the operator commands (they run where the database is reachable)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import PyMongoError

from shopwatch.cli.output import fail
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.intake.config import IntakeSettings
from shopwatch.runtime.db import mongo_client, service_database


@asynccontextmanager
async def intake_admin() -> AsyncIterator[IntakeAdmin]:
    settings = IntakeSettings()
    client = mongo_client(settings, server_selection_timeout_ms=3_000)
    try:
        tenants = MongoTenants(service_database(client, settings.database_name))
        await tenants.ensure_indexes()
        yield IntakeAdmin(tenants)
    except PyMongoError as exc:
        fail(
            f"cannot reach intake's database at {settings.mongo_url_for_logs()}: "
            f"{type(exc).__name__} (is the stack up? `make stack-up`)"
        )
    finally:
        await client.close()
