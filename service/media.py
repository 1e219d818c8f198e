"""Read a video file or an image as timestamped RGB frames, sampled like a live call.

``open_media(path, interval_s)`` opens and validates the file at once (an unreadable
or empty file raises ``MediaError`` before any analysis starts), then
``samples()`` yields ``TimedFrame``s: the first frame at t=0 and then the first
frame at or after each multiple of ``interval_s`` (the vision config's
``sample_interval_s``, the same interval the live call samples at). Videos are
anything PyAV/ffmpeg reads (.y4m, .webm, .mp4, ...); a Motion-JPEG video (the
development set's clips of stills, ``fixtures.real_clips``) has its frames decoded
as a call's stills are. Images are read by OpenCV and give one frame with
``still=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
TRUNCATION_TOLERANCE_S = 0.5
"""Frames may end this much before the declared length (rounding, a longer audio track)."""


class MediaError(Exception):
    """The file cannot be read as a video or an image; the message says why."""


@dataclass(frozen=True)
class TimedFrame:
    """An RGB uint8 frame ``t`` seconds after the first frame."""

    t: float
    rgb: npt.NDArray[np.uint8]


class Media:
    """An opened, validated video or image file."""

    def __init__(self, path: Path, interval_s: float, still: bool, first: TimedFrame) -> None:
        self.path = path
        self.interval_s = interval_s
        self.still = still
        self._first = first

    def samples(self) -> Iterator[TimedFrame]:
        """The sampled frames, in time order."""
        yield self._first
        if not self.still:
            yield from _video_samples(self.path, self.interval_s, skip_first=True)

    def frames_between(self, start_s: float, end_s: float) -> Iterator[TimedFrame]:
        """Every frame (not only the samples) from ``start_s`` to ``end_s`` seconds, both
        included: a liveness challenge's window. Decodes from the file's start."""
        if self.still:
            if start_s <= self._first.t <= end_s:
                yield self._first
            return
        for frame in _video_samples(self.path, 0.0):
            if frame.t > end_s:
                return
            if frame.t >= start_s:
                yield frame


def _frame(path: Path, t: float, rgb: npt.NDArray[np.uint8]) -> TimedFrame:
    """``rgb`` at ``t``, or MediaError if the analysis cannot take its size."""
    from vision.analyzer import picture_problem

    problem = picture_problem(*rgb.shape[:2])
    if problem is not None:
        raise MediaError(f"{path}: {problem}")
    return TimedFrame(t, rgb)


def _read_image(path: Path) -> npt.NDArray[np.uint8] | None:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        return None
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _video_samples(
    path: Path, interval_s: float, *, skip_first: bool = False
) -> Iterator[TimedFrame]:
    """The frame at t=0 and the first at or after each multiple of ``interval_s``;
    every frame when ``interval_s`` is 0."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot read as video or image ({_why(exc)})") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 15)
        start: float | None = None
        raw_t = 0.0
        next_t = 0.0
        index = 0
        try:
            for time, picture in _pictures(container, stream):
                raw_t = time if time is not None else index / rate
                index += 1
                if start is None:
                    start = raw_t
                t = raw_t - start
                if t + 1e-6 < next_t:
                    continue
                next_t = (int((t + 1e-6) / interval_s) + 1) * interval_s if interval_s else t
                if skip_first:
                    skip_first = False
                    continue
                yield _frame(path, round(t, 6), picture())
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(f"{path}: video is damaged ({_why(exc)})") from None
        if start is not None:
            _check_complete(path, container, stream, raw_t + 1 / rate)


Picture = Callable[[], npt.NDArray[np.uint8]]


def _pictures(container: Any, stream: Any) -> Iterator[tuple[float | None, Picture]]:
    """Each frame's time (None if unstamped) and how to get its RGB pixels (only the
    sampled frames are converted). A Motion-JPEG stream's frames are JPEG stills, so
    they are decoded as a call's stills are (``signaling.stills.decode_rgb``), not by
    FFmpeg: a clip of stills is judged on the pixels the live analysis would judge."""
    if stream.codec_context.name == "mjpeg":
        from signaling.stills import decode_rgb

        for packet in container.demux(stream):
            if packet.size:  # the demuxer ends with an empty packet
                time = None if packet.pts is None else float(packet.pts * packet.time_base)
                yield time, partial(decode_rgb, bytes(packet))
        return
    for frame in container.decode(stream):
        time = None if frame.time is None else float(frame.time)
        yield time, partial(_rgb, frame)


def _rgb(frame: Any) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _why(exc: Exception) -> str:
    """FFmpeg's own words without the errno and path PyAV adds around them."""
    return str(getattr(exc, "strerror", None) or exc)


def _check_complete(path: Path, container: Any, stream: Any, end_t: float) -> None:
    """Raise if the frames stop well before the length the header declares.

    A truncated upload (a WebM cut off mid-transfer) otherwise decodes cleanly up to
    the cut, and would be judged on a fraction of the call as if it were all of it.
    """
    if stream.duration is not None and stream.time_base is not None:
        declared = float(stream.duration * stream.time_base)
        first = float((stream.start_time or 0) * stream.time_base)
    elif container.duration is not None:
        declared = container.duration / 1e6
        first = (container.start_time or 0) / 1e6
    else:
        return  # no declared length (e.g. a live recording's WebM): nothing to compare
    if end_t - first < declared - TRUNCATION_TOLERANCE_S:
        raise MediaError(
            f"{path}: file is truncated: video stops at {end_t - first:.1f} s "
            f"of the {declared:.1f} s its header declares"
        )


def open_media(path: str | Path, interval_s: float) -> Media:
    """Open ``path`` and read its first frame; raises MediaError if that fails."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if not p.is_file():
        raise MediaError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: file is empty")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        img = _read_image(p)
        if img is not None:
            return Media(p, interval_s, True, _frame(p, 0.0, img))
    first = next(_video_samples(p, interval_s), None)
    if first is None:
        img = _read_image(p)
        if img is not None:
            return Media(p, interval_s, True, _frame(p, 0.0, img))
        raise MediaError(f"{p}: contains no video frames")
    return Media(p, interval_s, False, first)
