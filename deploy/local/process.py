"""Processes of the local stack: pid files, port checks, start detached, wait, stop."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deploy.local.config import LOGS, RUN


class StackError(Exception):
    """A problem the user must fix; the CLI prints it as one line, without a traceback."""


def say(message: str) -> None:
    print(message, flush=True)


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` was not found on PATH: {hint}")
    return path


# --- pid files -----------------------------------------------------------------------


def pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def log_file(name: str) -> Path:
    return LOGS / f"{name}.log"


def read_pid(name: str) -> int | None:
    try:
        return int(pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def running_pid(name: str, marker: str) -> int | None:
    """The pid from `name`'s pid file if that process is alive and still ours.

    `marker` must occur in its command line, so a pid reused by another program after a
    reboot is never mistaken for ours (nor ever signalled).
    """
    pid = read_pid(name)
    if pid is None or not is_alive(pid):
        return None
    if marker not in cmdline(pid):
        return None
    return pid


# --- ports ---------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ensure_ports_free(name: str, host: str, ports: Sequence[int]) -> None:
    for port in ports:
        if not port_free(host, port):
            raise StackError(
                f"{name}: port {host}:{port} is already in use by another program "
                f"(see `ss -ltnp 'sport = :{port}'`); stop it, then run `make stack-up` again"
            )


# --- start, wait, stop ---------------------------------------------------------------


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` detached (own session), output appended to logs/<name>.log; keep its pid."""
    log = log_file(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    pid_file(name).write_text(f"{proc.pid}\n")
    return proc.pid


def log_tail(name: str, lines: int = 15) -> str:
    try:
        text = log_file(name).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


def wait_until(
    name: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    pid: int | None = None,
    interval: float = 0.5,
) -> None:
    """Poll `check` until it is true, printing progress dots; fail if `pid` dies or on timeout."""
    start = time.monotonic()
    sys.stdout.write(f"{name}: waiting until healthy ")
    sys.stdout.flush()
    dots = 0
    while True:
        try:
            ok = check()
        except Exception:
            ok = False
        if ok:
            print(f" ok ({time.monotonic() - start:.1f}s)", flush=True)
            return
        if pid is not None and not is_alive(pid):
            print(" exited", flush=True)
            raise StackError(
                f"{name} exited while starting; see {log_file(name)}:\n{log_tail(name)}"
            )
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            print(" timed out", flush=True)
            raise StackError(f"{name} was not healthy after {timeout:.0f}s; see {log_file(name)}")
        dots += 1
        sys.stdout.write("." if dots % 20 else f". {elapsed:.0f}s ")
        sys.stdout.flush()
        time.sleep(interval)


def stop(name: str, marker: str, *, grace: float = 15.0) -> bool:
    """Stop the process (and its process group) recorded in `name`'s pid file.

    TERM first, KILL after `grace` seconds. Returns True when something was stopped.
    """
    pid = running_pid(name, marker)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        return False
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = -1
    # Our processes lead their own session, so their group is exactly what we started.
    group = pgid == pid

    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not is_alive(pid) and not (group and _group_alive(pid)):
            break
        time.sleep(0.2)
    else:
        say(f"{name}: still running after {grace:.0f}s, sending KILL")
        send(signal.SIGKILL)
        for _ in range(50):
            if not is_alive(pid):
                break
            time.sleep(0.1)
    pid_file(name).unlink(missing_ok=True)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left in the group count as gone.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def run_with_progress(
    label: str,
    argv: Sequence[str],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    every: float = 10.0,
) -> None:
    """Run an install step; full output goes to `log`, a summary line every `every` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    say(f"{label}: {' '.join(argv)}  (full output: {log})")
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
        )
        last = start
        while proc.poll() is None:
            time.sleep(0.5)
            now = time.monotonic()
            if now - last >= every:
                last = now
                say(f"  {label}: {now - start:.0f}s, {_last_line(log)}")
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise StackError(
            f"{label} failed (exit {proc.returncode}) after {elapsed:.0f}s; "
            f"see {log}: {_last_line(log)}"
        )
    say(f"{label}: done in {elapsed:.0f}s")


def _last_line(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - 4096))
            lines = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    cleaned = [_ANSI.sub("", line).strip() for line in lines]
    cleaned = [line for line in cleaned if line]
    return cleaned[-1][:120] if cleaned else "(no output yet)"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
