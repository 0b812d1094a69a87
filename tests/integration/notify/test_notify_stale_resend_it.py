"""A stale `pending` copy of a sent email's row must not send it again.

Seen in the fault test (FerretDB stopped mid-flight): the server accepted an email, the
write recording it failed, the consumer's retry recorded it later, and the sweeper,
holding a copy of the row read while it was still pending, sent it a second time.
Here the real ledger (FerretDB) and a real SMTP server; only `mark_sent` is made to fail
once, as the outage did.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from shopwatch.notify.adapters.mongo import MongoSentEmails
from shopwatch.notify.adapters.smtp import OutgoingEmail
from shopwatch.notify.app import build_service
from shopwatch.notify.domain import message_id
from shopwatch.notify.service import Delivery
from tests.integration.notify.test_notify_it import (
    ID_DOMAIN,
    Recorder,
    free_port,
    settings_for,
    start_smtp,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

LEASE_S = 0.5


class RecordingFailsOnce(MongoSentEmails):
    """The database goes away just after the server accepted the email."""

    failed = False

    async def mark_sent(self, message_id: str, now: datetime) -> None:
        if not self.failed:
            self.failed = True
            raise AutoReconnect("127.0.0.1:27017: connection closed")
        await super().mark_sent(message_id, now)


async def test_a_stale_pending_copy_does_not_resend_a_sent_email(stack_env: Any) -> None:
    recorder = Recorder()
    port = free_port()
    controller = start_smtp(recorder, port)
    database = f"tn_stale_{secrets.token_hex(4)}"
    settings = settings_for(
        stack_env,
        "tn-unused.",
        database,
        smtp_port=port,
        smtp_timeout_s=0.4,
        send_timeout_s=LEASE_S,
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url, tz_aware=True)
    db = client[database]
    try:
        notify = build_service(settings, db, None)
        ledger = RecordingFailsOnce(db)
        notify.ledger = ledger
        to = "loss-prevention@stale.example"
        email = OutgoingEmail(
            message_id=message_id("event-1", to, ID_DOMAIN),
            to=to,
            subject="Report SW-1 received",
            text="plain",
            html="<p>html</p>",
            template="received",
            created_at=datetime.now(UTC),
            report_id="rep-1",
        )
        lease_until = datetime.now(UTC) + timedelta(seconds=LEASE_S)
        assert await ledger.claim_new(
            [email], lease_until=lease_until, event_id="event-1", retailer_id="ret-1"
        ) == {email.message_id}

        with pytest.raises(AutoReconnect):  # sent, but not recorded
            await notify._send_claimed(email, None)
        assert len(recorder.mails) == 1
        stale = await ledger.get(email.message_id)
        assert stale is not None and stale["status"] == "pending"

        # The consumer's retry in this process records the send instead of repeating it.
        assert await notify._resume(stale) is Delivery.SENT
        await asyncio.sleep(LEASE_S + 0.2)  # the stale copy's lease has run out

        # The sweeper of this process with its stale copy: nothing sent.
        assert await notify._resume(stale) is Delivery.SENT
        # Another process, with no memory of the send: the ledger refuses to lease a row
        # that is no longer pending.
        other = build_service(settings, db, None)
        assert await other._resume(stale) is Delivery.IN_FLIGHT

        row = await ledger.get(email.message_id)
        assert row is not None and row["status"] == "sent"
        await asyncio.sleep(0.3)  # a second message would have reached the server by now
        assert [m.message_id for m in recorder.mails] == [email.message_id]
    finally:
        controller.stop()
        await client.drop_database(database)
        await client.close()
