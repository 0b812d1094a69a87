"""promtool for deploy/prometheus: built once with Go, then `check` and `test`.

    uv run python -m deploy.local.promtool check    # scrape configs and rule files
    uv run python -m deploy.local.promtool test     # unit tests of the rules
    uv run python -m deploy.local.promtool install  # only build it; prints its path

promtool (Apache-2.0) comes from the Prometheus module: `go install
github.com/prometheus/prometheus/cmd/promtool@<version>` into `.cache/local/bin` (GOBIN).
The module's go.mod has no `replace` lines, so a plain `go install` builds it. Prometheus
3.x is published to the Go proxy as v0.3xx.y (v0.316.0 is Prometheus 3.16.0), because
its module path has no /v3. The first build is long (every service-discovery SDK is
linked: 26 minutes on 2 busy cores, ~10 s with Go's build cache warm); later runs reuse
the binary (checked with `promtool --version` and a version stamp) and take seconds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.local import gobuild, process
from deploy.local.config import BIN, REPO_ROOT

MODULE = "github.com/prometheus/prometheus"
PACKAGE = f"{MODULE}/cmd/promtool"
VERSION = "v0.316.0"
GO_HINT = (
    "install Go (https://go.dev/doc/install) and put `go` on PATH; promtool "
    f"{VERSION} needs Go 1.26, which Go >= 1.21 downloads by itself"
)

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
CONFIGS = (
    PROMETHEUS_DIR / "prometheus.local.yml",
    PROMETHEUS_DIR / "prometheus.compose.yml",
)
RULES_DIR = PROMETHEUS_DIR / "rules"
TESTS_DIR = PROMETHEUS_DIR / "tests"


def binary() -> Path:
    return BIN / "promtool"


def ensure_promtool() -> Path:
    """The pinned promtool, built on first use; raises StackError (one line) without Go."""
    path = binary()
    if gobuild.binary_ok(path, MODULE, VERSION):
        return path
    if shutil.which("go") is None:
        raise process.StackError(f"promtool is not built yet and `go` was not found: {GO_HINT}")
    process.say(f"promtool {VERSION} is not in {BIN}: building it once (10-30 minutes on 2 cores)")
    return gobuild.go_install("promtool", PACKAGE, MODULE, VERSION)


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*.yml"))


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _run(promtool: Path, args: Sequence[str | Path]) -> int:
    argv = [str(promtool), *(_shown(a) if isinstance(a, Path) else a for a in args)]
    process.say("$ promtool " + " ".join(argv[1:]))
    # Relative paths from the repository root keep promtool's messages short.
    return subprocess.run(argv, cwd=REPO_ROOT, check=False).returncode


# Lint findings (duplicate rules, a scrape interval longer than the rules' lookback) fail.
LINT = ["--lint=all", "--lint-fatal"]


def check(promtool: Path, extra: Sequence[str] = ()) -> int:
    """`check config` on both scrape configs (which also loads their rule files), then
    `check rules` on every rule file."""
    for config in CONFIGS:
        if (code := _run(promtool, ["check", "config", *LINT, *extra, config])) != 0:
            return code
    return _run(promtool, ["check", "rules", *LINT, *extra, *rule_files()])


def test(promtool: Path, extra: Sequence[str] = ()) -> int:
    """`test rules` on every file in deploy/prometheus/tests (a failing test prints the
    expected and the actual alerts or samples); `extra` e.g. `--run <group regex>`."""
    files = test_files()
    if not files:
        raise process.StackError(f"no rule tests in {_shown(TESTS_DIR)}")
    return _run(promtool, ["test", "rules", *extra, *files])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.promtool", description=__doc__)
    parser.add_argument("command", choices=("check", "test", "install"))
    # Anything else goes to promtool, e.g. `test --run 'dead letters'`.
    args, extra = parser.parse_known_args(argv)
    started = time.monotonic()
    try:
        promtool = ensure_promtool()
        if args.command == "install":
            process.say(str(promtool))
            return 0
        code = check(promtool, extra) if args.command == "check" else test(promtool, extra)
    except process.StackError as exc:
        print(f"promtool: {exc}", file=sys.stderr)
        return 1
    verdict = "ok" if code == 0 else f"FAILED (exit {code})"
    process.say(f"promtool {args.command}: {verdict} in {time.monotonic() - started:.1f}s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
