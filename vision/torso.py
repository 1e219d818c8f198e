"""Torso: where it is, whether it is visible, and what colour it is.

Localisation is face geometry plus selfie segmentation, not pose: pose landmarks
(model_complexity=1, the only one in the wheel) cost 24-42 ms per frame against
~4.5 ms for the landscape segmentation model, and the budget for a whole sample is
15 ms (docs/vision.md has the measurements). The torso box hangs below the face box
in face-size units; segmentation removes the background inside it.

Colour: grey-world white balance from the background pixels (gain capped), skin
removed by distance to the person's own face colour (so it works for every skin
tone), then k-means in Lab; clusters of the same fabric under different shading
are merged with a lightness-discounted ΔE2000. One dominant group covering most of
the torso means a solid colour; otherwise it is patterned or mixed.

``TorsoAnalyzer`` owns a mediapipe graph and is not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.clusters import ColourGroup, colour_groups
from vision.colour import (
    LINEAR_LUT,
    delta_e_2000,
    gray_world_gains,
    lab_to_hex,
    linear_to_lab,
    nearest_name,
)
from vision.config import VisionConfig
from vision.face import Box

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TorsoObservation:
    """The torso in one sample. Colour fields are None when it is not visible."""

    visible: bool
    reason: str | None
    """Why not visible: ``out_of_frame`` or ``too_few_pixels``."""
    in_frame: float
    pixels: float
    """Share of the torso crop that is person and not skin."""
    skin: float
    solid: bool | None
    solid_share: float | None
    lab: tuple[float, float, float] | None
    groups: tuple[ColourGroup, ...] = ()

    @property
    def hex(self) -> str | None:
        return lab_to_hex(self.lab) if self.lab is not None else None

    @property
    def colour_name(self) -> str | None:
        return nearest_name(self.lab) if self.lab is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "visible": self.visible,
            "reason": self.reason,
            "in_frame": round(self.in_frame, 3),
            "pixels": round(self.pixels, 3),
            "skin": round(self.skin, 3),
            "solid": self.solid,
            "solid_share": None if self.solid_share is None else round(self.solid_share, 3),
            "colour": None
            if self.lab is None
            else {
                "name": self.colour_name,
                "hex": self.hex,
                "lab": [round(v, 1) for v in self.lab],
            },
            "groups": [{"hex": lab_to_hex(g.lab), "share": round(g.share, 3)} for g in self.groups],
        }


def torso_box(face: Box, config: VisionConfig) -> Box:
    """The nominal torso box below a face (may extend past the frame)."""
    top = face.bottom + config.torso_top * face.h
    bottom = face.bottom + config.torso_bottom * face.h
    half = config.torso_half_width * face.w
    return Box(face.cx - half, top, 2 * half, bottom - top)


def _clip(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0 = max(0, int(round(box.x))), max(0, int(round(box.y)))
    x1 = min(width, int(round(box.x + box.w)))
    y1 = min(height, int(round(box.y + box.h)))
    return x0, y0, x1, y1


def _not_visible(
    reason: str, in_frame: float, pixels: float = 0.0, skin: float = 0.0
) -> TorsoObservation:
    return TorsoObservation(False, reason, in_frame, pixels, skin, None, None, None)


class TorsoAnalyzer:
    """Selfie segmentation (landscape model) plus the colour analysis of the torso."""

    def __init__(self, config: VisionConfig) -> None:
        import mediapipe as mp  # slow import: only when an analyzer is built

        self._config = config
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)

    def close(self) -> None:
        self._segmenter.close()

    def segment(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Person probability per pixel, same size as ``rgb``."""
        mask = self._segmenter.process(rgb).segmentation_mask
        return np.asarray(mask, dtype=np.float32)

    def observe(self, rgb: npt.NDArray[np.uint8], face: Box) -> TorsoObservation:
        """Locate and describe the torso below ``face``."""
        cfg = self._config
        h, w = rgb.shape[:2]
        nominal = torso_box(face, cfg)
        x0, y0, x1, y1 = _clip(nominal, w, h)
        area = max(nominal.w * nominal.h, 1.0)
        in_frame = max(0, x1 - x0) * max(0, y1 - y0) / area
        if in_frame < cfg.torso_min_in_frame or x1 - x0 < 8 or y1 - y0 < 8:
            return _not_visible("out_of_frame", in_frame)

        mask = self.segment(rgb)
        size = (cfg.crop_size, cfg.crop_size)
        crop = cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
        crop_mask = cv2.resize(mask[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
        person = crop_mask > cfg.segmentation_threshold

        # White balance from the background: grey world on a small frame.
        small = cv2.resize(rgb, (80, 60), interpolation=cv2.INTER_AREA)
        small_mask = cv2.resize(mask, (80, 60), interpolation=cv2.INTER_AREA)
        background = small[small_mask <= cfg.segmentation_threshold]
        code_gains = gray_world_gains(
            background if len(background) >= 200 else small, cfg.white_balance_max_gain
        )
        # Gains apply in linear light, where a lamp's colour multiplies (gamma ~2.2).
        gains = code_gains**2.2
        lab = linear_to_lab(np.clip(LINEAR_LUT[crop] * gains, 0.0, 1.0))

        # Skin: the person's own face colour (centre of the face box).
        fx0, fy0, fx1, fy1 = _clip(
            Box(face.x + face.w * 0.3, face.y + face.h * 0.45, face.w * 0.4, face.h * 0.35), w, h
        )
        skin = np.zeros_like(person)
        if fx1 > fx0 and fy1 > fy0:
            face_px = LINEAR_LUT[rgb[fy0:fy1:2, fx0:fx1:2].reshape(-1, 3)] * gains
            skin_lab = np.median(linear_to_lab(np.clip(face_px, 0.0, 1.0)), axis=0)
            skin = person & (delta_e_2000(lab, skin_lab) < cfg.skin_max_delta_e)
        n_person = int(person.sum())
        skin_share = float(skin.sum()) / max(n_person, 1)
        if skin_share > cfg.skin_max_fraction:
            skin = np.zeros_like(person)  # a skin-coloured garment, not skin
        keep = person & ~skin
        pixels = float(keep.mean())
        if pixels < cfg.torso_min_pixels:
            return _not_visible("too_few_pixels", in_frame, pixels, skin_share)

        groups = colour_groups(
            lab[keep],
            cfg.kmeans_k,
            cfg.kmeans_iterations,
            cfg.cluster_merge_delta_e,
            cfg.lightness_weight,
        )
        top = groups[0]
        return TorsoObservation(
            visible=True,
            reason=None,
            in_frame=in_frame,
            pixels=pixels,
            skin=skin_share,
            solid=top.share >= cfg.solid_min_share,
            solid_share=top.share,
            lab=top.lab,
            groups=tuple(groups),
        )
