"""Build pinned Go servers into .cache/local/bin, once; later runs only check them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.local import process
from deploy.local.config import BIN, LOGS

GO_HINT = "install Go >= 1.24 (https://go.dev/doc/install) and put `go` on PATH"


@dataclass(frozen=True)
class SourcePatch:
    """Replace `old` by `new` in one vendored file; `old` must occur exactly once."""

    path: str
    old: str
    new: str


def _stamp(binary: Path) -> Path:
    return binary.with_name(binary.name + ".version")


def binary_ok(binary: Path, module: str, version: str, *, build: str | None = None) -> bool:
    """True if `binary` runs (`--version`) and was built from `module` at `version`.

    With `build` (a patched build), only the stamp written after that build counts:
    the module version alone cannot tell a patched binary from an unpatched one.
    """
    if not binary.exists():
        return False
    try:
        probe = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if probe.returncode != 0:
        return False
    stamp = _stamp(binary)
    if build is not None:
        return stamp.exists() and stamp.read_text().strip() == build
    if stamp.exists() and stamp.read_text().strip() == version:
        return True
    go = shutil.which("go")
    if go is None:
        return False
    info = subprocess.run(
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=False
    )
    for line in info.stdout.splitlines():
        fields = line.split()
        if fields[:3] == ["mod", module, version]:
            stamp.write_text(version + "\n")
            return True
    return False


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOBIN"] = str(BIN)
    env.setdefault("GOFLAGS", "-modcacherw")
    return env


def go_install(name: str, package: str, module: str, version: str) -> Path:
    """`go install package@version` into the cache's bin/ unless a good binary is there."""
    binary = BIN / name
    if binary_ok(binary, module, version):
        return binary
    go = process.require_tool("go", GO_HINT)
    BIN.mkdir(parents=True, exist_ok=True)
    process.run_with_progress(
        f"{name}: go install {version}",
        [go, "install", f"{package}@{version}"],
        log=LOGS / f"install-{name}.log",
        env=go_env(),
    )
    _stamp(binary).write_text(version + "\n")
    return binary


def go_build_from_module(
    name: str,
    module_dir: Path,
    package: str,
    module: str,
    version: str,
    *,
    vendor_files: dict[str, str] | None = None,
    patches: Sequence[SourcePatch] = (),
    build: str | None = None,
) -> Path:
    """Build `package` from a go.mod of our own (in `module_dir`), vendored in the cache.

    `vendor_files` maps paths inside vendor/ to contents added before the build (used to
    supply files that a module's own release tooling generates); `patches` edit vendored
    sources, and `build` (e.g. "v1.24.2+ours.1") stamps the result so a binary built
    without the current patches is rebuilt.
    """
    binary = BIN / name
    if binary_ok(binary, module, version, build=build):
        return binary
    go = process.require_tool("go", GO_HINT)
    work = BIN.parent / "build" / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for file in ("go.mod", "go.sum"):
        shutil.copy2(module_dir / file, work / file)
    log = LOGS / f"install-{name}.log"
    env = go_env()
    process.run_with_progress(
        f"{name}: go mod vendor", [go, "mod", "vendor"], log=log, cwd=work, env=env
    )
    for rel, content in (vendor_files or {}).items():
        target = work / "vendor" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    for patch in patches:
        apply_patch(work / "vendor", patch)
    BIN.mkdir(parents=True, exist_ok=True)
    process.run_with_progress(
        f"{name}: go build {version}",
        [go, "build", "-mod=vendor", "-trimpath", "-o", str(binary), package],
        log=log,
        cwd=work,
        env=env,
    )
    shutil.rmtree(work, ignore_errors=True)
    _stamp(binary).write_text((build or version) + "\n")
    return binary


def apply_patch(root: Path, patch: SourcePatch) -> None:
    """Edit one file under `root`; stop with a clear error if the source is not as expected."""
    target = root / patch.path
    text = target.read_text()
    count = text.count(patch.old)
    if count != 1:
        raise SystemExit(
            f"cannot patch {patch.path}: the expected source occurs {count} times "
            "(the pinned module changed?); see deploy/local/ferretdb_patches.py"
        )
    target.chmod(0o644)
    target.write_text(text.replace(patch.old, patch.new))
