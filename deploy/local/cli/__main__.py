"""`python -m deploy.local up|down|status|logs|env|stop|start|restart|services-up|services-down`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from deploy.local import config, process, servers, supervisor
from deploy.local.servers import components


def cmd_up(_: argparse.Namespace) -> int:
    start = time.monotonic()
    config.ensure_dirs()
    config.load_secrets()
    for component in components():
        component.preflight()
    for component in components():
        component.up()
    path = config.write_stack_env()
    process.say(f"stack is up in {time.monotonic() - start:.1f}s; endpoints in {path}")
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    if process.running_pid(supervisor.NAME, supervisor.MARKER) is not None:
        supervisor.services_down()
    for component in reversed(components()):
        component.down()
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    all_ok = True
    for component in components():
        ok, line = component.status()
        all_ok = all_ok and ok
        process.say(line)
    for line in supervisor.services_status():
        process.say(line)
    env_state = "written" if config.STACK_ENV.exists() else "missing"
    process.say(f"stack.env {env_state}: {config.STACK_ENV}")
    return 0 if all_ok else 1


def cmd_env(args: argparse.Namespace) -> int:
    path = config.write_stack_env()
    for key, value in config.read_env_file(path).items():
        shown = value if args.reveal or key not in config.SECRET_KEYS else "********"
        process.say(f"{key}={shown}")
    process.say(f"# written to {path}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else [c.name for c in components()]
    for name in names:
        path = process.log_file(name)
        if not path.exists():
            process.say(f"==> {path} (no log yet)")
            continue
        process.say(f"==> {path}")
        process.say(process.log_tail(name, args.lines))
    if args.follow and len(names) == 1:
        with process.log_file(names[0]).open() as handle:
            handle.seek(0, 2)
            try:
                while True:
                    line = handle.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.3)
            except KeyboardInterrupt:
                return 0
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    servers.stop(args.name)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    servers.start(args.name)
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    servers.restart(args.name)
    return 0


def cmd_services_up(_: argparse.Namespace) -> int:
    supervisor.services_up()
    return 0


def cmd_services_down(_: argparse.Namespace) -> int:
    supervisor.services_down()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m deploy.local",
        description="The Shopwatch local stack without Docker (installs into .cache/local/).",
    )
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start every server, wait until healthy")
    sub.add_parser("down", help="stop the services and every server of the stack")
    sub.add_parser("status", help="show what runs (exit 1 when something is not healthy)")
    env = sub.add_parser("env", help="write and show .cache/local/stack.env")
    env.add_argument("--reveal", action="store_true", help="show secrets too")
    logs = sub.add_parser("logs", help="show the end of the logs")
    logs.add_argument("name", nargs="?", help="one log: kafka, ferretdb, s3, smtp, supervisor, ...")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true", help="follow one log")
    for name, what in (
        ("stop", "stop ONE server (TERM, KILL after 15 s); the others keep running"),
        ("start", "start ONE stopped server, without installing anything, until healthy"),
        ("restart", "stop, then start ONE server"),
    ):
        one = sub.add_parser(name, help=what)
        one.add_argument("name", choices=servers.NAMES, help="the server")
    sub.add_parser("services-up", help="run the Shopwatch services under a supervisor")
    sub.add_parser("services-down", help="stop the supervisor and its services")
    return top


COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "env": cmd_env,
    "logs": cmd_logs,
    "stop": cmd_stop,
    "start": cmd_start,
    "restart": cmd_restart,
    "services-up": cmd_services_up,
    "services-down": cmd_services_down,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except process.StackError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
