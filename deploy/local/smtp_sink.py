"""An SMTP server (aiosmtpd) that keeps every message it accepts as an .eml file.

Run as `python -m deploy.local.smtp_sink --host 127.0.0.1 --port 1025 --store DIR`.
Each message is written to a hidden temporary file and renamed to `<time>-<id>.eml`, so a
reader that globs `*.eml` never sees half a message. The envelope sender and recipients
are added as `X-Sink-Mail-From` / `X-Sink-Rcpt-To` headers (Bcc recipients show there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class StoreHandler:
    def __init__(self, store: Path) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        headers = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        path = save(self.store, headers + content)
        print(f"stored {path.name} from {envelope.mail_from} to {envelope.rcpt_tos}", flush=True)
        return "250 Message accepted for delivery"


def save(store: Path, data: bytes) -> Path:
    """Atomically write `data` as a new .eml file in `store`."""
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{uuid.uuid4().hex[:8]}"
    tmp = store / f".{name}.tmp"
    final = store / f"{name}.eml"
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(final)
    return final


async def serve(host: str, port: int, store: Path) -> None:
    handler = StoreHandler(store)
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return SMTP(handler, hostname="shopwatch-smtp-sink", enable_SMTPUTF8=True)

    server = await loop.create_server(factory, host=host, port=port)
    print(f"smtp sink listening on {host}:{port}, storing in {store}", flush=True)
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    server.close()
    await server.wait_closed()
    print("smtp sink stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    args.store.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.store))


if __name__ == "__main__":
    main()
