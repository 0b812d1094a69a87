"""SCRAM users and ACLs for police forces, over the Kafka admin protocol in pure Python.

aiokafka's admin client has no call for AlterUserScramCredentials (API 51) or CreateAcls /
DeleteAcls (APIs 30/31) in the versions Kafka 4 still accepts (flexible v2+), but its protocol
layer encodes any request. So this module declares those three requests and sends them with
aiokafka's `AIOKafkaClient`, connected to a listener whose principal may alter ACLs and
credentials (the trusted PLAINTEXT listener, or SASL as a super user).

A force `<slug>` gets (all patterns PREFIXED, permission ALLOW):
  topic `force.<slug>.cases.`    READ, DESCRIBE   (the cases routed to it)
  topic `force.<slug>.updates.`  WRITE, DESCRIBE  (its status updates back to us)
  group `force.<slug>.`          READ             (its consumer groups)
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.client import AIOKafkaClient  # type: ignore[import-untyped]
from aiokafka.protocol.api import (  # type: ignore[import-untyped]
    Request,
    RequestStruct,
    Response,
)
from aiokafka.protocol.types import (  # type: ignore[import-untyped]
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

ScramMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]
_MECHANISMS: dict[str, tuple[int, str]] = {
    "SCRAM-SHA-256": (1, "sha256"),
    "SCRAM-SHA-512": (2, "sha512"),
}
MIN_ITERATIONS = 4096


class ResourceType(enum.IntEnum):
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(enum.IntEnum):
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(enum.IntEnum):
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


class AclPermission(enum.IntEnum):
    ANY = 1
    DENY = 2
    ALLOW = 3


class KafkaSecurityError(RuntimeError):
    """The broker refused a credential or ACL change."""


@dataclass(frozen=True)
class AclBinding:
    principal: str
    resource_type: ResourceType
    resource_name: str
    operation: AclOperation
    pattern_type: PatternType = PatternType.PREFIXED
    permission: AclPermission = AclPermission.ALLOW
    host: str = "*"


# --- protocol messages (from Kafka's clients/src/main/resources/common/message/*.json) ----


class _AlterUserScramCredentialsResponseV0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user_name", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentialsRequestV0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterUserScramCredentialsResponseV0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentials(Request[_AlterUserScramCredentialsRequestV0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, deletions: list[tuple[Any, ...]], upsertions: list[tuple[Any, ...]]):
        self._deletions = deletions
        self._upsertions = upsertions

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self._deletions, self._upsertions, {})


class _CreateAclsResponseV2(Response):  # type: ignore[misc]
    API_KEY = 30
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _CreateAclsRequestV2(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 2
    RESPONSE_TYPE = _CreateAclsResponseV2
    SCHEMA = Schema(
        (
            "creations",
            CompactArray(
                ("resource_type", Int8),
                ("resource_name", CompactString("utf-8")),
                ("resource_pattern_type", Int8),
                ("principal", CompactString("utf-8")),
                ("host", CompactString("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _CreateAcls(Request[_CreateAclsRequestV2]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, creations: list[tuple[Any, ...]]):
        self._creations = creations

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self._creations, {})


_MATCHING_ACL = CompactArray(
    ("error_code", Int16),
    ("error_message", CompactString("utf-8")),
    ("resource_type", Int8),
    ("resource_name", CompactString("utf-8")),
    ("pattern_type", Int8),
    ("principal", CompactString("utf-8")),
    ("host", CompactString("utf-8")),
    ("operation", Int8),
    ("permission_type", Int8),
    ("tags", TaggedFields),
)


class _DeleteAclsResponseV2(Response):  # type: ignore[misc]
    API_KEY = 31
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "filter_results",
            CompactArray(
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("matching_acls", _MATCHING_ACL),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DeleteAclsRequestV2(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 31
    API_VERSION = 2
    RESPONSE_TYPE = _DeleteAclsResponseV2
    SCHEMA = Schema(
        (
            "filters",
            CompactArray(
                ("resource_type_filter", Int8),
                ("resource_name_filter", CompactString("utf-8")),
                ("pattern_type_filter", Int8),
                ("principal_filter", CompactString("utf-8")),
                ("host_filter", CompactString("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DeleteAcls(Request[_DeleteAclsRequestV2]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, filters: list[tuple[Any, ...]]):
        self._filters = filters

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self._filters, {})


class _DescribeUserScramCredentialsResponseV0(Response):  # type: ignore[misc]
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                (
                    "credential_infos",
                    CompactArray(
                        ("mechanism", Int8),
                        ("iterations", Int32),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DescribeUserScramCredentialsRequestV0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = _DescribeUserScramCredentialsResponseV0
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _DescribeUserScramCredentials(Request[_DescribeUserScramCredentialsRequestV0]):  # type: ignore[misc]
    API_KEY = 50

    def __init__(self, users: list[str]):
        self._users = users

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class([(user, {}) for user in self._users], {})


class _DescribeAclsResponseV2(Response):  # type: ignore[misc]
    API_KEY = 29
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "resources",
            CompactArray(
                ("resource_type", Int8),
                ("resource_name", CompactString("utf-8")),
                ("pattern_type", Int8),
                (
                    "acls",
                    CompactArray(
                        ("principal", CompactString("utf-8")),
                        ("host", CompactString("utf-8")),
                        ("operation", Int8),
                        ("permission_type", Int8),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DescribeAclsRequestV2(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 29
    API_VERSION = 2
    RESPONSE_TYPE = _DescribeAclsResponseV2
    SCHEMA = Schema(
        ("resource_type_filter", Int8),
        ("resource_name_filter", CompactString("utf-8")),
        ("pattern_type_filter", Int8),
        ("principal_filter", CompactString("utf-8")),
        ("host_filter", CompactString("utf-8")),
        ("operation", Int8),
        ("permission_type", Int8),
        ("tags", TaggedFields),
    )


class _DescribeAcls(Request[_DescribeAclsRequestV2]):  # type: ignore[misc]
    API_KEY = 29

    def __init__(self, principal: str):
        self._principal = principal

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(
            int(ResourceType.ANY),
            None,
            int(PatternType.ANY),
            self._principal,
            None,
            int(AclOperation.ANY),
            int(AclPermission.ANY),
            {},
        )


# --- connection ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminConnection:
    """Where and how to reach the cluster with rights to change credentials and ACLs.

    The default is the trusted PLAINTEXT listener. For SASL pass
    `security_protocol="SASL_PLAINTEXT"`, `sasl_mechanism="SCRAM-SHA-512"` and a super user.
    """

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    request_timeout_ms: int = 30_000


def _client(conn: AdminConnection) -> Any:
    options: dict[str, Any] = {
        "bootstrap_servers": conn.bootstrap_servers,
        "client_id": "shopwatch-kafka-security",
        "request_timeout_ms": conn.request_timeout_ms,
        "security_protocol": conn.security_protocol,
    }
    if conn.sasl_mechanism is not None:
        options["sasl_mechanism"] = conn.sasl_mechanism
        options["sasl_plain_username"] = conn.sasl_plain_username
        options["sasl_plain_password"] = conn.sasl_plain_password
    return AIOKafkaClient(**options)


async def _send(conn: AdminConnection, request: Any) -> Any:
    client = _client(conn)
    try:
        await client.bootstrap()
        node_id = client.get_random_node()
        if node_id is None:
            raise KafkaSecurityError(f"no broker reachable at {conn.bootstrap_servers}")
        return await client.send(node_id, request)
    finally:
        await client.close()


async def _until_every_broker(
    conn: AdminConnection,
    make_request: Callable[[], Any],
    done: Callable[[Any], bool],
    what: str,
    limit_s: float,
) -> None:
    """Poll every broker until `done(response)`: a change is committed by the controller
    first and reaches each broker's metadata cache (credentials, authorizer) a moment later;
    a client that connects in between would be refused."""
    client = _client(conn)
    try:
        await client.bootstrap()
        deadline = asyncio.get_running_loop().time() + limit_s
        pending = {broker.nodeId for broker in client.cluster.brokers()}
        while pending:
            for node_id in sorted(pending):
                if done(await client.send(node_id, make_request())):
                    pending.discard(node_id)
            if not pending:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaSecurityError(f"{what} not visible on brokers {sorted(pending)}")
            await asyncio.sleep(0.1)
    finally:
        await client.close()


def _check(errors: Iterable[tuple[int, str | None]], what: str) -> None:
    failures = [f"error {code}: {message or 'no message'}" for code, message in errors if code]
    if failures:
        raise KafkaSecurityError(f"{what} refused: " + "; ".join(failures))


# --- SCRAM users -----------------------------------------------------------------------------


def salted_password(
    password: str, salt: bytes, iterations: int, mechanism: ScramMechanism
) -> bytes:
    """RFC 5802 Hi(): PBKDF2-HMAC with the mechanism's hash, as the broker expects."""
    _, digest = _MECHANISMS[mechanism]
    return hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt, iterations)


