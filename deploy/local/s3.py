"""S3: versitygw v1.8.0 (Apache-2.0) with its POSIX backend on 127.0.0.1:9000."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from deploy.local import gobuild, process
from deploy.local.component import Component
from deploy.local.config import BIN, HOST, S3_ACCESS_LOG, S3_DATA, S3_PORT, load_secrets

VERSION = "v1.8.0"
MODULE = "github.com/versity/versitygw"
PACKAGE = f"{MODULE}/cmd/versitygw"


class VersityGW(Component):
    name = "s3"
    ports = (S3_PORT,)
    health_timeout = 30.0

    @property
    def marker(self) -> str:
        return str(BIN / "versitygw")

    def needs(self) -> None:
        if not gobuild.binary_ok(BIN / "versitygw", MODULE, VERSION):
            process.require_tool("go", gobuild.GO_HINT)

    def install(self) -> None:
        gobuild.go_install("versitygw", PACKAGE, MODULE, VERSION)

    def prepare(self) -> None:
        S3_DATA.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            str(BIN / "versitygw"),
            "--port",
            f"{HOST}:{S3_PORT}",
            "--quiet",
            "--access-log",
            str(S3_ACCESS_LOG),
            "posix",
            str(S3_DATA),
        ]

    def env(self) -> dict[str, str]:
        # The root credentials go through the environment, never the command line (ps).
        sec = load_secrets()
        env = dict(os.environ)
        env["ROOT_ACCESS_KEY"] = sec.s3_access_key
        env["ROOT_SECRET_KEY"] = sec.s3_secret_key
        return env

    def healthy(self) -> bool:
        # An unsigned request is refused with an S3 XML error: the server is serving.
        try:
            with urllib.request.urlopen(f"http://{HOST}:{S3_PORT}/", timeout=3):
                return True
        except urllib.error.HTTPError as error:
            return error.code in (400, 403) and b"<Error>" in error.read()
