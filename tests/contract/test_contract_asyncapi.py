"""Every AsyncAPI document a service commits is structurally valid and names only
registry topics.

Convention: a service exports its document from FastStream to
``services/<name>/asyncapi.json`` (see ``shopwatch.schemas.asyncapi``) and commits it;
this test picks up every such file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopwatch.schemas.asyncapi import registry_topic_names, validate_asyncapi

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(REPO.glob("services/*/asyncapi.json"))


@pytest.mark.skipif(not DOCUMENTS, reason="no service has committed an AsyncAPI document yet")
@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.parent.name)
def test_service_asyncapi_documents_are_valid(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert validate_asyncapi(doc, known_topics=registry_topic_names()) == []
