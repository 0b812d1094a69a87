"""Create every topic of the registry on Kafka, idempotently.

    SHOPWATCH_KAFKA_BOOTSTRAP=127.0.0.1:9092 python -m shopwatch.runtime.provisioning

Reads the topic registry (``shopwatch.schemas.topics.all_topics``) and creates what
is missing, each with its partitions and retention; topics already there are left
as they are (never deleted, never re-partitioned: adding partitions would move keys
and break per-case ordering) and reported when their partition count differs from
the registry. A second run creates nothing. ``SHOPWATCH_TOPIC_PREFIX`` isolates a
test run's topics from everyone else's.

It connects to a listener whose principal may create topics (the local stack's
PLAINTEXT listener, or SASL as an admin with ``SHOPWATCH_KAFKA_SASL_USERNAME`` /
``SHOPWATCH_KAFKA_SASL_PASSWORD``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import for_code  # type: ignore[import-untyped]

from shopwatch.schemas.topics import TopicSpec, all_topics, with_prefix

TOPIC_ALREADY_EXISTS = 36
BATCH_SIZE = 50  # topics per CreateTopics request: bounded requests, visible progress
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
MAX_REPLICATION_FACTOR = 3

Progress = Callable[[int, int], None]


@dataclass
class ProvisionResult:
    """What a run did, by physical (prefixed) topic name."""

    created: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    # name -> (partitions in the registry or override, partitions on the cluster)
    partition_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    replication_factor: int = 1

    @property
    def total(self) -> int:
        return len(self.created) + len(self.already_present)

    def summary(self) -> str:
        lines = [
            f"{self.total} topics: {len(self.created)} created, "
            f"{len(self.already_present)} already present "
            f"(replication factor {self.replication_factor})"
        ]
        for name, (wanted, actual) in sorted(self.partition_mismatches.items()):
            lines.append(
                f"  note: {name} has {actual} partitions, the registry says {wanted} "
                "(left as is: changing partitions re-shuffles keys)"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "already_present": self.already_present,
            "partition_mismatches": {
                k: {"registry": w, "cluster": a} for k, (w, a) in self.partition_mismatches.items()
            },
            "replication_factor": self.replication_factor,
        }


class ProvisioningError(RuntimeError):
    pass


def planned_topics(
    prefix: str = "", partitions_override: int | None = None
) -> list[tuple[str, TopicSpec, int]]:
    """(physical name, registry entry, partitions) for every topic, in registry order."""
    if partitions_override is not None and partitions_override < 1:
        raise ValueError("partitions_override must be at least 1")
    return [
        (with_prefix(spec.name, prefix), spec, partitions_override or spec.partitions)
        for spec in all_topics()
    ]


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: Sequence[str], attempts: int = 20
) -> dict[str, int]:
    """Partitions per topic. Topics created a moment ago may not be in the broker's
    metadata yet (an error code, or no partitions), so those are asked again briefly."""
    counts: dict[str, int] = {}
    pending = list(names)
    for attempt in range(attempts):
        retry: list[str] = []
        for start in range(0, len(pending), BATCH_SIZE):
            for described in await admin.describe_topics(pending[start : start + BATCH_SIZE]):
                partitions = described.get("partitions") or []
                if described.get("error_code", 0) == 0 and partitions:
                    counts[described["topic"]] = len(partitions)
                else:
                    retry.append(described["topic"])
        pending = retry
        if not pending:
            break
        if attempt + 1 < attempts:
            await asyncio.sleep(0.25)
    return counts


async def ensure_topics(
    bootstrap: str,
    prefix: str = "",
    partitions_override: int | None = None,
    *,
    replication_factor: int | None = None,
    admin_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    timeout_ms: int = 30_000,
) -> ProvisionResult:
    """Create every registry topic that does not exist yet; report what was there.

    ``replication_factor`` defaults to the number of brokers, at most 3 (1 on the
    local single-broker stack). ``admin_options`` go to ``AIOKafkaAdminClient``
    (security protocol, SASL). ``progress(done, total)`` is called after each batch.
    """
    plan = planned_topics(prefix, partitions_override)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="shopwatch-provisioning",
        request_timeout_ms=timeout_ms,
        **dict(admin_options or {}),
    )
    await admin.start()
    try:
        if replication_factor is None:
            cluster = await admin.describe_cluster()
            replication_factor = max(1, min(MAX_REPLICATION_FACTOR, len(cluster["brokers"])))
        result = ProvisionResult(replication_factor=replication_factor)
        existing = set(await admin.list_topics())
        missing = [(name, spec, parts) for name, spec, parts in plan if name not in existing]
        present = [(name, parts) for name, _, parts in plan if name in existing]
        result.already_present.extend(name for name, _ in present)
        done = len(present)
        if progress is not None:
            progress(done, len(plan))
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start : start + BATCH_SIZE]
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=name,
                        num_partitions=parts,
                        replication_factor=replication_factor,
                        topic_configs=spec.config(),
                    )
                    for name, spec, parts in batch
                ],
                timeout_ms=timeout_ms,
            )
            failures = []
            for error in response.topic_errors:
                name, code = error[0], error[1]
                if code == 0:
                    result.created.append(name)
                elif code == TOPIC_ALREADY_EXISTS:
                    # Someone else created it between our listing and our request.
                    result.already_present.append(name)
                    present.append((name, dict((n, p) for n, _, p in batch)[name]))
                else:
                    message = error[2] if len(error) > 2 and error[2] else for_code(code).__name__
                    failures.append(f"{name}: {message}")
            if failures:
                raise ProvisioningError("could not create topics:\n  " + "\n  ".join(failures))
            done += len(batch)
            if progress is not None:
                progress(done, len(plan))
        if present:
            counts = await _partition_counts(admin, [name for name, _ in present])
            for name, wanted in present:
                actual = counts.get(name)
                if actual is not None and actual != wanted:
                    result.partition_mismatches[name] = (wanted, actual)
        return result
    finally:
        await admin.close()


def _admin_options_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    username = env.get("SHOPWATCH_KAFKA_SASL_USERNAME")
    if not username:
        return {}
    return {
        "security_protocol": env.get("SHOPWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        "sasl_mechanism": env.get("SHOPWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        "sasl_plain_username": username,
        "sasl_plain_password": env.get("SHOPWATCH_KAFKA_SASL_PASSWORD", ""),
    }


def _print_progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(f"\rtopics [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m shopwatch.runtime.provisioning",
        description="Create every Shopwatch topic on Kafka (idempotent).",
    )
    parser.add_argument(
        "--bootstrap",
        default=env.get("SHOPWATCH_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP),
        help="default: $SHOPWATCH_KAFKA_BOOTSTRAP or %(default)s",
    )
    parser.add_argument(
        "--prefix",
        default=env.get("SHOPWATCH_TOPIC_PREFIX", ""),
        help="default: $SHOPWATCH_TOPIC_PREFIX",
    )
    parser.add_argument("--partitions", type=int, default=None, help="override every topic's")
    parser.add_argument("--replication-factor", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(
            ensure_topics(
                args.bootstrap,
                args.prefix,
                args.partitions,
                replication_factor=args.replication_factor,
                admin_options=_admin_options_from_env(env),
                progress=None if args.json else _print_progress,
            )
        )
    except (ProvisioningError, ValueError, OSError) as error:
        print(f"provisioning failed: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # aiokafka's connection errors have no common base
        print(f"provisioning failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(f"{args.bootstrap}{' prefix ' + args.prefix if args.prefix else ''}")
        print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
