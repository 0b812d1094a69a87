"""The committed AsyncAPI documents are what the services' code declares."""

from shopwatch.runtime.asyncapi_export import document, main


def test_committed_asyncapi_documents_match_the_code() -> None:
    assert main(["--check"]) == 0, "run: uv run python -m shopwatch.runtime.asyncapi_export"


def test_routing_document_lists_every_force_updates_topic() -> None:
    channels = " ".join(document("routing")["channels"])
    assert "force.durham.updates.v1" in channels and "force.cleveland.updates.v1" in channels
