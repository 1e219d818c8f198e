"""The skin-colour check of a detected face (``vision.skin``): on drawn colours, and on
the development set's statue and drawing that BlazeFace and the landmark model took for
faces (docs/vision.md, *Face-like objects*)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from vision.analyzer import prepare
from vision.colour import lab_to_rgb
from vision.config import DEFAULT_CONFIG
from vision.face import Box, FaceDetector
from vision.skin import skin_coloured

FACE = Box(200, 100, 200, 200)
IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "images"


Lab = tuple[float, float, float]


def _frame(face_lab: Lab, background_lab: Lab) -> npt.NDArray[np.uint8]:
    """A 480x640 frame of one colour with a face box of another."""
    frame = np.empty((480, 640, 3), dtype=np.uint8)
    frame[:] = np.clip(np.round(lab_to_rgb(background_lab)), 0, 255)
    frame[100:300, 200:400] = np.clip(np.round(lab_to_rgb(face_lab)), 0, 255)
    return frame


COLOURFUL = (55.0, -10.0, -40.0)  # a blue wall
GREY_WALL = (60.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("face", "background", "skin"),
    [
        ((70.0, 14.0, 20.0), COLOURFUL, True),  # light skin
        ((35.0, 12.0, 16.0), COLOURFUL, True),  # dark skin
        ((60.0, 18.0, -6.0), COLOURFUL, True),  # pink under a cool light (hue -18°)
        ((75.0, 2.0, 30.0), COLOURFUL, True),  # a warm lamp (hue 86°)
        ((99.0, 0.0, 0.0), COLOURFUL, False),  # white paper in a colour picture
        ((50.0, -4.0, 1.0), COLOURFUL, False),  # bronze patina (hue 166°)
        ((55.0, -10.0, -40.0), (70.0, 14.0, 20.0), False),  # a blue cartoon face
        ((60.0, 0.0, 0.0), GREY_WALL, True),  # a black-and-white picture: not judged
        ((15.0, -3.0, -3.0), COLOURFUL, True),  # too dark to read a hue: not judged
    ],
)
def test_skin_colours_pass_and_others_do_not(face: Lab, background: Lab, skin: bool) -> None:
    assert skin_coloured(_frame(face, background), FACE, DEFAULT_CONFIG) is skin


@pytest.mark.parametrize(
    ("name", "skin"),
    [
        ("pd18f_806_philip_reid", False),  # a bronze statue's head
        ("pd18f_592_influencer", False),  # a crayon drawing on white paper
        ("cc0_iface_001", True),
        ("cc0_iface_006", True),  # dark skin
    ],
)
def test_development_set_objects_are_not_skin(name: str, skin: bool) -> None:
    bgr = cv2.imread(str(IMAGES / f"{name}.jpg"))
    rgb = prepare(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), DEFAULT_CONFIG.max_side)
    detector = FaceDetector(DEFAULT_CONFIG)
    try:
        faces, _ = detector.detect(rgb)
    finally:
        detector.close()
    assert faces, f"BlazeFace finds a face in {name}"
    assert skin_coloured(rgb, faces[0].box, DEFAULT_CONFIG) is skin
