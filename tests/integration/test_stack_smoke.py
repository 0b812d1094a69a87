"""Smoke tests of the real servers: Kafka (FastStream, SCRAM + ACLs), MongoDB, S3, SMTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import secrets
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosmtplib
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import TopicAuthorizationFailedError  # type: ignore[import-untyped]
from faststream.kafka import KafkaBroker
from minio import Minio
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from shopwatch.runtime.kafka_security import (
    AdminConnection,
    grant_force_access,
    revoke_force_access,
    upsert_scram_user,
)

if TYPE_CHECKING:
    from tests.conftest import StackEnv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def create_topics(bootstrap: str, *names: str) -> None:
    """Topics must exist first: the brokers run with auto.create.topics.enable=false."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


# --- Kafka through FastStream ---------------------------------------------------------------


class SmokeReport(BaseModel):
    report_id: str
    store: str
    value_pence: int
    tags: list[str]


async def test_kafka_faststream_publish_and_consume_pydantic(
    stack_env: StackEnv, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}smoke.reports.v1"
    await create_topics(stack_env.kafka_bootstrap, topic)
    broker = KafkaBroker(stack_env.kafka_bootstrap)
    received: asyncio.Future[SmokeReport] = asyncio.get_running_loop().create_future()

    @broker.subscriber(topic, group_id=f"{topic_prefix}smoke", auto_offset_reset="earliest")
    async def on_report(report: SmokeReport) -> None:
        if not received.done():
            received.set_result(report)

    sent = SmokeReport(
        report_id=secrets.token_hex(8), store="Leeds Briggate", value_pence=4599, tags=["a", "b"]
    )
    async with broker:
        await broker.start()
        await broker.publish(sent, topic=topic)
        got = await asyncio.wait_for(received, timeout=60)
    assert isinstance(got, SmokeReport)
    assert got == sent


async def test_kafka_topics_are_not_auto_created(stack_env: StackEnv, topic_prefix: str) -> None:
    missing = f"{topic_prefix}smoke.never-created.v1"
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env.kafka_bootstrap, request_timeout_ms=3000
    )
    await producer.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - aiokafka raises KafkaTimeoutError here
            await asyncio.wait_for(producer.send_and_wait(missing, b"x"), timeout=10)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_env.kafka_bootstrap)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()


# --- a police force's SCRAM principal confined by prefixed ACLs -------------------------------


@pytest.fixture
def acl_prefix(topic_prefix: str) -> str:
    """Other tests of the session route real cases to `<topic_prefix>force.durham...`:
    this test's topics get a prefix of their own."""
    return f"{topic_prefix}acl{secrets.token_hex(3)}."


@pytest.fixture
async def durham_user(stack_env: StackEnv, acl_prefix: str) -> AsyncIterator[tuple[str, str]]:
    if stack_env.kafka_sasl_bootstrap is None:
        pytest.skip("this stack has no SASL/SCRAM listener (SHOPWATCH_KAFKA_SASL_BOOTSTRAP)")
    conn = AdminConnection(stack_env.kafka_bootstrap)
    user, password = f"smoke-durham-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    await upsert_scram_user(conn, user, password)
    await grant_force_access(conn, "durham", user, topic_prefix=acl_prefix)
    try:
        yield user, password
    finally:
        await revoke_force_access(conn, user)


