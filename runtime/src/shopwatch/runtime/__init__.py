"""shopwatch.runtime: the plumbing every service shares.

Modules, each with one purpose:

- ``settings``: ``RuntimeSettings`` (``SHOPWATCH_*`` environment, secrets as SecretStr,
  ``topic(name)`` applies the prefix); services subclass it;
- ``logging``: ``configure_logging`` (JSON lines on stdout, secrets redacted) and
  ``log_context(report_id=..., case_id=...)``;
- ``db``, ``s3``, ``broker``, ``kafka_clients``: client factories (PyMongo async, minio,
  FastStream's KafkaBroker with Prometheus metrics, the idempotent aiokafka producer);
- ``codec``: Envelope <-> Kafka record (JSON value, event headers, registry parsers);
- ``outbox``: the update fragments that write events together with a state change;
- ``relay``: ``OutboxRelay``, which publishes them (``notify`` after a write);
- ``consumer``, ``processed``, ``retry``, ``dlq``, ``subscription``: the idempotent
  consumer (parse, dedupe, retry transient errors, dead-letter, halt on a DLQ burst)
  and its FastStream adapter;
- ``health``, ``ops_app``: readiness checks, ``/health/live``, ``/health/ready``,
  ``/metrics``; ``metrics``: the runtime's Prometheus metrics;
- ``service_main``: ``Service`` (wiring and ordered start/stop) and ``run_service``;
- ``kafka_security``, ``provisioning``: SCRAM users and ACLs, topic creation.
"""
