"""service.media: files become RGB frames sampled at the vision interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures.devset import DevImage, load
from fixtures.generate import Y4M_HEADER, build, frames
from fixtures.real_clips import build_clip, jpeg, still_times, write_stills
from fixtures.real_clips import frames as camera_frames
from service.media import MediaError, open_media
from signaling.stills import decode_rgb


def _photo(name: str) -> DevImage:
    return next(im for im in load() if im.id == name)


def test_y4m_header_is_what_chromium_expects(media: dict[str, Path]) -> None:
    with media["live"].open("rb") as fh:
        head = fh.read(len(Y4M_HEADER) + 6)
    assert head == b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg\nFRAME\n"
    assert media["live"].stat().st_size == len(Y4M_HEADER) + 90 * (6 + 640 * 480 * 3 // 2)


@pytest.mark.parametrize("name", ["live", "live.webm", "live.mp4"])
def test_video_is_sampled_every_interval(media: dict[str, Path], name: str) -> None:
    m = open_media(media[name], 1.0)
    got = list(m.samples())
    assert not m.still
    assert [f.t for f in got] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], abs=1e-3)
    assert all(f.rgb.shape == (480, 640, 3) and f.rgb.dtype == np.uint8 for f in got)


def test_y4m_colours_round_trip(media: dict[str, Path]) -> None:
    first = next(open_media(media["live"], 1.0).samples()).rgb.astype(float)
    original = next(frames("live")).astype(float)
    assert abs(first.mean() - original.mean()) < 1.5
    assert np.abs(first - original).mean() < 4


def test_half_second_interval(media: dict[str, Path]) -> None:
    times = [f.t for f in open_media(media["short"], 0.5).samples()]
    # 15 fps: the first frame at or after each half second.
    assert times == pytest.approx([0.0, 8 / 15, 1.0, 23 / 15], abs=1e-3)


def test_image_is_one_still_frame(media: dict[str, Path]) -> None:
    m = open_media(media["still.png"], 1.0)
    got = list(m.samples())
    assert m.still and len(got) == 1 and got[0].t == 0.0 and got[0].rgb.shape == (480, 640, 3)


def test_generator_is_deterministic(tmp_path: Path, media: dict[str, Path]) -> None:
    # A fresh build in another directory gives the very bytes of the cached one.
    fresh = build(tmp_path, ["short"])["short"]
    assert fresh.read_bytes() == media["short"].read_bytes()


def test_truncated_video_is_an_error(tmp_path: Path, media: dict[str, Path]) -> None:
    # Cut off mid-upload: the frames decode cleanly up to the cut, then stop early.
    data = media["live.webm"].read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(data[: len(data) // 2])
    m = open_media(cut, 1.0)
    with pytest.raises(MediaError, match=r"truncated: video stops at [0-9.]+ s of the 6.0 s"):
        list(m.samples())


def test_a_clip_of_stills_is_decoded_as_a_call_decodes_its_stills(tmp_path: Path) -> None:
    # The development set's clips hold the page's JPEG stills at the page's times; each
    # sample is its still as the live analysis decodes it, pixel for pixel.
    times = still_times()
    assert times == (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)  # staff.js: five, then 1 a second
    pictures = list(camera_frames(_photo("cc0_iface_005"), "original", times))
    path = tmp_path / "clip.mkv"
    write_stills(path, zip(times, map(jpeg, pictures), strict=True))
    m = open_media(path, 1.0)
    got = list(m.samples())
    assert not m.still
    assert [f.t for f in got] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    for f in got:
        assert np.array_equal(f.rgb, decode_rgb(jpeg(pictures[times.index(f.t)])))


def test_real_clips_are_deterministic(tmp_path: Path) -> None:
    image = _photo("cc0_iface_005")
    a, b = (build_clip(image, "held", tmp_path / d) for d in ("a", "b"))
    assert a.suffix == ".mkv" and a.read_bytes() == b.read_bytes()


def test_a_broken_still_in_a_clip_is_an_error(tmp_path: Path) -> None:
    good = jpeg(np.full((480, 640, 3), 128, np.uint8))
    path = tmp_path / "broken.mkv"
    write_stills(path, [(0.0, good), (1.0, b"not a JPEG at all"), (2.0, good)])
    m = open_media(path, 1.0)
    with pytest.raises(MediaError, match="damaged"):
        list(m.samples())


def test_a_picture_the_analysis_cannot_take_is_an_error(tmp_path: Path) -> None:
    import cv2

    dot = tmp_path / "dot.png"
    cv2.imwrite(str(dot), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(MediaError, match=r"dot.png: the picture is 1×1 pixels; at least 16"):
        open_media(dot, 1.0)
    tiny = tmp_path / "tiny.y4m"
    tiny.write_bytes(b"YUV4MPEG2 W8 H8 F15:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(96))
    with pytest.raises(MediaError, match="8×8 pixels"):
        open_media(tiny, 1.0)
    # A clip whose pictures shrink later is refused when that picture is reached.
    shrinking = tmp_path / "shrinking.mkv"
    small = jpeg(np.full((12, 40, 3), 128, np.uint8))
    write_stills(shrinking, [(0.0, jpeg(np.full((480, 640, 3), 128, np.uint8))), (1.0, small)])
    with pytest.raises(MediaError, match="40×12 pixels"):
        list(open_media(shrinking, 1.0).samples())
    # A strip, scaled to the analysed size, would show nobody: refused, never no_face.
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), np.zeros((3000, 20, 3), np.uint8))
    with pytest.raises(MediaError, match=r"20×3000 pixels; a camera's is at most 4:1"):
        open_media(strip, 1.0)
    smallest = tmp_path / "smallest.png"
    cv2.imwrite(str(smallest), np.zeros((16, 16, 3), np.uint8))
    assert next(open_media(smallest, 1.0).samples()).rgb.shape == (16, 16, 3)


def test_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    empty_y4m = tmp_path / "empty.y4m"
    empty_y4m.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("minutes of the meeting, not a video\n")
    junk = tmp_path / "junk.webm"
    junk.write_bytes(np.random.default_rng(3).integers(0, 256, 4000, np.uint8).tobytes())
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"not a png at all")
    for path, message in [
        (empty, "empty"),
        (empty_y4m, "empty"),
        (text, r"cannot read as video or image \(Invalid data found when processing input\)$"),
        (junk, "cannot read"),
        (bad_png, "cannot read|damaged"),
        (tmp_path / "missing.y4m", "no such file"),
        (tmp_path, "not a file"),
    ]:
        with pytest.raises(MediaError, match=message):
            open_media(path, 1.0)
    with pytest.raises(ValueError):
        open_media(empty, 0)