async def upsert_scram_user(
    conn: AdminConnection,
    user: str,
    password: str,
    *,
    mechanism: ScramMechanism = "SCRAM-SHA-512",
    iterations: int = 8192,
    wait_timeout: float = 10.0,
) -> None:
    """Create the SCRAM user, or change its password (the salt is new every time).

    Returns once every broker knows a credential of `mechanism` for the user, so a login
    right after succeeds. (A password *change* of an existing user is not observable that
    way; allow the brokers a moment before relying on the new password.)
    """
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"Kafka requires at least {MIN_ITERATIONS} iterations")
    code, _ = _MECHANISMS[mechanism]
    salt = secrets.token_bytes(32)
    upsertion: tuple[Any, ...] = (
        user,
        code,
        iterations,
        salt,
        salted_password(password, salt, iterations, mechanism),
        {},
    )
    response = await _send(conn, _AlterUserScramCredentials([], [upsertion]))
    _check(((r[1], r[2]) for r in response.results), f"SCRAM upsert for {user!r}")

    def known(described: Any) -> bool:
        return any(
            result[0] == user
            and result[1] == 0
            and any(info[0] == code and info[1] == iterations for info in result[3] or [])
            for result in described.results or []
        )

    await _until_every_broker(
        conn,
        lambda: _DescribeUserScramCredentials([user]),
        known,
        f"SCRAM credential of {user!r}",
        wait_timeout,
    )


