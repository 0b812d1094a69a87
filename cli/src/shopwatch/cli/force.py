"""`shopwatch force listen|update`: the reference client a force's records system integrates with.

It uses only what a force holds: its SCRAM credentials and its own two topics.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]
from pydantic import ValidationError

from shopwatch.cli.admin_forces import force_slug
from shopwatch.cli.app import app
from shopwatch.cli.kafka_options import acl_prefix, force_client_options, force_user_name, prefixed
from shopwatch.cli.output import emit, fail, info
from shopwatch.cli.seen_events import SeenEvents
from shopwatch.schemas.enums import OutcomeKind, UpdateKind
from shopwatch.schemas.events import CaseRouted, ForceUpdate
from shopwatch.schemas.registry import (
    EventDecodeError,
    format_validation_errors,
    make_envelope,
    parse_event,
)
from shopwatch.schemas.topics import ForceTopicKind, force_topic

force_app = typer.Typer(
    help="A police force's view: its cases and its updates.", no_args_is_help=True
)
app.add_typer(force_app, name="force")

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user", envvar="SHOPWATCH_FORCE_USER", help="Kafka user (default force-<slug>)."
    ),
]
PasswordOption = Annotated[
    str | None,
    typer.Option("--password", envvar="SHOPWATCH_FORCE_PASSWORD", help="Kafka password."),
]


@force_app.command("listen")
def listen(
    slug: str,
    user: UserOption = None,
    password: PasswordOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Write each case as <case_id>.json here.")
    ] = None,
    table: Annotated[
        bool, typer.Option("--table", help="Readable lines instead of JSON lines.")
    ] = False,
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default force.<slug>.listen).")
    ] = None,
    max_records: Annotated[
        int | None, typer.Option("--max", min=1, help="Stop after this many.")
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option("--idle-timeout", min=0.5, help="Stop after this many quiet seconds."),
    ] = None,
) -> None:
    """Print the force's cases as they arrive (newest package per case wins)."""
    slug = force_slug(slug)
    if not password:
        fail("no password: pass --password or set SHOPWATCH_FORCE_PASSWORD", code=2)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    topic = prefixed(force_topic(slug, ForceTopicKind.CASES))
    options = {
        "group_id": group or f"{acl_prefix()}force.{slug}.listen",
        "auto_offset_reset": "earliest",
        "enable_auto_commit": True,
        **force_client_options(user or force_user_name(slug), password),
    }
    try:
        count = asyncio.run(_listen(topic, options, out, table, max_records, idle_timeout))
    except KafkaError as exc:
        fail(f"Kafka refused or failed: {type(exc).__name__}: {exc}")
    info(f"{count} record(s) read from {topic}")


async def _listen(
    topic: str,
    options: dict[str, Any],
    out: Path | None,
    table: bool,
    max_records: int | None,
    idle: float | None,
) -> int:
    consumer = AIOKafkaConsumer(topic, **options)
    await consumer.start()
    count, quiet_since = 0, time.monotonic()
    seen = SeenEvents()
    try:
        while max_records is None or count < max_records:
            batches = await consumer.getmany(timeout_ms=500)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                if idle is not None and time.monotonic() - quiet_since > idle:
                    break
                continue
            quiet_since = time.monotonic()
            for record in records:
                _show(record.value, out, table, seen)
                count += 1
                if max_records is not None and count >= max_records:
                    break
    finally:
        await consumer.stop()
    return count


def _show(raw: bytes, out: Path | None, table: bool, seen: SeenEvents) -> None:
    try:
        envelope = parse_event(raw)
    except EventDecodeError as exc:
        info(f"skipped a record that is not a Shopwatch event: {exc}")
        return
    if not seen.first_time(str(envelope.event_id)):
        info(f"skipped a repeated delivery of event {envelope.event_id}")
        return
    payload = envelope.payload
    if out is not None and isinstance(payload, CaseRouted):
        _write_case_file(out, envelope.model_dump(mode="json"), payload)
    if table and isinstance(payload, CaseRouted):
        print(
            f"{payload.reference}  #{payload.sequence:<3} {payload.priority.value:<9} "
            f"{payload.status.value:<16} {payload.report.offence_type.value:<28} "
            f"{payload.store.name} ({payload.store.postcode})  evidence:{len(payload.evidence)} "
            f"links:{len(payload.offender_links)}  case {payload.case_id}",
            flush=True,
        )
    elif table:
        print(f"{envelope.event_type}: {json.dumps(payload.model_dump(mode='json'))}", flush=True)
    else:
        print(json.dumps(envelope.model_dump(mode="json")), flush=True)


def _write_case_file(out: Path, document: dict[str, Any], case: CaseRouted) -> None:
    path = out / f"{case.case_id}.json"
    if path.exists():
        existing = json.loads(path.read_text())
        if existing["payload"]["sequence"] >= case.sequence:
            return  # an older package arrived late; keep the newer one
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2))
    tmp.replace(path)


@force_app.command("update")
def update(
    case_id: str,
    force: Annotated[str, typer.Option(help="The force sending the update.")],
    status: Annotated[UpdateKind, typer.Option(help="What happened.")],
    crime_ref: Annotated[str | None, typer.Option(help="Crime reference number.")] = None,
    note: Annotated[str | None, typer.Option(help="A note for the case.")] = None,
    officer: Annotated[
        str | None, typer.Option(help="Collar number of the officer allocated.")
    ] = None,
    outcome: Annotated[
        OutcomeKind | None, typer.Option(help="Outcome, with --status outcome.")
    ] = None,
    evidence_needed: Annotated[str | None, typer.Option(help="What evidence is requested.")] = None,
    user: UserOption = None,
    password: PasswordOption = None,
) -> None:
    """Publish a ForceUpdate on the force's own updates topic."""
    slug = force_slug(force)
    if not password:
        fail("no password: pass --password or set SHOPWATCH_FORCE_PASSWORD", code=2)
    body: dict[str, Any] = {
        "case_id": case_id,
        "force": slug,
        "kind": status,
        "crime_reference": crime_ref,
        "note": note,
        "officer": {"collar_number": officer} if officer else None,
        "outcome": outcome,
        "evidence_request": {"description": evidence_needed} if evidence_needed else None,
        "updated_at": datetime.now(UTC),
    }
    try:
        event = ForceUpdate.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        fail("; ".join(format_validation_errors(exc)), code=2)
    envelope = make_envelope(event, producer="force-cli", correlation_id=case_id)
    topic = prefixed(force_topic(slug, ForceTopicKind.UPDATES))

    async def send() -> None:
        producer = AIOKafkaProducer(
            acks="all", **force_client_options(user or force_user_name(slug), password)
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                topic, envelope.model_dump_json().encode(), key=case_id.encode()
            )
        finally:
            await producer.stop()

    try:
        asyncio.run(send())
    except KafkaError as exc:
        fail(f"Kafka refused or failed: {type(exc).__name__}: {exc}")
    emit(
        {
            "event_id": str(envelope.event_id),
            "topic": topic,
            "case_id": case_id,
            "kind": status.value,
        },
        f"{status.value} sent for case {case_id} on {topic}",
    )
