"""Evidence unit-test fixtures: real media files, made once per session with PyAV."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# ``tests.media_fixtures`` is shared with the integration tests; pytest's default
# import mode puts only this folder on sys.path, so add the repository root.
_REPO_ROOT = Path(__file__).resolve().parents[3]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from tests import media_fixtures as mf  # noqa: E402

_MAKERS: dict[str, Callable[[Path], Path]] = {
    "h264.mp4": mf.h264_mp4,
    "h264_audio.mp4": lambda p: mf.h264_mp4(p, audio=True),
    "mjpeg.avi": mf.mjpeg_avi,
    "mpeg4.avi": mf.mpeg4_avi,
    "mpeg4.mkv": mf.mpeg4_mkv,
    "mpeg4_audio.mkv": lambda p: mf.mpeg4_mkv(p, audio=True),
    "raw.264": mf.h264_annexb,
    "raw.265": mf.hevc_annexb,
    "h264.ts": mf.h264_mpegts,
    "mpeg2.mpg": mf.mpeg2_ps,
    "h264.mov": mf.h264_mov,
    "still.jpg": mf.jpeg_still,
    "still.png": mf.png_still,
    "evil_elf.mp4": mf.disguised_executable,
    "evil_pe.mp4": lambda p: mf.disguised_executable(p, "pe"),
}


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def media(media_dir: Path) -> dict[str, Path]:
    """Every fixture file, by name."""
    return {name: make(media_dir / name) for name, make in _MAKERS.items()}
