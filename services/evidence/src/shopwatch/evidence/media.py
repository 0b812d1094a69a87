"""Probe CCTV media and make derived copies with PyAV (FFmpeg in the wheel).

Everything here streams: packets are demuxed and frames decoded one at a time, so a
20 GB export costs time, not memory. Inputs and outputs are local paths or seekable
binary file objects; nothing here touches the network.

The master is only ever *read*. Derivatives (a browser-playable H.264 preview, JPEG
stills, a thumbnail strip) are new files, named by ``naming.derivative_name``.

FFmpeg parses hostile input here; run these functions in a worker process with a
time limit (a crafted file can make a decoder spin), not in the API process.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, cast

import av
import av.container
import av.error
from av.audio.stream import AudioStream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

Source = str | os.PathLike[str] | IO[bytes]
Target = str | os.PathLike[str] | IO[bytes]

PREVIEW_MAX_HEIGHT = 720
_OUT_TIME_BASE = Fraction(1, 90_000)  # the MPEG clock: exact for 24/25/30/50/60 fps
_FALLBACK_FPS = Fraction(25)  # PAL CCTV, when a raw stream states no rate
_JPEG_QUALITY = 2  # FFmpeg's -q:v scale, 2 (best) .. 31; stills are for identification
_FF_QP2LAMBDA = 118

_IMAGE_CONTAINERS = frozenset({"jpeg", "png"})


class MediaError(Exception):
    """The media cannot be read or processed; the message is fit for a rejection reason."""


class SourceUnavailable(MediaError):
    """The source could not be fetched (storage refused the connection, timed out or
    answered 5xx): says nothing about the media, so it is no reason to reject it."""


# FFmpeg errors about reaching the source, not about its content. PyAV makes the errno
# ones subclasses of the builtin ConnectionError / TimeoutError as well.
_SOURCE_ERRORS = (
    ConnectionError,
    TimeoutError,
    av.error.HTTPServerError,
    av.error.HTTPTooManyRequestsError,
)


@dataclass(frozen=True)
class MediaFacts:
    container: str  # "mp4", "mov", "matroska", "avi", "mpegts", "h264", "jpeg", ...
    duration_s: float | None  # None for stills and for streams that do not say
    video_codec: str | None  # FFmpeg codec name: "h264", "hevc", "mpeg4", "mjpeg", ...
    width: int | None
    height: int | None
    fps: float | None
    has_audio: bool
    pix_fmt: str | None = None
    audio_codec: str | None = None
    format_name: str = ""  # FFmpeg's demuxer name, as found

    @property
    def is_image(self) -> bool:
        return self.container in _IMAGE_CONTAINERS

    def to_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "duration_s": self.duration_s,
            "video_codec": self.video_codec,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "has_audio": self.has_audio,
            "pix_fmt": self.pix_fmt,
            "audio_codec": self.audio_codec,
        }


def is_browser_playable(facts: MediaFacts) -> bool:
    """An H.264 MP4 in 8-bit 4:2:0 plays in every browser as it is: no preview needed."""
    return (
        facts.container == "mp4"
        and facts.video_codec == "h264"
        and facts.pix_fmt in ("yuv420p", "yuvj420p")
        and facts.audio_codec in (None, "aac", "mp3")
    )


def needs_preview(facts: MediaFacts) -> bool:
    return not facts.is_image and facts.video_codec is not None and not is_browser_playable(facts)


# ---------------------------------------------------------------------------
# Opening


def _describe(src: Source) -> str:
    if isinstance(src, str | os.PathLike):
        return Path(os.fspath(src)).name or "input"
    return getattr(src, "name", None) or "input"


@contextmanager
def _open_input(src: Source, demuxer: str | None = None) -> Iterator[av.container.InputContainer]:
    if not isinstance(src, str | os.PathLike):
        src.seek(0)
    try:
        container = av.open(
            src if not isinstance(src, os.PathLike) else os.fspath(src),
            mode="r",
            format=demuxer,
            metadata_errors="replace",
        )
    except _SOURCE_ERRORS as exc:
        raise SourceUnavailable(f"cannot fetch {_describe(src)}: {exc}") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read {_describe(src)} as media: {_ffmpeg_message(exc)}") from exc
    except OSError as exc:
        raise MediaError(f"cannot open {_describe(src)}: {exc.strerror or exc}") from exc
    try:
        yield container
    except _SOURCE_ERRORS as exc:
        raise SourceUnavailable(f"cannot fetch {_describe(src)}: {exc}") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot decode {_describe(src)}: {_ffmpeg_message(exc)}") from exc
    except MediaError as exc:
        raise MediaError(f"{_describe(src)}: {exc}") from exc
    finally:
        container.close()


def _ffmpeg_message(exc: av.error.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or str(exc)


@contextmanager
def _open_output(
    dst: Target, fmt: str, options: dict[str, str] | None = None
) -> Iterator[av.container.OutputContainer]:
    try:
        container = av.open(
            dst if not isinstance(dst, os.PathLike) else os.fspath(dst),
            mode="w",
            format=fmt,
            options=options or {},
            container_options={"fflags": "+bitexact"},
        )
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot write {_describe(dst)}: {exc}") from exc
    try:
        yield container
    finally:
        container.close()


def _video_stream(container: av.container.InputContainer) -> VideoStream:
    if not container.streams.video:
        raise MediaError("the file has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame threading: several times faster on long files
    return stream


# ---------------------------------------------------------------------------
# Probe


def probe(src: Source, *, demuxer: str | None = None, decode_check: bool = True) -> MediaFacts:
    """Container, duration, codec, size, frame rate and audio presence.

    With ``decode_check`` the first video frame is also decoded, so a file whose
    header parses but whose content does not (truncated, corrupt, mislabelled) is
    refused here rather than by the police officer's player.
    """
    with _open_input(src, demuxer) as container:
        videos = container.streams.video
        audios = container.streams.audio
        if not videos and not audios:
            raise MediaError("the file has no video or audio stream")
        format_name = container.format.name
        vs = videos[0] if videos else None
        audio = audios[0] if audios else None
        video_codec = vs.codec_context.name if vs is not None else None
        container_name = _container_name(container, video_codec)
        width = height = None
        fps: float | None = None
        pix_fmt: str | None = None
        if vs is not None:
            width = vs.codec_context.width or None
            height = vs.codec_context.height or None
            pix_fmt = vs.codec_context.pix_fmt
            rate = vs.average_rate or vs.guessed_rate
            if rate and container_name not in _IMAGE_CONTAINERS:
                fps = round(float(rate), 3)
        duration = None if container_name in _IMAGE_CONTAINERS else _duration(container, vs)
        if decode_check and vs is not None:
            frame = _first_frame(container, vs)
            if frame is None:
                raise MediaError("no video frame could be decoded from the file")
            width, height = width or frame.width, height or frame.height
            pix_fmt = pix_fmt or frame.format.name
        return MediaFacts(
            container=container_name,
            duration_s=duration,
            video_codec=video_codec,
            width=width,
            height=height,
            fps=fps,
            has_audio=audio is not None,
            pix_fmt=pix_fmt,
            audio_codec=audio.codec_context.name if audio is not None else None,
            format_name=format_name,
        )


_CONTAINER_NAMES = {
    "matroska,webm": "matroska",
    "mpegts": "mpegts",
    "mpeg": "mpeg-ps",
    "mpegvideo": "mpeg-video",
    "avi": "avi",
    "asf": "asf",
    "flv": "flv",
    "h264": "h264",
    "hevc": "hevc",
    "dhav": "dav",
    "jpeg_pipe": "jpeg",
    "png_pipe": "png",
}


def _container_name(container: av.container.InputContainer, video_codec: str | None) -> str:
    name = container.format.name
    if name.startswith("mov,mp4"):
        brand = (container.metadata.get("major_brand") or "").strip().lower()
        if brand == "qt":
            return "mov"
        if brand.startswith(("3gp", "3g2")):
            return "3gp"
        return "mp4"
    if name == "matroska,webm" and video_codec in ("vp8", "vp9", "av1"):
        return "webm"
    if name == "image2":
        return {"mjpeg": "jpeg", "png": "png"}.get(video_codec or "", "image")
    return _CONTAINER_NAMES.get(name, name)


def _duration(container: av.container.InputContainer, vs: VideoStream | None) -> float | None:
    if container.duration is not None and container.duration > 0:
        return round(container.duration / av.time_base, 3)
    if vs is not None and vs.duration and vs.time_base:
        return round(float(vs.duration * vs.time_base), 3)
    return None


def _first_frame(container: av.container.InputContainer, vs: VideoStream) -> VideoFrame | None:
    for frame in _decode(container, vs):
        return frame
    return None


def _decode(container: av.container.InputContainer, vs: VideoStream) -> Iterator[VideoFrame]:
    """Decode the video stream, skipping packets the decoder rejects (CCTV exports
    often carry a damaged GOP at a cut); a file with nothing decodable yields nothing."""
    errors = 0
    for packet in container.demux(vs):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            errors += 1
            if errors > 1000:
                raise
            continue
        yield from frames


# ---------------------------------------------------------------------------
# Frame timing


def _stream_rate(vs: VideoStream) -> Fraction:
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    if not rate or rate <= 0 or rate > 240:
        return _FALLBACK_FPS
    return Fraction(rate)


def _stream_origin(vs: VideoStream) -> float:
    if vs.start_time is not None and vs.time_base:
        return float(vs.start_time * vs.time_base)
    return 0.0


class _Clock:
    """Seconds from the start of the video for each decoded frame.

    Raw H.264/H.265 streams carry no timestamps at all, so frames are counted at the
    stream's nominal rate; when a timestamp is missing mid-stream, the last known one
    is extended by one frame.
    """

    def __init__(self, vs: VideoStream) -> None:
        self.rate = _stream_rate(vs)
        self.origin = _stream_origin(vs)
        self.last: float | None = None

    def time(self, frame: VideoFrame) -> float:
        if frame.pts is not None and frame.time is not None:
            t = frame.time - self.origin
        elif self.last is None:
            t = 0.0
        else:
            t = self.last + 1 / float(self.rate)
        self.last = t
        return t


# ---------------------------------------------------------------------------
# Preview


ProgressCallback = Callable[[float], None]
"""Called with the seconds of video processed so far."""


def _preview_size(frame: VideoFrame, vs: VideoStream, max_height: int) -> tuple[int, int]:
    width, height = frame.width, frame.height
    sar = vs.sample_aspect_ratio or vs.codec_context.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:
        # CCTV D1 (704x576) and similar use non-square pixels: show the real shape.
        width = round(width * float(sar))
    if height > max_height:
        width = round(width * max_height / height)
        height = max_height
    # 4:2:0 needs even dimensions.
    return max(2, width - width % 2), max(2, height - height % 2)


def make_preview(
    src: Source,
    dst: Target,
    *,
    max_height: int = PREVIEW_MAX_HEIGHT,
    demuxer: str | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    include_audio: bool = True,
    on_progress: ProgressCallback | None = None,
) -> MediaFacts:
    """Transcode to a browser-playable MP4: H.264 (yuv420p, ≤ ``max_height``), AAC audio,
    ``moov`` at the front (faststart) so playback starts before the download ends.

    Returns the probe of the written preview. Frames whose timestamps go backwards
    (common where CCTV exports are joined) are dropped rather than failing the preview.
    """
    if max_height < 16:
        raise ValueError("max_height is too small")
    options = {"crf": str(crf), "preset": preset, "threads": "4"}
    if isinstance(dst, str | os.PathLike):
        _transcode(src, os.fspath(dst), demuxer, max_height, options, include_audio, on_progress)
        return probe(dst)
    # Faststart rewrites the file once it is complete, which needs a real file: build
    # the preview in a private temporary directory, then copy it out.
    with tempfile.TemporaryDirectory(prefix="shopwatch-preview-") as scratch:
        path = Path(scratch) / "preview.mp4"
        _transcode(src, str(path), demuxer, max_height, options, include_audio, on_progress)
        facts = probe(path)
        with path.open("rb") as fh:
            shutil.copyfileobj(fh, dst, 1024 * 1024)
    return facts


def _transcode(
    src: Source,
    dst: str,
    demuxer: str | None,
    max_height: int,
    options: dict[str, str],
    include_audio: bool,
    on_progress: ProgressCallback | None,
) -> None:
    with (
        _open_input(src, demuxer) as inp,
        _open_output(dst, "mp4", {"movflags": "+faststart"}) as out,
    ):
        vs = _video_stream(inp)
        audio_in: AudioStream | None = (
            inp.streams.audio[0] if include_audio and inp.streams.audio else None
        )
        clock = _Clock(vs)
        rate = clock.rate
        video_out: VideoStream | None = None
        audio_out: AudioStream | None = None
        size: tuple[int, int] | None = None
        last_pts = -1
        audio_broken = False
        streams: list[VideoStream | AudioStream] = [vs] if audio_in is None else [vs, audio_in]
        for packet in inp.demux(streams):
            if packet.stream is audio_in:
                if video_out is None or audio_broken or audio_out is None:
                    continue  # audio before the first video frame is dropped
                try:
                    for aframe in audio_in.decode(packet):
                        aframe.pts = None  # let the encoder count samples
                        out.mux(audio_out.encode(aframe))
                except (av.error.FFmpegError, ValueError):
                    # Broken audio must not cost the officer the pictures.
                    audio_broken = True
                continue
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                vframe = cast(VideoFrame, frame)
                t = clock.time(vframe)
                if video_out is None:
                    size = _preview_size(vframe, vs, max_height)
                    video_out = out.add_stream("libx264", rate=rate, options=options)
                    video_out.width, video_out.height = size
                    video_out.pix_fmt = "yuv420p"
                    video_out.codec_context.time_base = _OUT_TIME_BASE
                    video_out.time_base = _OUT_TIME_BASE
                    if audio_in is not None:
                        audio_out = out.add_stream("aac", rate=_audio_rate(audio_in))
                        audio_out.bit_rate = 96_000
                        audio_out.layout = "stereo" if audio_in.channels > 1 else "mono"
                assert size is not None
                pts = round(t / _OUT_TIME_BASE)
                if pts <= last_pts:
                    continue
                last_pts = pts
                scaled = vframe.reformat(width=size[0], height=size[1], format="yuv420p")
                scaled.pts = pts
                scaled.time_base = _OUT_TIME_BASE
                out.mux(video_out.encode(scaled))
                if on_progress is not None:
                    on_progress(t)
        if video_out is None:
            raise MediaError("no video frame could be decoded from the file")
        out.mux(video_out.encode(None))
        if audio_out is not None and not audio_broken:
            out.mux(audio_out.encode(None))


def _audio_rate(stream: AudioStream) -> int:
    rate = stream.codec_context.sample_rate or 0
    supported = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    return rate if rate in supported else 48000


# ---------------------------------------------------------------------------
# Stills and thumbnail strips


@dataclass(frozen=True)
class StillInfo:
    at_seconds: float  # the time of the frame actually taken
    width: int
    height: int


def make_still(
    src: Source,
    at_seconds: float,
    dst: Target,
    *,
    demuxer: str | None = None,
    max_width: int | None = None,
) -> StillInfo:
    """A JPEG of the frame shown at ``at_seconds`` (from the start of the video), at full
    resolution unless ``max_width`` is given: a still is for identifying a person."""
    if not math.isfinite(at_seconds) or at_seconds < 0:
        raise MediaError("the still time must be zero or more seconds")
    ((t, frame),) = _frames_at(src, [at_seconds], demuxer=demuxer)
    if max_width is not None and frame.width > max_width:
        height = max(2, round(frame.height * max_width / frame.width))
        frame = frame.reformat(width=max_width, height=height)
    _write_jpeg(frame, dst)
    return StillInfo(at_seconds=round(t, 3), width=frame.width, height=frame.height)


@dataclass(frozen=True)
class StripInfo:
    times: tuple[float, ...]
    width: int
    height: int


def make_thumbnail_strip(
    src: Source,
    dst: Target,
    count: int = 6,
    *,
    thumb_height: int = 180,
    gap: int = 4,
    demuxer: str | None = None,
) -> StripInfo:
    """One JPEG with ``count`` frames side by side, spread evenly through the video."""
    if not 1 <= count <= 50:
        raise ValueError("count must be 1..50")
    if thumb_height < 16:
        raise ValueError("thumb_height is too small")
    duration = _known_duration(src, demuxer)
    times = [duration * (i + 0.5) / count for i in range(count)]
    grabbed = _frames_at(src, times, demuxer=demuxer)
    first = grabbed[0][1]
    th = min(thumb_height, first.height) - min(thumb_height, first.height) % 2
    tw = max(2, round(first.width * th / first.height))
    tw -= tw % 2
    width = tw * len(grabbed) + gap * (len(grabbed) - 1)
    strip = VideoFrame(width, th, "rgb24")
    canvas = strip.planes[0]
    canvas.update(bytes(canvas.buffer_size))  # black background and gaps
    out = memoryview(cast(Any, canvas)).cast("B")
    for index, (_, frame) in enumerate(grabbed):
        thumb = frame.reformat(width=tw, height=th, format="rgb24")
        plane = thumb.planes[0]
        data = memoryview(cast(Any, plane)).cast("B")
        x0 = index * (tw + gap) * 3
        for y in range(th):
            src_row = y * plane.line_size
            dst_row = y * canvas.line_size + x0
            out[dst_row : dst_row + tw * 3] = data[src_row : src_row + tw * 3]
    _write_jpeg(strip, dst)
    return StripInfo(times=tuple(round(t, 3) for t, _ in grabbed), width=width, height=th)


def _known_duration(src: Source, demuxer: str | None) -> float:
    """The duration, counting frames at the nominal rate when the container says
    nothing (raw H.264): that reads the file once but decodes nothing."""
    with _open_input(src, demuxer) as container:
        vs = _video_stream(container)
        duration = _duration(container, vs)
        if duration:
            return duration
        rate = _stream_rate(vs)
        packets = sum(1 for p in container.demux(vs) if p.size)
        return max(packets, 1) / float(rate)


def _frames_at(
    src: Source, times: Sequence[float], *, demuxer: str | None
) -> list[tuple[float, VideoFrame]]:
    """The frame on screen at each time (sorted ascending), seeking when the container
    allows it and otherwise decoding once from the start."""
    wanted = sorted(times)
    found: list[tuple[float, VideoFrame]] = []
    with _open_input(src, demuxer) as container:
        vs = _video_stream(container)
        seekable = vs.time_base is not None and vs.start_time is not None
        for target in wanted:
            frame = _seek_frame(container, vs, target) if seekable else None
            if frame is None:
                break
            found.append(frame)
    if len(found) == len(wanted):
        return found
    return _frames_sequential(src, wanted, demuxer)


def _seek_frame(
    container: av.container.InputContainer, vs: VideoStream, target: float
) -> tuple[float, VideoFrame] | None:
    """Seek to the keyframe before ``target`` and decode up to it. ``None`` means
    "seeking does not work for this file": the caller decodes sequentially instead."""
    assert vs.time_base is not None
    clock = _Clock(vs)
    half_frame = 0.5 / float(clock.rate)
    # Some demuxers (AVI, MPEG-PS) land after the keyframe asked for; step back
    # further until the first decoded frame is not past the target.
    for back_off in (0.0, 2.0, 10.0, 60.0):
        seek_to = max(0.0, target - back_off)
        offset = round((seek_to + clock.origin) / float(vs.time_base))
        try:
            container.seek(offset, stream=vs, backward=True, any_frame=False)
        except av.error.FFmpegError:
            return None
        best: tuple[float, VideoFrame] | None = None
        for frame in _decode(container, vs):
            if frame.pts is None:
                return None  # no timestamps: only a sequential pass can place frames
            t = clock.time(frame)
            if t > target + half_frame:
                if best is None and seek_to > 0:
                    break  # landed past the target: back off and try again
                return best if best is not None else (t, frame)
            best = (t, frame)
        else:
            if best is not None:
                return best  # end of stream: the last frame stays on screen
        if seek_to == 0.0:
            return None
    return None


def _frames_sequential(
    src: Source, wanted: Sequence[float], demuxer: str | None
) -> list[tuple[float, VideoFrame]]:
    found: list[tuple[float, VideoFrame]] = []
    with _open_input(src, demuxer) as container:
        vs = _video_stream(container)
        clock = _Clock(vs)
        half_frame = 0.5 / float(clock.rate)
        previous: tuple[float, VideoFrame] | None = None
        pending = list(wanted)
        for frame in _decode(container, vs):
            t = clock.time(frame)
            while pending and t > pending[0] + half_frame:
                found.append(previous if previous is not None else (t, frame))
                pending.pop(0)
            if not pending:
                break
            previous = (t, frame)
        if previous is None and not found:
            raise MediaError("no video frame could be decoded from the file")
        while pending:  # past the end: the last frame stays on screen
            assert previous is not None
            found.append(previous)
            pending.pop(0)
    return found


def _write_jpeg(frame: VideoFrame, dst: Target) -> None:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width = frame.width
    codec.height = frame.height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.qscale = True
    codec.global_quality = _JPEG_QUALITY * _FF_QP2LAMBDA
    source = frame.reformat(format="yuvj420p")
    source.pts = 0
    packets = codec.encode(source) + codec.encode(None)
    if not packets:
        raise MediaError("the JPEG encoder produced nothing")
    data = b"".join(bytes(p) for p in packets)
    if isinstance(dst, str | os.PathLike):
        Path(os.fspath(dst)).write_bytes(data)
    else:
        dst.write(data)