def force_consumer(stack_env: StackEnv, topic: str, user: str, password: str, group: str) -> Any:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack_env.kafka_sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=user,
        sasl_plain_password=password,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def test_force_principal_reads_own_cases_and_is_refused_others(
    stack_env: StackEnv, acl_prefix: str, durham_user: tuple[str, str]
) -> None:
    user, password = durham_user
    durham = f"{acl_prefix}force.durham.cases.v1"
    cleveland = f"{acl_prefix}force.cleveland.cases.v1"
    await create_topics(stack_env.kafka_bootstrap, durham, cleveland)
    producer = AIOKafkaProducer(bootstrap_servers=stack_env.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(durham, b"case-for-durham")
        await producer.send_and_wait(cleveland, b"case-for-cleveland")
    finally:
        await producer.stop()

    group = f"{acl_prefix}force.durham.smoke"
    own = force_consumer(stack_env, durham, user, password, group)
    await own.start()
    try:
        batches = await own.getmany(timeout_ms=15000)
    finally:
        await own.stop()
    values = [record.value for records in batches.values() for record in records]
    assert values == [b"case-for-durham"]

    other = force_consumer(stack_env, cleveland, user, password, group)
    with pytest.raises(TopicAuthorizationFailedError):
        await other.start()
        try:
            await other.getmany(timeout_ms=15000)
        finally:
            await other.stop()


# --- MongoDB (FerretDB locally) ---------------------------------------------------------------


async def test_mongo_write_unique_index_and_read(
    stack_env: StackEnv, mongo_db_name: Callable[[str], str]
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack_env.mongo_url, serverSelectionTimeoutMS=10000
    )
    try:
        reports = client[mongo_db_name("smoke")]["reports"]
        await reports.create_index("reference", unique=True)
        document = {"reference": "SW-0001", "store": "Durham Market Place", "value_pence": 1250}
        await reports.insert_one(dict(document))
        found = await reports.find_one({"reference": "SW-0001"}, {"_id": 0})
        assert found == document
        with pytest.raises(DuplicateKeyError):
            await reports.insert_one({"reference": "SW-0001", "store": "elsewhere"})
        assert await reports.count_documents({}) == 1
    finally:
        await client.close()


# --- S3 through the minio SDK ------------------------------------------------------------------


@pytest.fixture
def s3_bucket(stack_env: StackEnv) -> Any:
    client = Minio(
        stack_env.s3_endpoint,
        access_key=stack_env.s3_access_key,
        secret_key=stack_env.s3_secret_key,
        secure=stack_env.s3_secure,
        region="us-east-1",
    )
    bucket = f"smoke-{secrets.token_hex(6)}"
    client.make_bucket(bucket)
    yield client, bucket
    for obj in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, obj.object_name)
    client.remove_bucket(bucket)


def test_s3_put_get_presign_and_multipart(s3_bucket: tuple[Minio, str]) -> None:
    client, bucket = s3_bucket
    body = b"CCTV still, exhibit SW/1"
    client.put_object(bucket, "exhibits/still.jpg", io.BytesIO(body), len(body), "image/jpeg")
    response = client.get_object(bucket, "exhibits/still.jpg")
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()

    get_url = client.presigned_get_object(
        bucket, "exhibits/still.jpg", expires=dt.timedelta(minutes=5)
    )
    fetched = httpx.get(get_url)
    assert fetched.status_code == 200
    assert fetched.content == body

    put_url = client.presigned_put_object(
        bucket, "exhibits/upload.bin", expires=dt.timedelta(minutes=5)
    )
    assert httpx.put(put_url, content=b"uploaded by presigned URL").status_code == 200
    assert client.stat_object(bucket, "exhibits/upload.bin").size == 25

    # 11 MiB in 5 MiB parts: the SDK uses S3 multipart upload.
    video = secrets.token_bytes(11 * 1024 * 1024)
    result = client.put_object(
        bucket, "exhibits/master.mp4", io.BytesIO(video), len(video), part_size=5 * 1024 * 1024
    )
    assert result.etag is not None and result.etag.endswith("-3")
    stored = client.get_object(bucket, "exhibits/master.mp4")
    try:
        assert hashlib.sha256(stored.read()).digest() == hashlib.sha256(video).digest()
    finally:
        stored.close()
        stored.release_conn()


# --- SMTP ----------------------------------------------------------------------------------------


def _stored_messages(stack_env: StackEnv) -> list[str]:
    if stack_env.smtp_store is not None:
        return [p.read_text(errors="replace") for p in Path(stack_env.smtp_store).glob("*.eml")]
    if stack_env.mailpit_api is not None:
        url = f"{stack_env.mailpit_api}/api/v1/messages?limit=200"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - test server
            listing = json.load(response)
        return [json.dumps(message) for message in listing.get("messages", [])]
    pytest.fail("the SMTP server's store is unknown (SHOPWATCH_SMTP_STORE)", pytrace=False)


async def test_smtp_send_and_find_in_store(stack_env: StackEnv) -> None:
    token = secrets.token_hex(8)
    message = EmailMessage()
    message["From"] = "noreply@shopwatch.test"
    message["To"] = "store-manager@retailer.test"
    message["Subject"] = f"Case update {token}"
    message.set_content(f"Your report {token} was sent to Durham Constabulary.")
    await aiosmtplib.send(message, hostname=stack_env.smtp_host, port=stack_env.smtp_port)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [text for text in _stored_messages(stack_env) if token in text]
        if found:
            break
        await asyncio.sleep(0.2)
    assert len(found) == 1
    assert "store-manager@retailer.test" in found[0]
