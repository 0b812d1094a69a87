"""Small, real media files for tests, made with PyAV (FFmpeg in the wheel).

Video is FFmpeg's ``testsrc2`` pattern (a moving gradient, a moving box and a frame
counter), so every file decodes to real, changing pictures. Output is deterministic
(bit-exact muxing, single-threaded encoders) and each file takes well under a second.

Every function writes to the path it is given and returns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.filter import Graph
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

Size = tuple[int, int]
DEFAULT_SIZE: Size = (320, 240)


def pattern_frames(
    seconds: float = 2.0, size: Size = DEFAULT_SIZE, fps: int = 25
) -> Iterator[VideoFrame]:
    """Frames of the ``testsrc2`` pattern (rgba), ``seconds * fps`` of them."""
    graph = Graph()
    source = graph.add("testsrc2", f"size={size[0]}x{size[1]}:rate={fps}:duration={seconds}")
    sink = graph.add("buffersink")
    source.link_to(sink)
    graph.configure()
    while True:
        try:
            yield graph.vpull()
        except av.error.EOFError:
            return


def tone_frames(seconds: float = 2.0, sample_rate: int = 48_000) -> Iterator[AudioFrame]:
    """A 440 Hz sine tone."""
    graph = Graph()
    source = graph.add("sine", f"frequency=440:sample_rate={sample_rate}:duration={seconds}")
    sink = graph.add("abuffersink")
    source.link_to(sink)
    graph.configure()
    while True:
        try:
            frame = graph.pull()
        except av.error.EOFError:
            return
        assert isinstance(frame, AudioFrame)
        yield frame


def write_video(
    path: Path,
    *,
    container_format: str,
    codec: str,
    pix_fmt: str = "yuv420p",
    seconds: float = 2.0,
    size: Size = DEFAULT_SIZE,
    fps: int = 25,
    audio_codec: str | None = None,
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    options = {"threads": "1", **(codec_options or {})}
    with av.open(
        str(path),
        "w",
        format=container_format,
        options=container_options or {},
        container_options={"fflags": "+bitexact"},
    ) as out:
        stream = out.add_stream(codec, rate=fps, options=options)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        audio: AudioStream | None = None
        if audio_codec is not None:
            added = out.add_stream(audio_codec, rate=48_000)
            assert isinstance(added, AudioStream)
            added.layout = "mono"
            audio = added
        for index, frame in enumerate(pattern_frames(seconds, size, fps)):
            picture = frame.reformat(format=pix_fmt)
            picture.pts = index
            picture.time_base = Fraction(1, fps)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
        if audio is not None:
            for tone in tone_frames(seconds):
                tone.pts = None
                out.mux(audio.encode(tone))
            out.mux(audio.encode(None))
    return path


def h264_mp4(
    path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE, audio: bool = False
) -> Path:
    """What a modern recorder exports and browsers play as-is."""
    return write_video(
        path,
        container_format="mp4",
        codec="libx264",
        seconds=seconds,
        size=size,
        audio_codec="aac" if audio else None,
        codec_options={"preset": "ultrafast"},
        container_options={"movflags": "+faststart"},
    )


def mjpeg_avi(path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE) -> Path:
    """Motion JPEG in AVI: the classic DVR export."""
    return write_video(
        path, container_format="avi", codec="mjpeg", pix_fmt="yuvj420p", seconds=seconds, size=size
    )


def mpeg4_mkv(
    path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE, audio: bool = False
) -> Path:
    """MPEG-4 Part 2 video in Matroska."""
    return write_video(
        path,
        container_format="matroska",
        codec="mpeg4",
        seconds=seconds,
        size=size,
        audio_codec="mp2" if audio else None,
    )


def mpeg4_avi(path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE) -> Path:
    return write_video(path, container_format="avi", codec="mpeg4", seconds=seconds, size=size)


def h264_annexb(path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE) -> Path:
    """A raw ``.264`` elementary stream: no container, no timestamps."""
    return write_video(
        path,
        container_format="h264",
        codec="libx264",
        seconds=seconds,
        size=size,
        codec_options={"preset": "ultrafast"},
    )


def hevc_annexb(path: Path, *, seconds: float = 1.0, size: Size = DEFAULT_SIZE) -> Path:
    """A raw ``.265`` elementary stream."""
    return write_video(
        path,
        container_format="hevc",
        codec="libx265",
        seconds=seconds,
        size=size,
        codec_options={"preset": "ultrafast", "x265-params": "log-level=none:pools=none"},
    )


def h264_mpegts(path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE) -> Path:
    return write_video(
        path,
        container_format="mpegts",
        codec="libx264",
        seconds=seconds,
        size=size,
        codec_options={"preset": "ultrafast"},
    )


def mpeg2_ps(path: Path, *, seconds: float = 2.0, size: Size = DEFAULT_SIZE) -> Path:
    return write_video(path, container_format="vob", codec="mpeg2video", seconds=seconds, size=size)


def h264_mov(path: Path, *, seconds: float = 1.0, size: Size = DEFAULT_SIZE) -> Path:
    return write_video(
        path,
        container_format="mov",
        codec="libx264",
        seconds=seconds,
        size=size,
        codec_options={"preset": "ultrafast"},
    )


def _one_frame(size: Size) -> VideoFrame:
    return next(iter(pattern_frames(1.0, size, 1)))


def jpeg_still(path: Path, *, size: Size = DEFAULT_SIZE) -> Path:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = size
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 1)
    frame = _one_frame(size).reformat(format="yuvj420p")
    frame.pts = 0
    packets = codec.encode(frame) + codec.encode(None)
    path.write_bytes(b"".join(bytes(p) for p in packets))
    return path


def png_still(path: Path, *, size: Size = DEFAULT_SIZE) -> Path:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height = size
    codec.pix_fmt = "rgb24"
    codec.time_base = Fraction(1, 1)
    frame = _one_frame(size).reformat(format="rgb24")
    frame.pts = 0
    packets = codec.encode(frame) + codec.encode(None)
    path.write_bytes(b"".join(bytes(p) for p in packets))
    return path


def disguised_executable(path: Path, kind: Literal["elf", "pe"] = "elf") -> Path:
    """A program named like a video (``evil.mp4``): headers real enough for ``file(1)``."""
    if kind == "elf":
        header = (
            b"\x7fELF\x02\x01\x01\x00"
            + b"\x00" * 8  # 64-bit, little-endian, SysV
            + b"\x02\x00\x3e\x00\x01\x00\x00\x00"  # ET_EXEC, x86-64, version 1
        )
    else:
        header = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44
        header += (64).to_bytes(4, "little") + b"PE\x00\x00\x64\x86"  # e_lfanew -> PE, x86-64
    path.write_bytes(header + bytes(range(256)) * 16)
    return path
