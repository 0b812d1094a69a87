"""Opaque cursors for listing reports: newest first, stable under concurrent inserts.

The cursor carries the (created_at, report_id) of the last row seen; the next page asks
for rows strictly older than it. Clients treat it as opaque, so its shape can change.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    report_id: str


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.created_at.isoformat(), cursor.report_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    if len(token) > 200:
        raise InvalidCursor("cursor is too long")
    try:
        padded = token + "=" * (-len(token) % 4)
        created_at, report_id = json.loads(base64.urlsafe_b64decode(padded))
        cursor = Cursor(created_at=datetime.fromisoformat(created_at), report_id=str(report_id))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if cursor.created_at.tzinfo is None:
        raise InvalidCursor("cursor is not one this API issued")
    return cursor
