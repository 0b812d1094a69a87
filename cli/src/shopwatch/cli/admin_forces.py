"""`shopwatch admin force add|remove SLUG` and `shopwatch admin topics create`."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

import typer
from pymongo.errors import PyMongoError

from shopwatch.cli.app import admin_app
from shopwatch.cli.kafka_options import (
    acl_prefix,
    admin_connection,
    bootstrap,
    force_user_name,
    prefixed,
    sasl_bootstrap,
    topic_prefix,
)
from shopwatch.cli.output import emit, fail, info
from shopwatch.evidence.admin import add_force_token
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.runtime.db import mongo_client, service_database
from shopwatch.runtime.kafka_security import (
    KafkaSecurityError,
    delete_scram_user,
    grant_force_access,
    revoke_force_access,
    upsert_scram_user,
)
from shopwatch.runtime.provisioning import ensure_topics
from shopwatch.schemas.forces import UnknownForceError, canonical_force_slug
from shopwatch.schemas.topics import ForceTopicKind, force_topic

force_admin = typer.Typer(help="Police forces as Kafka clients.", no_args_is_help=True)
topics_admin = typer.Typer(help="Kafka topics from the registry.", no_args_is_help=True)
admin_app.add_typer(force_admin, name="force")
admin_app.add_typer(topics_admin, name="topics")

CREDENTIALS_WARNING = "Hand these to the force now: the password is shown once."


def force_slug(value: str) -> str:
    """The canonical slug for what an operator typed, or a usage error."""
    try:
        return canonical_force_slug(value)
    except UnknownForceError:
        fail(f"unknown force {value!r}: use a data.police.uk force id such as 'durham'", code=2)


@force_admin.command("add")
def force_add(slug: str) -> None:
    """Create the force's SCRAM-SHA-512 user and ACLs confining it to its own topics."""
    slug = force_slug(slug)
    user, password = force_user_name(slug), secrets.token_urlsafe(24)

    async def run() -> None:
        conn = admin_connection()
        await upsert_scram_user(conn, user, password)
        await grant_force_access(conn, slug, user, topic_prefix=acl_prefix())

    try:
        asyncio.run(run())
    except (KafkaSecurityError, OSError) as exc:
        fail(f"could not create the force's Kafka user on {bootstrap()}: {exc}")
    try:
        api_token = asyncio.run(issue_evidence_token(slug))
    except PyMongoError as exc:
        fail(f"Kafka user made, but no evidence token: evidence's database: {exc}")
    document = {
        "force": slug,
        "kafka_bootstrap": sasl_bootstrap(),
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_username": user,
        "kafka_password": password,
        "cases_topic": prefixed(force_topic(slug, ForceTopicKind.CASES)),
        "updates_topic": prefixed(force_topic(slug, ForceTopicKind.UPDATES)),
        "consumer_group_prefix": f"{acl_prefix()}force.{slug}.",
        "evidence_api_token": api_token,
    }
    summary = "\n".join(f"{k}: {v}" for k, v in document.items() if v is not None)
    emit(document, f"{summary}\n{CREDENTIALS_WARNING}")


async def issue_evidence_token(slug: str) -> str:
    """A token for the force's HTTP access to evidence (downloads with a stated reason)."""
    settings = EvidenceSettings()
    client = mongo_client(settings, server_selection_timeout_ms=3_000)
    try:
        return await add_force_token(
            service_database(client, settings.database_name), slug, label="admin force add"
        )
    finally:
        await client.close()


@force_admin.command("remove")
def force_remove(slug: str) -> None:
    """Delete the force's Kafka user and ACLs (its existing sessions end at re-auth)."""
    slug = force_slug(slug)
    user = force_user_name(slug)

    async def run() -> None:
        conn = admin_connection()
        await revoke_force_access(conn, user)
        await delete_scram_user(conn, user)

    try:
        asyncio.run(run())
    except (KafkaSecurityError, OSError) as exc:
        fail(f"could not remove the force's Kafka user: {exc}")
    emit({"force": slug, "removed": True}, f"force {slug}: Kafka user and ACLs removed")


@topics_admin.command("create")
def topics_create(
    partitions: Annotated[
        int | None, typer.Option(min=1, max=100, help="Override every topic's partitions.")
    ] = None,
) -> None:
    """Create every registry topic that does not exist yet (safe to run again)."""

    def progress(done: int, total: int) -> None:
        info(f"topics: {done}/{total}")

    try:
        result = asyncio.run(
            ensure_topics(bootstrap(), topic_prefix(), partitions, progress=progress)
        )
    except (OSError, RuntimeError) as exc:
        fail(f"could not create topics on {bootstrap()}: {exc}")
    emit(
        {"created": list(result.created), "already_present": len(result.already_present)},
        f"{len(result.created)} topics created, {len(result.already_present)} already present",
    )
