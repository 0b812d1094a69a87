"""``python -m shopwatch.evidence.media_worker``: FFmpeg work on untrusted media, in a
child process with limits (a crafted file can make a decoder spin or balloon).

It reads one JSON job on stdin and writes one JSON result on stdout:

- ``{"mode": "probe", "source": URL_OR_PATH, "demuxer": null}`` ->
  ``{"ok": true, "facts": {...}}`` or ``{"ok": false, "error": "..."}``, with
  ``"retry": true`` when the source could not be fetched (storage down), not read
- ``{"mode": "derive", "source": ..., "demuxer": ..., "out_dir": DIR, "exhibit_ref": "JS/1",
  "thumbnails": 6, "preview": true, "stills": [12.5], "first_still": 1}`` ->
  ``{"ok": true, "derivatives": [{"kind", "file", "at_seconds"}], "errors": [...]}``

The source is normally a short-lived presigned GET URL of the master: FFmpeg reads only
what it needs (a probe reads the header and one frame), and nothing is copied to disk.
Error messages never carry that URL (it is a credential, and the message becomes a
rejection reason).
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shopwatch.evidence import media
from shopwatch.evidence.media_runner import scrub
from shopwatch.evidence.naming import Derivative, derivative_name


def limit_resources(memory_mb: int, cpu_s: int, file_mb: int) -> None:
    """Caps for this process: address space, CPU seconds, size of any file written."""
    for which, value in (
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024),
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_FSIZE, file_mb * 1024 * 1024),
        (resource.RLIMIT_CORE, 0),
    ):
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard))


def facts_document(facts: media.MediaFacts) -> dict[str, Any]:
    return {
        **facts.to_dict(),
        "format_name": facts.format_name,
        "is_image": facts.is_image,
        "needs_preview": media.needs_preview(facts),
    }


def peak_rss_kb() -> int:
    """This process's own peak RSS. Not ``ru_maxrss``: Linux carries that across
    ``execve`` from the parent it was forked from, so it would report the service's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run(job: dict[str, Any]) -> dict[str, Any]:
    source = str(job["source"])
    demuxer = job.get("demuxer")
    if job["mode"] == "probe":
        try:
            facts = media.probe(source, demuxer=demuxer)
        except media.SourceUnavailable as exc:
            # Storage was away, not the media bad: the verifier tries again later.
            return {"ok": False, "retry": True, "error": scrub(str(exc), source)}
        except media.MediaError as exc:
            return {"ok": False, "error": scrub(str(exc), source)}
        return {"ok": True, "facts": facts_document(facts)}
    if job["mode"] == "derive":
        return _derive(job, source, demuxer)
    raise ValueError(f"unknown mode {job['mode']!r}")


def _derive(job: dict[str, Any], source: str, demuxer: str | None) -> dict[str, Any]:
    """Each derivative on its own: one that fails is reported, the others are kept."""
    out_dir = Path(job["out_dir"])
    ref = str(job["exhibit_ref"])
    made: list[dict[str, Any]] = []
    errors: list[str] = []

    def attempt(kind: Derivative, number: int, make: Callable[[Path], float | None]) -> None:
        name = derivative_name(ref, kind, number)
        try:
            at_seconds = make(out_dir / name)
        except (media.MediaError, ValueError, OSError) as exc:
            errors.append(f"{kind.value}: {scrub(str(exc), source)}")
            return
        made.append({"kind": kind.value, "file": name, "at_seconds": at_seconds})

    def strip(path: Path) -> None:
        media.make_thumbnail_strip(source, path, int(job["thumbnails"]), demuxer=demuxer)

    def preview(path: Path) -> None:
        media.make_preview(source, path, demuxer=demuxer)

    def still_at(at: float) -> Callable[[Path], float]:
        return lambda path: media.make_still(source, at, path, demuxer=demuxer).at_seconds

    if job.get("thumbnails"):
        attempt(Derivative.THUMBS, 1, strip)
    if job.get("preview"):
        attempt(Derivative.PREVIEW, 1, preview)
    first = int(job.get("first_still", 1))
    for offset, at in enumerate(job.get("stills") or []):
        attempt(Derivative.STILL, first + offset, still_at(float(at)))
    return {"ok": True, "derivatives": made, "errors": errors}


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    limits = job.get("limits") or {}
    limit_resources(
        int(limits.get("memory_mb", 4096)),
        int(limits.get("cpu_s", 3600)),
        int(limits.get("file_mb", 16384)),
    )
    result = run(job)
    result["max_rss_kb"] = peak_rss_kb()
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