async def delete_scram_user(
    conn: AdminConnection,
    user: str,
    *,
    mechanisms: Sequence[ScramMechanism] = ("SCRAM-SHA-512",),
    missing_ok: bool = True,
) -> None:
    """Delete the user's SCRAM credentials (error 91, no such credential, is ignored)."""
    deletions: list[tuple[Any, ...]] = [(user, _MECHANISMS[m][0], {}) for m in mechanisms]
    response = await _send(conn, _AlterUserScramCredentials(deletions, []))
    resource_not_found = 91
    _check(
        ((r[1], r[2]) for r in response.results if not (missing_ok and r[1] == resource_not_found)),
        f"SCRAM delete for {user!r}",
    )


# --- ACLs ------------------------------------------------------------------------------------


def principal_of(user: str) -> str:
    return user if user.startswith("User:") else f"User:{user}"


def _acl_key(b: AclBinding) -> tuple[Any, ...]:
    return (
        int(b.resource_type),
        b.resource_name,
        int(b.pattern_type),
        b.host,
        int(b.operation),
        int(b.permission),
    )


async def create_acls(
    conn: AdminConnection, bindings: Sequence[AclBinding], *, wait_timeout: float = 10.0
) -> None:
    """Create ACL bindings (creating an existing binding is a no-op for Kafka).

    Returns once every broker's authorizer has all of them.
    """
    creations: list[tuple[Any, ...]] = [
        (
            int(b.resource_type),
            b.resource_name,
            int(b.pattern_type),
            principal_of(b.principal),
            b.host,
            int(b.operation),
            int(b.permission),
            {},
        )
        for b in bindings
    ]
    response = await _send(conn, _CreateAcls(creations))
    _check(((r[0], r[1]) for r in response.results), "CreateAcls")
    for principal in {principal_of(b.principal) for b in bindings}:
        wanted = {_acl_key(b) for b in bindings if principal_of(b.principal) == principal}

        def has_all(described: Any, wanted: set[tuple[Any, ...]] = wanted) -> bool:
            seen = {
                (resource[0], resource[1], resource[2], acl[1], acl[2], acl[3])
                for resource in described.resources or []
                for acl in resource[3] or []
            }
            return described.error_code == 0 and wanted <= seen

        await _until_every_broker(
            conn,
            functools.partial(_DescribeAcls, principal),
            has_all,
            f"ACLs of {principal}",
            wait_timeout,
        )


async def create_prefixed_acls(
    conn: AdminConnection,
    user: str,
    resource_type: ResourceType,
    prefix: str,
    operations: Sequence[AclOperation],
) -> None:
    """ALLOW `operations` for `user` on every resource whose name starts with `prefix`."""
    await create_acls(
        conn,
        [AclBinding(user, resource_type, prefix, operation) for operation in operations],
    )


def force_acl_bindings(slug: str, user: str, *, topic_prefix: str = "") -> list[AclBinding]:
    """The bindings of force `slug`; `topic_prefix` (tests: `t1a2b.`) goes before every name."""
    base = f"{topic_prefix}force.{slug}."
    cases, updates, groups = f"{base}cases.", f"{base}updates.", base
    return [
        AclBinding(user, ResourceType.TOPIC, cases, AclOperation.READ),
        AclBinding(user, ResourceType.TOPIC, cases, AclOperation.DESCRIBE),
        AclBinding(user, ResourceType.TOPIC, updates, AclOperation.WRITE),
        AclBinding(user, ResourceType.TOPIC, updates, AclOperation.DESCRIBE),
        AclBinding(user, ResourceType.GROUP, groups, AclOperation.READ),
    ]


async def grant_force_access(
    conn: AdminConnection, slug: str, user: str, *, topic_prefix: str = ""
) -> None:
    """Confine `user` (a force's SCRAM principal) to the topics and groups of force `slug`."""
    await create_acls(conn, force_acl_bindings(slug, user, topic_prefix=topic_prefix))


async def delete_acls_for(conn: AdminConnection, user: str) -> int:
    """Delete every ACL whose principal is `user`; returns how many were removed."""
    acl_filter: tuple[Any, ...] = (
        int(ResourceType.ANY),
        None,
        int(PatternType.ANY),
        principal_of(user),
        None,
        int(AclOperation.ANY),
        int(AclPermission.ANY),
        {},
    )
    response = await _send(conn, _DeleteAcls([acl_filter]))
    _check(((r[0], r[1]) for r in response.filter_results), "DeleteAcls")
    return sum(len(r[2] or []) for r in response.filter_results)


async def revoke_force_access(conn: AdminConnection, user: str) -> None:
    """Remove a force principal entirely: its ACLs and its SCRAM credential."""
    await delete_acls_for(conn, user)
    await delete_scram_user(conn, user)
