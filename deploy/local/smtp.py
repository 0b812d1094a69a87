"""SMTP: our aiosmtpd sink (deploy/local/smtp_sink.py) on 127.0.0.1:1025."""

from __future__ import annotations

import os
import smtplib
import sys
from pathlib import Path

from deploy.local.component import Component
from deploy.local.config import HOST, MAIL, REPO_ROOT, SMTP_PORT


class SmtpSink(Component):
    name = "smtp"
    ports = (SMTP_PORT,)
    health_timeout = 20.0

    @property
    def marker(self) -> str:
        return "deploy.local.smtp_sink"

    def prepare(self) -> None:
        MAIL.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "deploy.local.smtp_sink",
            "--host",
            HOST,
            "--port",
            str(SMTP_PORT),
            "--store",
            str(MAIL),
        ]

    def cwd(self) -> Path:
        return REPO_ROOT

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + (
            ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def healthy(self) -> bool:
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=3) as client:
            code, _ = client.noop()
            return code == 250
