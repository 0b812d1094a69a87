"""Where the local stack lives, which ports it uses, its secrets and its `stack.env` file."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = Path(__file__).resolve().parent
CACHE = REPO_ROOT / ".cache" / "local"
BIN = CACHE / "bin"
LOGS = CACHE / "logs"
RUN = CACHE / "run"
MAIL = CACHE / "mail"
# Storage's own record of every request it answered, refusals included (an expired or
# forged presigned URL never reaches our services, so this is where it is logged).
S3_ACCESS_LOG = LOGS / "s3-access.log"
KAFKA_HOME = CACHE / "kafka"
KAFKA_LIBS = KAFKA_HOME / "libs"
FERRETDB_DATA = CACHE / "ferretdb-data"
S3_DATA = CACHE / "s3-data"
STACK_ENV = CACHE / "stack.env"
SECRETS_FILE = CACHE / "secrets.json"

HOST = "127.0.0.1"
KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
KAFKA_SASL_PORT = 9094
MONGO_PORT = 27017
FERRETDB_DEBUG_PORT = 8088
S3_PORT = 9000
SMTP_PORT = 1025

KAFKA_ADMIN_USER = "admin"
# Keys of stack.env whose values are secret: `status` never prints them, `env` masks them.
SECRET_KEYS = frozenset({"SHOPWATCH_KAFKA_ADMIN_PASSWORD", "SHOPWATCH_S3_SECRET_KEY"})


@dataclass(frozen=True)
class Secrets:
    kafka_admin_password: str
    s3_access_key: str
    s3_secret_key: str


def ensure_dirs() -> None:
    for path in (CACHE, BIN, LOGS, RUN, MAIL):
        path.mkdir(parents=True, exist_ok=True)


def load_secrets() -> Secrets:
    """Secrets are generated once, on first use, and kept (mode 0600) in the cache."""
    ensure_dirs()
    if SECRETS_FILE.exists():
        data = json.loads(SECRETS_FILE.read_text())
        return Secrets(**data)
    created = Secrets(
        kafka_admin_password=secrets.token_urlsafe(24),
        s3_access_key="shopwatch" + secrets.token_hex(6),
        s3_secret_key=secrets.token_urlsafe(30),
    )
    tmp = SECRETS_FILE.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(created.__dict__, handle, indent=2)
    tmp.replace(SECRETS_FILE)
    return created


def stack_env(sec: Secrets | None = None) -> dict[str, str]:
    """The endpoints of the running stack, as the services and tests read them."""
    sec = sec or load_secrets()
    return {
        "SHOPWATCH_KAFKA_BOOTSTRAP": f"{HOST}:{KAFKA_PORT}",
        "SHOPWATCH_KAFKA_SASL_BOOTSTRAP": f"{HOST}:{KAFKA_SASL_PORT}",
        "SHOPWATCH_KAFKA_ADMIN_USER": KAFKA_ADMIN_USER,
        "SHOPWATCH_KAFKA_ADMIN_PASSWORD": sec.kafka_admin_password,
        "SHOPWATCH_MONGO_URL": f"mongodb://{HOST}:{MONGO_PORT}",
        "SHOPWATCH_S3_ENDPOINT": f"{HOST}:{S3_PORT}",
        "SHOPWATCH_S3_ACCESS_KEY": sec.s3_access_key,
        "SHOPWATCH_S3_SECRET_KEY": sec.s3_secret_key,
        "SHOPWATCH_S3_SECURE": "false",
        "SHOPWATCH_SMTP_HOST": HOST,
        "SHOPWATCH_SMTP_PORT": str(SMTP_PORT),
        "SHOPWATCH_SMTP_STORE": str(MAIL),
        "SHOPWATCH_KAFKA_LIBS": str(KAFKA_LIBS),
    }


def write_stack_env() -> Path:
    """Write `stack.env` (KEY=value lines, mode 0600) atomically; the Makefile sources it."""
    env = stack_env()
    lines = ["# Written by `python -m deploy.local`: endpoints of the local stack."]
    lines += [f"{key}={value}" for key, value in env.items()]
    tmp = STACK_ENV.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    tmp.replace(STACK_ENV)
    return STACK_ENV


def read_env_file(path: Path) -> dict[str, str]:
    result: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        result[key.strip()] = value.strip()
    return result
