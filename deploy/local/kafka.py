"""Apache Kafka 4.4.0 from Maven Central, KRaft combined mode, SASL/SCRAM and ACLs.

Listeners, all on 127.0.0.1:
  9092 PLAINTEXT       the services (trusted loopback: User:ANONYMOUS is a super user)
  9093 CONTROLLER      KRaft controller
  9094 SASL_PLAINTEXT  SCRAM-SHA-512 for police forces, confined by ACLs
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import struct
import subprocess

from deploy.local import process
from deploy.local.component import Component
from deploy.local.config import (
    DEPLOY_DIR,
    HOST,
    KAFKA_ADMIN_USER,
    KAFKA_CONTROLLER_PORT,
    KAFKA_HOME,
    KAFKA_LIBS,
    KAFKA_PORT,
    KAFKA_SASL_PORT,
    LOGS,
    load_secrets,
)

VERSION = "4.4.0"
POM = DEPLOY_DIR / "kafka" / "pom.xml"
DATA = KAFKA_HOME / "data"
SERVER_PROPERTIES = KAFKA_HOME / "server.properties"
LOG4J = KAFKA_HOME / "log4j2.properties"
CLUSTER_ID = KAFKA_HOME / "cluster.id"
ADMIN_CLIENT_PROPERTIES = KAFKA_HOME / "admin-client.properties"
LIBS_STAMP = KAFKA_LIBS / ".pom.sha256"
# 512 MiB ran out (OutOfMemoryError, the broker fenced) at ~9,700 partitions, which a
# day of benchmark and test runs with their own topic prefixes reaches; 1 GiB of 24.
HEAP = "-Xmx1g"

JAVA_HINT = "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`)"
MVN_HINT = "install Maven 3.6+ (e.g. `apt-get install maven`) to fetch the Kafka jars"

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def new_cluster_id() -> str:
    """A Kafka Uuid in its base64url form (22 chars), not starting with '-' (CLI-safe)."""
    while True:
        value = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not value.startswith("-"):
            return value


SCRAM_JAAS = (
    "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
)


def server_properties() -> str:
    return f"""\
# Written by deploy/local/kafka.py: single-node KRaft (combined broker + controller).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{HOST}:{KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{HOST}:{KAFKA_CONTROLLER_PORT},SASL_PLAINTEXT://{HOST}:{KAFKA_SASL_PORT}
advertised.listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},SASL_PLAINTEXT://{HOST}:{KAFKA_SASL_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
{SCRAM_JAAS}

# Authorisation: forces are confined by ACLs; loopback PLAINTEXT (ANONYMOUS) is trusted.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{KAFKA_ADMIN_USER};User:ANONYMOUS

# Topics come from the topic registry, never from a typo.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

