"""Is the middle of a detected face the colour of skin? A check that costs no model.

BlazeFace and the face landmark model both take a face's layout for a face: a bronze
statue and a crayon drawing passed both on the development set (docs/vision.md). Human
skin, of every tone, lies in the red-to-yellow hues: on the set's 224 detections of real
faces the median colour of the face's middle had a CIELAB hue from -53° to 92°, and no
face in a picture with colour in it was grey. Bronze patina is green-grey, paper is
white, a screen's cartoon is blue. So a face whose middle is grey in a colour picture,
or of a hue no skin has, is not a person's face.

It judges colour only where colour can be read: not on a face too dark (the noise of a
dim sensor has no hue) and not in a picture with hardly any colour anywhere (a
black-and-white photo, a camera's night mode), where a grey face is a person's. Cost:
one small Lab conversion of a face patch and of a thumbnail of the frame, about
0.3 ms a face (``hadir bench vision``'s ``face_ms`` includes it).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from vision.colour import LINEAR_LUT32, image_linear_to_lab, rgb_to_lab
from vision.config import VisionConfig
from vision.face import Box

PATCH_SIDE = 64
"""A face box is sampled on about this many rows and columns (about 1,000 pixels of
its middle): enough for a median colour, whatever the face's size."""
FRAME_STEP = 8
"""Every eighth pixel of the frame is enough for its colourfulness (80x60 at 640x480)."""


def face_colour(rgb: npt.NDArray[np.uint8], box: Box) -> tuple[float, float, float]:
    """Median L*, chroma and hue (degrees, -180..180] of the middle of a face box:
    cheeks, nose, eyes, as ``analyzer.face_luma`` takes them."""
    h, w = rgb.shape[:2]
    x0, x1 = max(0, round(box.x + 0.25 * box.w)), min(w, round(box.x + 0.75 * box.w))
    y0, y1 = max(0, round(box.y + 0.25 * box.h)), min(h, round(box.y + 0.8 * box.h))
    step = max(1, round(box.h / PATCH_SIDE))  # the median needs no more pixels
    patch = rgb[y0:y1:step, x0:x1:step].reshape(-1, 3)
    if patch.size == 0:
        return 0.0, 0.0, 0.0
    lab = np.median(rgb_to_lab(patch), axis=0)
    return float(lab[0]), math.hypot(lab[1], lab[2]), math.degrees(math.atan2(lab[2], lab[1]))


def frame_chroma(rgb: npt.NDArray[np.uint8]) -> float:
    """How much colour the picture holds: the 90th percentile of its pixels' chroma."""
    lab = image_linear_to_lab(LINEAR_LUT32[rgb[::FRAME_STEP, ::FRAME_STEP]])
    return float(np.percentile(np.hypot(lab[..., 1], lab[..., 2]), 90))


def skin_coloured(rgb: npt.NDArray[np.uint8], box: Box, config: VisionConfig) -> bool:
    """False only when the face's middle is readable and no skin has its colour."""
    lightness, chroma, hue = face_colour(rgb, box)
    if lightness < config.skin_min_lightness or frame_chroma(rgb) < config.skin_frame_min_chroma:
        return True  # too dark or too grey a picture to judge colour: say nothing
    if chroma < config.skin_min_chroma:
        return False  # grey in a colour picture: stone, paper, metal
    return config.skin_hue_min <= hue <= config.skin_hue_max
