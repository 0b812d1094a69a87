"""FastStream Kafka broker factory and a publish helper for Envelopes."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity
from prometheus_client import REGISTRY, CollectorRegistry

from shopwatch.runtime.codec import encode_envelope, event_headers
from shopwatch.runtime.metrics import PREFIX
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.schemas.envelope import Envelope


def kafka_broker(
    settings: RuntimeSettings,
    *,
    security: BaseSecurity | None = None,
    registry: CollectorRegistry = REGISTRY,
    **options: Any,
) -> KafkaBroker:
    """A broker for the service's consumers and its direct (non-outbox) publishes.

    - Topics are provisioned elsewhere (deploy/kafka and the contract's provisioning),
      and the cluster has auto-create off; FastStream must not create them either, or a
      typo in a topic name would silently make a new, unconsumed topic.
    - `acks="all"` and idempotence: what this broker publishes (dead letters above all)
      must not be lost on a leader change nor written twice by a producer retry.
    - Prometheus middleware with the `shopwatch_` prefix, in the same registry as the
      runtime's own metrics, so `/metrics` shows both.
    """
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=settings.service_name,
        allow_auto_create_topics=False,
        acks="all",
        enable_idempotence=True,
        security=security,
        middlewares=(
            KafkaPrometheusMiddleware(
                registry=registry,
                app_name=settings.service_name,
                metrics_prefix=PREFIX,
            ),
        ),
        logger=logging.getLogger("faststream"),
        # FastStream logs "Received"/"Processed" per message at this level: DEBUG keeps
        # them out of the production logs (the metrics count them) and lets us see them
        # with SHOPWATCH_LOG_LEVEL=DEBUG.
        log_level=logging.DEBUG,
        **options,
    )


async def publish_envelope(
    broker: KafkaBroker,
    envelope: Envelope[Any],
    topic: str,
    *,
    key: str | None,
    headers: dict[str, str] | None = None,
) -> None:
    """Publish one event now, awaiting the broker's acknowledgement.

    For events that announce a state change, write them through the outbox instead:
    a direct publish after a database write is lost if the process dies in between.
    """
    await broker.publish(
        encode_envelope(envelope),
        topic,
        key=key.encode() if key is not None else None,
        headers={**event_headers(envelope), **(headers or {})},
        correlation_id=envelope.correlation_id,
    )
