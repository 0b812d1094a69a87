"""Notify's own MongoDB collections (single-document atomic updates only: FerretDB-safe).

- ``reports``: the ``ReportCopy`` of every report seen on ``reports.submitted.v1``;
- ``contacts``: notification addresses of a retailer (``retailer:<id>``) or one of its
  stores (``store:<retailer>:<store>``);
- ``preferences``: per retailer, which kinds of email and immediate or digest;
- ``sent_emails``: one row per (event, recipient), keyed by the Message-ID, written
  ``pending`` BEFORE sending and updated to ``sent`` or ``failed``; the rendered email
  is kept in the row so a pending one can be resent exactly as it was;
- ``digest_items``: what a digest recipient will be told, until a digest claims it;
- ``failed_events``: events notify gave up on (e.g. a report it never saw).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shopwatch.notify.adapters.smtp import OutgoingEmail
from shopwatch.notify.domain import Kind, Mode, Preferences, ReportCopy
from shopwatch.runtime.db import upsert_one

Document = dict[str, Any]

# A lease that has always expired: a released row may be taken over at once.
EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)

PENDING, SENT, FAILED = "pending", "sent", "failed"
_DUPLICATE_KEY = 11000


class MongoReports:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["reports"]

    async def save(self, report: ReportCopy, now: datetime) -> None:
        """Keep the first copy (a report does not change; a redelivery changes nothing)."""
        fields = {**asdict(report), "force": None, "stored_at": now}
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.insert_one({"_id": report.report_id, **fields})

    async def get(self, report_id: str) -> ReportCopy | None:
        doc = await self.collection.find_one({"_id": report_id})
        if doc is None:
            return None
        return ReportCopy(
            report_id=doc["report_id"],
            reference=doc["reference"],
            retailer_id=doc["retailer_id"],
            store_id=doc["store_id"],
            store_name=doc["store_name"],
            store_town=doc["store_town"],
            reporter_name=doc["reporter_name"],
            reporter_email=doc["reporter_email"],
            force=doc.get("force"),
        )

    async def set_force(self, report_id: str, force: str) -> None:
        await self.collection.update_one({"_id": report_id}, {"$set": {"force": force}})


def contacts_key(retailer_id: str, store_id: str | None = None) -> str:
    return f"store:{retailer_id}:{store_id}" if store_id else f"retailer:{retailer_id}"


class MongoContacts:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["contacts"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("retailer_id", 1)])

    async def set(
        self, retailer_id: str, store_id: str | None, emails: list[str], now: datetime
    ) -> None:
        await upsert_one(
            self.collection,
            {"_id": contacts_key(retailer_id, store_id)},
            {
                "$set": {
                    "retailer_id": retailer_id,
                    "store_id": store_id,
                    "emails": emails,
                    "updated_at": now,
                }
            },
        )

    async def get(self, retailer_id: str, store_id: str | None = None) -> list[str]:
        doc = await self.collection.find_one({"_id": contacts_key(retailer_id, store_id)})
        return list(doc.get("emails", [])) if doc else []

    async def of_retailer(self, retailer_id: str) -> list[Document]:
        """The retailer's entry and every store's, retailer first."""
        cursor = self.collection.find({"retailer_id": retailer_id}).limit(10_000)
        docs = [d async for d in cursor]
        return sorted(docs, key=lambda d: (d.get("store_id") is not None, d.get("store_id") or ""))


class MongoPreferences:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["preferences"]

    async def get(self, retailer_id: str) -> Preferences:
        doc = await self.collection.find_one({"_id": retailer_id})
        if doc is None:
            return Preferences(retailer_id)
        return Preferences(
            retailer_id,
            statuses=frozenset(Kind(s) for s in doc["statuses"]),
            mode=Mode(doc["mode"]),
        )

    async def set(self, prefs: Preferences, now: datetime) -> None:
        await upsert_one(
            self.collection,
            {"_id": prefs.retailer_id},
            {
                "$set": {
                    "statuses": sorted(k.value for k in prefs.statuses),
                    "mode": prefs.mode.value,
                    "updated_at": now,
                }
            },
        )


class MongoSentEmails:
    """The ledger that makes each (event, recipient) one email.

    ``_id`` is the Message-ID, so the unique index that stops a second row is MongoDB's
    own. A row is ``pending`` with a lease while someone sends it; ``lease_until`` in the
    past means nobody is (a released row, or a sender that died), and ``retry_at`` says
    when the sweeper may pick it up.

    Every read and write on the sending path filters on ``_id`` alone: FerretDB 1.24
    (SQLite) pushes only that filter down to its storage and scans the collection for
    any other. So a conditional "take the lease if it expired" update is not an option;
    instead each further attempt is claimed by inserting ``<message-id>#<n>`` into
    ``send_attempts`` (a unique ``_id``: of two takers, one wins), and only the winner
    updates the row, by ``_id``.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["sent_emails"]
        self.attempts = db["send_attempts"]

    async def ensure_indexes(self) -> None:
        # For the sweeper and operators (MongoDB uses them; FerretDB scans, off the hot path).
        await self.collection.create_index([("status", 1), ("retry_at", 1)])
        await self.collection.create_index([("report_id", 1)])

    async def claim_new(
        self,
        emails: list[OutgoingEmail],
        *,
        lease_until: datetime,
        event_id: str | None,
        retailer_id: str,
        source: Document | None = None,
    ) -> set[str]:
        """Insert the rows as pending, attempt 1 leased to the caller, in ONE write.

        Returns the Message-IDs inserted; the others existed already (an earlier
        delivery of the same event wrote them).
        """
        if not emails:
            return set()
        rows: list[Document] = [
            {
                "_id": email.message_id,
                "status": PENDING,
                "to": email.to,
                "recipient": email.to.lower(),
                "template": email.template,
                "subject": email.subject,
                "text": email.text,
                "html": email.html,
                "report_id": email.report_id,
                "retailer_id": retailer_id,
                "event_id": event_id,
                "source": source,
                "attempts": 1,
                "created_at": email.created_at,
                "updated_at": email.created_at,
                "lease_until": lease_until,
                "retry_at": lease_until,
                "reason": None,
                "error": None,
            }
            for email in emails
        ]
        try:
            await self.collection.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            failed = {int(e["index"]) for e in errors}
            return {e.message_id for i, e in enumerate(emails) if i not in failed}
        return {e.message_id for e in emails}

    async def record_failed(
        self,
        message_id: str,
        *,
        to: str,
        template: str,
        report_id: str | None,
        retailer_id: str,
        event_id: str | None,
        reason: str,
        error: str,
        now: datetime,
    ) -> bool:
        """A row that is failed from the start (an address that cannot be valid)."""
        try:
            await self.collection.insert_one(
                {
                    "_id": message_id,
                    "status": FAILED,
                    "to": to,
                    "recipient": to.lower(),
                    "template": template,
                    "report_id": report_id,
                    "retailer_id": retailer_id,
                    "event_id": event_id,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                    "failed_at": now,
                    "reason": reason,
                    "error": error,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def get(self, message_id: str) -> Document | None:
        return await self.collection.find_one({"_id": message_id})

    async def take_over(
        self, row: Document, now: datetime, lease_until: datetime
    ) -> Document | None:
        """Lease a pending row nobody holds; None when someone else holds or took it."""
        if row["status"] != PENDING or row["lease_until"] >= now:
            return None
        attempt = int(row["attempts"]) + 1
        for _ in range(5):
            try:
                await self.attempts.insert_one(
                    {
                        "_id": f"{row['_id']}#{attempt}",
                        "message_id": row["_id"],
                        "at": now,
                        "lease_until": lease_until,
                    }
                )
            except DuplicateKeyError:
                other = await self.attempts.find_one({"_id": f"{row['_id']}#{attempt}"})
                if other is not None and other["lease_until"] >= now:
                    return None  # taken by a live sender
                # Its taker died before updating the row: that attempt is over.
                attempt += 1
                continue
            update = {
                "attempts": attempt,
                "lease_until": lease_until,
                "retry_at": lease_until,
                "updated_at": now,
            }
            # Only while still pending: the row read by the caller may be stale (another
            # path of this process marked it sent meanwhile), and a take-over of a sent
            # row sends the email a second time. `_id` plus a field is looked up by
            # index on the patched FerretDB (deploy/local/ferretdb_patches.py).
            taken = await self.collection.update_one(
                {"_id": row["_id"], "status": PENDING}, {"$set": update}
            )
            return {**row, **update} if taken.matched_count == 1 else None
        return None

    async def mark_sent(self, message_id: str, now: datetime) -> None:
        await self._set(
            message_id,
            {"status": SENT, "sent_at": now, "updated_at": now, "lease_until": EXPIRED},
        )

    async def mark_failed(self, message_id: str, reason: str, error: str, now: datetime) -> None:
        await self._set(
            message_id,
            {
                "status": FAILED,
                "failed_at": now,
                "updated_at": now,
                "lease_until": EXPIRED,
                "reason": reason,
                "error": error,
            },
        )

    async def release(self, message_id: str, reason: str, error: str, retry_at: datetime) -> None:
        """Still pending, nobody sending: the consumer's retry or the sweeper goes next."""
        await self._set(
            message_id,
            {"lease_until": EXPIRED, "retry_at": retry_at, "reason": reason, "error": error},
        )

    async def _set(self, message_id: str, fields: Document) -> None:
        # Only the lease holder calls these, so the update needs no condition (and a
        # condition would make FerretDB scan the collection).
        await self.collection.update_one({"_id": message_id}, {"$set": fields})

    async def due(self, now: datetime, limit: int = 100) -> list[Document]:
        """Pending rows nobody holds whose retry time has come (oldest first)."""
        cursor = (
            self.collection.find(
                {"status": PENDING, "lease_until": {"$lt": now}, "retry_at": {"$lte": now}}
            )
            .sort("retry_at", 1)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def count(self, status: str) -> int:
        return await self.collection.count_documents({"status": status})

    async def find(self, query: Document, limit: int = 100) -> list[Document]:
        cursor = self.collection.find(query, {"text": 0, "html": 0}).sort("created_at", -1)
        return [doc async for doc in cursor.limit(limit)]


def email_from_row(row: Document) -> OutgoingEmail:
    return OutgoingEmail(
        message_id=row["_id"],
        to=row["to"],
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        template=row["template"],
        created_at=row["created_at"],
        report_id=row.get("report_id"),
    )


class MongoDigestItems:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["digest_items"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("digest_id", 1), ("day", 1)])

    async def add(self, item_id: str, fields: Document) -> bool:
        try:
            await self.collection.insert_one({"_id": item_id, "digest_id": None, **fields})
        except DuplicateKeyError:
            return False
        return True

    async def open_groups(self, up_to: date, limit: int = 50_000) -> list[tuple[str, str]]:
        """(retailer, recipient) pairs with unclaimed items dated up to `up_to`."""
        cursor = self.collection.find(
            {"digest_id": None, "day": {"$lte": up_to.isoformat()}},
            {"retailer_id": 1, "recipient": 1},
        ).limit(limit)
        groups = {(d["retailer_id"], d["recipient"]) async for d in cursor}
        return sorted(groups)

    async def claim(self, retailer_id: str, recipient: str, up_to: date, digest_id: str) -> None:
        await self.collection.update_many(
            {
                "digest_id": None,
                "retailer_id": retailer_id,
                "recipient": recipient,
                "day": {"$lte": up_to.isoformat()},
            },
            {"$set": {"digest_id": digest_id}},
        )

    async def claimed(self, digest_id: str) -> list[Document]:
        cursor = self.collection.find({"digest_id": digest_id}).sort("occurred_at", 1)
        return [d async for d in cursor.limit(10_000)]


class MongoFailedEvents:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["failed_events"]

    async def record(self, event_id: str, fields: Document) -> None:
        await upsert_one(self.collection, {"_id": event_id}, {"$setOnInsert": fields})

    async def find(self, query: Document, limit: int = 100) -> list[Document]:
        cursor = self.collection.find(query).sort("failed_at", -1)
        return [d async for d in cursor.limit(limit)]
