"""Check AsyncAPI documents that services export from FastStream.

Each service builds its document from its broker (FastStream 0.7)::

    from faststream.specification import AsyncAPI
    doc = AsyncAPI(broker, title="routing", version="1").to_specification().to_jsonable()

and a test (or ``python -m shopwatch.schemas.asyncapi docs/asyncapi/*.json``) runs
``validate_asyncapi(doc)``: the structure AsyncAPI 2.x/3.0 requires, every local
``$ref`` resolvable, every message with a payload schema, and, with
``known_topics``, every channel a topic of the registry. This is a structural check,
not the full AsyncAPI JSON Schema; it catches what goes wrong in generated documents
(dangling references, messages without payloads, channels nobody provisioned).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from shopwatch.schemas.topics import all_topics, strip_prefix

_VERSION = re.compile(r"^(?P<major>[23])\.(?P<minor>\d+)\.(?P<patch>\d+)$")
_SCHEMA_KEYS = {"type", "properties", "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "items"}


def registry_topic_names() -> frozenset[str]:
    return frozenset(t.name for t in all_topics())


def _walk_refs(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield path, ref
        for key, value in node.items():
            yield from _walk_refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_refs(value, f"{path}/{index}")


def _resolve(doc: Mapping[str, Any], ref: str) -> Any:
    """The node a local ``$ref`` points to; ``KeyError`` when it does not exist."""
    if not ref.startswith("#"):
        raise KeyError(f"not a local reference: {ref}")
    node: Any = doc
    pointer = unquote(ref[1:])
    if not pointer:
        return node
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(ref)
    return node


def _deref(doc: Mapping[str, Any], node: Any) -> Any:
    seen = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and seen < 20:
        try:
            node = _resolve(doc, node["$ref"])
        except KeyError:
            return None
        seen += 1
    return node


def _is_schema(node: Any) -> bool:
    return isinstance(node, Mapping) and bool(_SCHEMA_KEYS & node.keys())


def _check_message(doc: Mapping[str, Any], message: Any, where: str, errors: list[str]) -> None:
    resolved = _deref(doc, message)
    if not isinstance(resolved, Mapping):
        errors.append(f"{where}: message is not an object")
        return
    if "oneOf" in resolved and "payload" not in resolved:  # AsyncAPI 2: several messages
        for index, inner in enumerate(resolved["oneOf"]):
            _check_message(doc, inner, f"{where}/oneOf/{index}", errors)
        return
    if "payload" not in resolved:
        errors.append(f"{where}: message has no payload")
        return
    payload = _deref(doc, resolved["payload"])
    if not _is_schema(payload):
        errors.append(f"{where}: payload is not a schema (or its $ref does not resolve)")


def validate_asyncapi(
    doc: Any, *, known_topics: Iterable[str] | None = None, prefix: str = ""
) -> list[str]:
    """Problems found in an AsyncAPI 2.x or 3.0 document (empty: looks valid).

    ``known_topics`` (e.g. ``registry_topic_names()``) also requires every channel's
    address to be a registry topic, after removing ``prefix``.
    """
    if not isinstance(doc, Mapping):
        return ["document: must be a JSON object"]
    errors: list[str] = []
    version = doc.get("asyncapi")
    match = _VERSION.match(version) if isinstance(version, str) else None
    if match is None:
        errors.append(f"asyncapi: expected a version like '3.0.0' or '2.6.0', got {version!r}")
    info = doc.get("info")
    if not isinstance(info, Mapping):
        errors.append("info: missing")
    else:
        for key in ("title", "version"):
            if not isinstance(info.get(key), str) or not info[key]:
                errors.append(f"info.{key}: missing")
    channels = doc.get("channels")
    if not isinstance(channels, Mapping) or not channels:
        errors.append("channels: missing or empty")
        channels = {}
    for where, ref in _walk_refs(doc, "#"):
        try:
            _resolve(doc, ref)
        except KeyError:
            errors.append(f"{where}: $ref {ref!r} does not resolve")
    major = match["major"] if match else "3"
    addresses: list[tuple[str, str]] = []
    if major == "3":
        _check_v3(doc, channels, errors, addresses)
    else:
        _check_v2(doc, channels, errors, addresses)
    if known_topics is not None:
        known = frozenset(known_topics)
        for where, address in addresses:
            try:
                bare = strip_prefix(address, prefix) if prefix else address
            except ValueError:
                errors.append(f"{where}: topic {address!r} lacks the prefix {prefix!r}")
                continue
            if bare not in known:
                errors.append(f"{where}: topic {address!r} is not in the topic registry")
    return errors


def _check_v3(
    doc: Mapping[str, Any],
    channels: Mapping[str, Any],
    errors: list[str],
    addresses: list[tuple[str, str]],
) -> None:
    for name, channel in channels.items():
        where = f"channels.{name}"
        if not isinstance(channel, Mapping):
            errors.append(f"{where}: must be an object")
            continue
        address = channel.get("address", name)
        if address is not None and not isinstance(address, str):
            errors.append(f"{where}.address: must be a string or null")
        elif isinstance(address, str):
            addresses.append((where, address))
        messages = channel.get("messages")
        if not isinstance(messages, Mapping) or not messages:
            errors.append(f"{where}.messages: missing or empty")
            continue
        for message_name, message in messages.items():
            _check_message(doc, message, f"{where}.messages.{message_name}", errors)
    operations = doc.get("operations", {})
    if not isinstance(operations, Mapping):
        errors.append("operations: must be an object")
        return
    for name, operation in operations.items():
        where = f"operations.{name}"
        if not isinstance(operation, Mapping):
            errors.append(f"{where}: must be an object")
            continue
        if operation.get("action") not in ("send", "receive"):
            errors.append(f"{where}.action: must be 'send' or 'receive'")
        channel_ref = operation.get("channel")
        ref = channel_ref.get("$ref") if isinstance(channel_ref, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#/channels/"):
            errors.append(f"{where}.channel: must be a $ref to a channel")
            continue
        for index, message in enumerate(operation.get("messages", [])):
            mref = message.get("$ref") if isinstance(message, Mapping) else None
            if not isinstance(mref, str) or not mref.startswith(ref + "/messages/"):
                errors.append(f"{where}.messages[{index}]: must reference a message of its channel")


def _check_v2(
    doc: Mapping[str, Any],
    channels: Mapping[str, Any],
    errors: list[str],
    addresses: list[tuple[str, str]],
) -> None:
    for name, channel in channels.items():
        where = f"channels.{name}"
        if not isinstance(channel, Mapping):
            errors.append(f"{where}: must be an object")
            continue
        # FastStream names 2.x channels "<topic>:<Handler>"; the Kafka binding has the topic.
        bindings = channel.get("bindings")
        kafka = bindings.get("kafka") if isinstance(bindings, Mapping) else None
        topic = kafka.get("topic") if isinstance(kafka, Mapping) else None
        addresses.append((where, topic if isinstance(topic, str) else name))
        operations = [k for k in ("publish", "subscribe") if k in channel]
        if not operations:
            errors.append(f"{where}: has neither a publish nor a subscribe operation")
        for key in operations:
            operation = channel[key]
            if not isinstance(operation, Mapping) or "message" not in operation:
                errors.append(f"{where}.{key}: has no message")
                continue
            _check_message(doc, operation["message"], f"{where}.{key}.message", errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shopwatch.schemas.asyncapi",
        description="Check AsyncAPI documents (JSON) exported by the services.",
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--prefix", default="", help="topic prefix used when exporting")
    parser.add_argument(
        "--any-topic", action="store_true", help="do not require channels to be registry topics"
    )
    args = parser.parse_args(argv)
    failed = 0
    known = None if args.any_topic else registry_topic_names()
    for path in args.files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"{path}: cannot read: {error}", file=sys.stderr)
            failed += 1
            continue
        problems = validate_asyncapi(doc, known_topics=known, prefix=args.prefix)
        if problems:
            failed += 1
            for line in problems:
                print(f"{path}: {line}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
