"""Operator functions for police force tokens (``shopwatch admin force`` calls them).

A token is shown once, as ``swf_<token_id>_<secret>``; only a hash of the secret is
kept. Revoking is immediate: tokens are checked against the database on every request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.evidence import force_tokens
from shopwatch.evidence.adapters.mongo import FORCE_TOKENS
from shopwatch.schemas.forces import canonical_force_slug

Document = dict[str, Any]


async def add_force_token(
    db: AsyncDatabase[Document], slug: str, *, label: str | None = None
) -> str:
    """Issue a token for ``slug`` (a data.police.uk force id); returns the plaintext."""
    force = canonical_force_slug(slug)  # raises UnknownForceError for a typo
    issued = force_tokens.issue_token()
    await db[FORCE_TOKENS].insert_one(
        {
            "_id": issued.token_id,
            "force": force,
            "hash": issued.secret_hash,
            "label": label,
            "created_at": datetime.now(UTC),
            "revoked_at": None,
        }
    )
    return issued.plaintext


async def revoke_force_token(db: AsyncDatabase[Document], token_id: str) -> bool:
    """Revoke a token by its id (or by the whole plaintext). False if unknown or revoked."""
    if force_tokens.looks_like_force_token(token_id):
        token_id = force_tokens.parse_token(token_id).token_id
    result = await db[FORCE_TOKENS].update_one(
        {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
    )
    return result.modified_count == 1


async def list_force_tokens(db: AsyncDatabase[Document], slug: str | None = None) -> list[Document]:
    """Tokens without their hashes, newest first."""
    query: Document = {} if slug is None else {"force": canonical_force_slug(slug)}
    cursor = db[FORCE_TOKENS].find(query, {"hash": 0}).sort("created_at", -1)
    return [doc async for doc in cursor]