log.dirs={DATA}
log.retention.hours=168
log.segment.bytes=104857600
num.network.threads=2
num.io.threads=4
"""


class Kafka(Component):
    name = "kafka"
    ports = (KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT)
    health_timeout = 120.0

    @property
    def marker(self) -> str:
        return "kafka.Kafka"

    def _java(self) -> str:
        return process.require_tool("java", JAVA_HINT)

    def _classpath(self) -> str:
        return f"{KAFKA_LIBS}/*"

    def _libs_ok(self) -> bool:
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        return (
            LIBS_STAMP.exists()
            and LIBS_STAMP.read_text().strip() == digest
            and (KAFKA_LIBS / f"kafka_2.13-{VERSION}.jar").exists()
        )

    def needs(self) -> None:
        self._java()
        if not self._libs_ok():
            process.require_tool("mvn", MVN_HINT)

    def install(self) -> None:
        self._java()
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        if (
            LIBS_STAMP.exists()
            and LIBS_STAMP.read_text().strip() == digest
            and (KAFKA_LIBS / f"kafka_2.13-{VERSION}.jar").exists()
        ):
            return
        mvn = process.require_tool("mvn", MVN_HINT)
        if KAFKA_LIBS.exists():
            shutil.rmtree(KAFKA_LIBS)
        KAFKA_HOME.mkdir(parents=True, exist_ok=True)
        process.run_with_progress(
            f"kafka: fetching Kafka {VERSION} jars from Maven Central",
            [
                mvn,
                "--batch-mode",
                "-Dstyle.color=never",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={KAFKA_LIBS}",
            ],
            log=LOGS / "install-kafka.log",
            every=5.0,
        )
        jars = len(list(KAFKA_LIBS.glob("*.jar")))
        process.say(f"kafka: {jars} jars in {KAFKA_LIBS}")
        LIBS_STAMP.write_text(digest + "\n")

    def prepare(self) -> None:
        KAFKA_HOME.mkdir(parents=True, exist_ok=True)
        SERVER_PROPERTIES.write_text(server_properties())
        LOG4J.write_text(LOG4J2)
        sec = load_secrets()
        self._write_admin_client_properties(sec.kafka_admin_password)
        if not CLUSTER_ID.exists():
            CLUSTER_ID.write_text(new_cluster_id() + "\n")
        if (DATA / "meta.properties").exists():
            return
        process.say("kafka: formatting storage (KRaft, SCRAM super-user admin)")
        cluster_id = CLUSTER_ID.read_text().strip()
        scram = f"SCRAM-SHA-512=[name={KAFKA_ADMIN_USER},password={sec.kafka_admin_password}]"
        result = subprocess.run(
            [
                self._java(),
                HEAP,
                f"-Dlog4j2.configurationFile={LOG4J}",
                "-cp",
                self._classpath(),
                "kafka.tools.StorageTool",
                "format",
                "--config",
                str(SERVER_PROPERTIES),
                "--cluster-id",
                cluster_id,
                "--add-scram",
                scram,
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        with (LOGS / "kafka-format.log").open("a") as log:
            log.write(result.stdout.replace(sec.kafka_admin_password, "***"))
            log.write(result.stderr.replace(sec.kafka_admin_password, "***"))
        if result.returncode != 0:
            raise process.StackError(
                f"kafka: formatting storage failed; see {LOGS / 'kafka-format.log'}"
            )

    def _write_admin_client_properties(self, password: str) -> None:
        text = (
            f"bootstrap.servers={HOST}:{KAFKA_SASL_PORT}\n"
            "security.protocol=SASL_PLAINTEXT\n"
            "sasl.mechanism=SCRAM-SHA-512\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{KAFKA_ADMIN_USER}" password="{password}";\n'
        )
        fd = os.open(ADMIN_CLIENT_PROPERTIES, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)

    def argv(self) -> list[str]:
        return [
            self._java(),
            HEAP,
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={LOGS}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(SERVER_PROPERTIES),
        ]

    def healthy(self) -> bool:
        return metadata_ok(HOST, KAFKA_PORT) and process.port_open(HOST, KAFKA_SASL_PORT)


def metadata_ok(host: str, port: int, timeout: float = 3.0) -> bool:
    """Send a Kafka Metadata (v4) request; healthy when a broker and a controller answer."""
    client_id = b"shopwatch-local"
    body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
    body += struct.pack(">ib", 0, 0)  # no topics, allow_auto_topic_creation=false
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv(sock, 4))[0]
        data = _recv(sock, size)
    offset = 8  # correlation id, throttle time
    (brokers,) = struct.unpack_from(">i", data, offset)
    offset += 4
    for _ in range(brokers):
        offset += 4  # node id
        (length,) = struct.unpack_from(">h", data, offset)
        offset += 2 + length + 4  # host, port
        (length,) = struct.unpack_from(">h", data, offset)
        offset += 2 + max(length, 0)  # rack
    (length,) = struct.unpack_from(">h", data, offset)
    offset += 2 + max(length, 0)  # cluster id
    (controller,) = struct.unpack_from(">i", data, offset)
    return bool(brokers >= 1 and controller >= 0)


def _recv(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)
