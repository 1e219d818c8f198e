"""Torso: the clothing visible below the chin, and whether it is one plain colour.

Localisation is face geometry plus selfie segmentation, not pose: pose landmarks
(model_complexity=1, the only one in the wheel) cost 24-42 ms per frame against
~4.5 ms for the landscape segmentation model, which the analyzer runs at most once per
sample and shares with the person-present test; and a chest placed by the shoulders
told layered from plain tops no better than the face's geometry (docs/vision.md).

**The garment region** starts just under the chin and reaches down at most two face
heights, clipped to the frame: a phone selfie shows only the upper chest, and that is
judged as long as it holds ``torso_min_pixels`` of garment. Garment pixels are person
(segmentation) and not skin (distance to the person's own face colour, so it works for
every skin tone): bare arms, hands and the neck drop out; nor hair (the colour just
above the face) beside the neck, where it falls, but not down the middle of the chest,
where that colour is a shirt under a jacket.

**Solid or patterned** is read from the fabric itself: texture is the mean high-pass
energy of lightness inside the eroded garment mask, at a fixed resolution where a
shirt's check or print is still resolved and its folds (low frequency) are not, with
the skin's and hair's colours out of it only as regions (a print's thin bands of those
colours are the print's); colour spread is the share of garment pixels close to the
dominant colour, with no chaining of clusters. A solid top has little texture and one colour.

**Layered** (a jacket over a shirt) is read from the layout: low on the chest, where
long hair seldom reaches, a centre strip of one colour between two sides that agree
with each other and both differ from it. Hair on one side and a bare shoulder on
the other do not agree, so they do not make a layer.

Colour: grey-world white balance from the scene's near-neutral background pixels
(gain capped; whether it measured the light is kept, so that a colour a lamp may
explain is never judged wrong where it did not: ``vision.check.match_colours``; a face
more saturated than skin under neutral light says it did not), then the median Lab of
the dominant colour's pixels.

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
    LINEAR_LUT32,
    column_medians,
    delta_e_2000,
    gray_world,
    image_linear_to_lab,
    lab_to_hex,
    linear_to_lab,
    nearest_name,
)
from vision.config import VisionConfig
from vision.face import Box, Face
from vision.graphs import on_calling_thread

FloatArray = npt.NDArray[np.floating[Any]]
"""Lab and linear-light arrays: float32 for the garment crop, float64 for references."""
Mask = npt.NDArray[np.float32]

CLUSTER_POINTS = 2000
"""Garment pixels the colour clustering looks at (an even stride through them): shares
need no more, and k-means costs grow with the count."""


@dataclass(frozen=True)
class TorsoObservation:
    """The torso in one sample. Colour fields are None when it is not visible."""

    visible: bool
    reason: str | None
    """Why not visible: ``out_of_frame`` or ``too_few_pixels``."""
    pixels: int
    """Garment pixels (person, not skin) in the region, at the analysed resolution."""
    skin: float
    """Share of the region's person pixels removed as the face's skin colour."""
    texture: float | None
    """High-pass energy of the fabric's lightness (L units): prints and checks score high."""
    solid: bool | None
    solid_share: float | None
    """Share of the garment within ``cluster_merge_delta_e`` of its dominant colour."""
    lab: tuple[float, float, float] | None
    groups: tuple[ColourGroup, ...] = ()
    layered: bool = False
    """A centre strip between two sides of another colour: a jacket over a shirt."""
    light_measured: bool = False
    """The white balance measured the light's colour (``WhiteBalance.measured``) and
    the face does not contradict it (``overcast``): the colour's remaining cast is the
    balance's own error, not a lamp's."""
    covered: bool = False
    """What the head wears or grows may hang over the chest (``covered``): the garment's
    colour here may be a hijab's, so it cannot fail the uniform."""

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
            "pixels": self.pixels,
            "skin": round(self.skin, 3),
            "texture": None if self.texture is None else round(self.texture, 2),
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
            "layered": self.layered,
            "light_measured": self.light_measured,
            "covered": self.covered,
        }


def garment_region(face: Face, width: int, height: int, config: VisionConfig) -> tuple[int, ...]:
    """(x0, y0, x1, y1) of the clothing region below ``face``, clipped to the frame."""
    s = face.size
    top = face.box.bottom + config.torso_top * s
    bottom = face.box.bottom + config.torso_bottom * s
    half = config.torso_half_width * s
    x0, x1 = max(0, round(face.box.cx - half)), min(width, round(face.box.cx + half))
    y0, y1 = max(0, round(top)), min(height, round(bottom))
    return x0, y0, x1, y1


def _pixels(part: tuple[float, float, float, float], box: Box, w: int, h: int) -> tuple[int, ...]:
    """A part in face-box units, (x0, y0, x1, y1), as pixels of a w x h frame."""
    x0, y0 = max(0, round(box.x + box.w * part[0])), max(0, round(box.y + box.h * part[1]))
    x1, y1 = min(w, round(box.x + box.w * part[2])), min(h, round(box.y + box.h * part[3]))
    return x0, y0, x1, y1


def _not_visible(reason: str, pixels: int = 0, skin: float = 0.0) -> TorsoObservation:
    return TorsoObservation(False, reason, pixels, skin, None, None, None, None)


def high_pass(channel: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A channel's fine structure, |X - blur(X)|. On the lightness its mean over the
    fabric is the texture, its spread the folds test's (``folds_only``).

    The texture is the lightness's: VP8 kept a quarter of the chroma resolution, and its
    chroma noise on a saturated red or blue cloth looked like texture (measured on the
    development set, where lightness alone separated prints from plain cloth best). The
    colour's own is asked only of a top the lightness leaves undecided
    (``chroma_texture``).
    """
    return np.asarray(np.abs(channel - cv2.GaussianBlur(channel, (0, 0), 2.0)), np.float32)


def chroma_texture(lab: FloatArray, mask: npt.NDArray[np.bool_]) -> float:
    """The fine structure of the colour, as ``high_pass`` reads the lightness's: the
    mean length of (a* - blur(a*), b* - blur(b*)) over ``mask``. A print of colours
    near in lightness (a red and green batik, a blue and purple check) shows here, not
    in the lightness. Asked only of undecided tops."""
    a = high_pass(np.ascontiguousarray(lab[..., 1], dtype=np.float32))
    b = high_pass(np.ascontiguousarray(lab[..., 2], dtype=np.float32))
    return float(np.hypot(a, b)[mask].mean())


def folds_only(
    lightness: npt.NDArray[np.float32],
    high: npt.NDArray[np.float32],
    mask: npt.NDArray[np.bool_],
    config: VisionConfig,
) -> bool:
    """The fabric's high-pass energy is a few long edges of one direction (folds, a
    collar, a placket) rather than a print spread over the garment.

    Folds and a collar give locally one gradient direction (orientation coherence of the
    structure tensor, weighted by gradient energy, near 1) and put the energy in a small
    share of the pixels (90th percentile of |L - blur(L)| several times its median); a
    print, a check or a stripe spreads it over the garment, and a check or a knit has
    two directions. Asked only of undecided tops (its cost is in that band only);
    ``high`` is ``high_pass(lightness)``.
    """
    n = int(mask.sum())
    energy_order = np.partition(high[mask], (n // 2, (9 * n) // 10))
    median, p90 = float(energy_order[n // 2]), float(energy_order[(9 * n) // 10])
    if p90 < config.texture_fold_min_peak_ratio * max(median, 1e-3):
        return False
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), 2.0)[mask]
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), 2.0)[mask]
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), 2.0)[mask]
    energy = jxx + jyy
    # Energy-weighted coherence: sum(sqrt((jxx-jyy)^2 + 4 jxy^2)) / sum(jxx + jyy).
    oriented = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy)
    return float(oriented.sum()) >= config.texture_fold_min_coherence * float(energy.sum()) + 1e-6


def _most(near: npt.NDArray[np.bool_], n_person: int, cap: float) -> bool:
    """``near`` is more than ``cap`` of the crop's person: the garment itself has that
    colour (khaki on light skin, on light brown hair), or something covers it."""
    return int(near.sum()) > cap * max(n_person, 1)


def _unless_most(near: npt.NDArray[np.bool_], n_person: int, cap: float) -> npt.NDArray[np.bool_]:
    """``near``, or nothing when it is ``_most`` of the crop's person."""
    return np.zeros_like(near) if _most(near, n_person, cap) else near


def _beside(
    band: tuple[float, float, float, float],
) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """The parts left and right of the face box (face-box units) of a band given as
    (nearest, top, farthest, bottom) box widths out and heights down."""
    near, top, far, bottom = band
    return (-far, top, -near, bottom), (1 + near, top, 1 + far, bottom)


def above_face(k: int) -> tuple[float, float, float, float]:
    """The ``k``-th band of 0.3 box heights above the face box (0 the nearest), as a
    part for ``TorsoAnalyzer._reference``: where hair or a hijab starts, then above."""
    return (0.2, -0.3 * (k + 1), 0.8, -0.3 * k)


def overcast(skin: FloatArray | None, config: VisionConfig) -> bool:
    """The face, balanced, is more saturated than skin under a neutral light: the
    balance left a lamp in (a blue wall under a warm lamp reads grey, so grey world
    measured the light as neutral)."""
    return skin is not None and float(np.hypot(skin[1], skin[2])) > config.light_skin_max_chroma


def worn_on_head(above: FloatArray, skin: FloatArray | None, config: VisionConfig) -> bool:
    """The colour above the face is something on the head (hair, a hijab), not the
    skin (a forehead, a bald head)."""
    return skin is None or bool(
        delta_e_2000(above, skin, k_l=config.lightness_weight) >= config.covered_head_min_delta_e
    )


def under_chin(across: FloatArray, down: FloatArray, config: VisionConfig) -> tuple[slice, slice]:
    """Rows and columns of the garment crop in the centre strip right under the chin,
    where a neck, a collar or a tie is, or a hijab's wrap (``covered_band``)."""
    rows = slice(0, int(np.searchsorted(down, config.covered_band, side="right")))
    w = config.layer_centre_half_width
    cols = slice(int(np.searchsorted(across, -w, side="right")), int(np.searchsorted(across, w)))
    return rows, cols


def covered(head: FloatArray, skin: FloatArray, share: float, cfg: VisionConfig) -> bool:
    """What the head wears or grows hangs over the chest: under the chin (``head`` and
    ``skin``, each of the person's pixels there's distance to the colour above the face
    and to the skin's), at least ``share`` of the person has the head's colour, nearer
    it than the skin's. A neck, a collar or a tie is there otherwise; a hijab wraps
    under the chin and falls over the uniform, which then cannot be judged by its colour
    (a black hijab over khaki read as a black top, a pink one as a pink top)."""
    n = len(head)
    if n < cfg.layer_min_pixels:
        return False
    worn = (head < cfg.skin_max_delta_e) & (head < skin)
    return int(worn.sum()) >= share * n


def spread(lab: FloatArray, config: VisionConfig) -> float:
    """How many colours some pixels are: their median ΔE2000 (kL) from their median
    colour (a plain cloth or hair 2-7, a print 10 and more)."""
    centre = column_medians(lab).astype(np.float32)
    return float(np.median(delta_e_2000(lab, centre, k_l=config.lightness_weight)))


def wrapped(skin: FloatArray, config: VisionConfig) -> bool:
    """No neck shows under the chin (``skin``: each of the strip's person pixels'
    distance to the skin's colour), as under a hijab wrapped there, a turtleneck, a
    scarf or a beard over a buttoned collar."""
    n = len(skin)
    near = int((skin < config.skin_max_delta_e).sum())
    return n >= config.layer_min_pixels and near <= config.wrapped_max_skin * n


def printed_under_chin(chest: FloatArray, config: VisionConfig) -> bool:
    """The strip under the chin (``chest``) is of many colours, as a printed hijab
    falling over it is (``TorsoAnalyzer._printed_head`` says whether the head wears
    one). Its colours cannot be matched to the head's the way a plain hijab's are
    (``covered``): hair, its highlights and the wall at its edge make every head a
    palette."""
    return (
        len(chest) >= config.layer_min_pixels
        and spread(chest, config) >= config.print_chest_min_spread
    )


def masked_rows(image: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    """``image[mask]`` of an H x W x C image and an H x W mask, the same rows in the
    same order: ``np.compress`` on the flattened pixels takes a fifth of boolean
    indexing's time (~70 against ~370 µs for a garment crop's Lab)."""
    return np.compress(mask.ravel(), image.reshape(-1, image.shape[-1]), axis=0)


def is_layered(
    lab: FloatArray,
    keep: npt.NDArray[np.bool_],
    across: FloatArray,
    down: FloatArray,
    config: VisionConfig,
) -> bool:
    """A jacket over a shirt: low on the chest, the centre strip's median colour differs
    from both sides' by ``layer_min_delta_e`` while the two sides agree.

    ``across`` and ``down`` are each pixel's column and row position in face heights
    from the face's centre line and from the bottom of its box.
    """
    cfg = config
    # ``across`` and ``down`` increase, so each part is a block of rows and columns:
    # slices, not masks over the whole region (the same pixels, a fifth less cost).
    low = int(np.searchsorted(down, cfg.layer_top, side="left"))
    w, side = cfg.layer_centre_half_width, cfg.layer_side_from
    columns = (
        (int(np.searchsorted(across, -w, side="right")), int(np.searchsorted(across, w))),
        (0, int(np.searchsorted(across, -side, side="right"))),
        (int(np.searchsorted(across, side)), len(across)),
    )
    centre, left, right = (masked_rows(lab[low:, a:b], keep[low:, a:b]) for a, b in columns)
    half = cfg.layer_min_pixels // 2
    if len(centre) < cfg.layer_min_pixels or len(left) < half or len(right) < half:
        return False
    c, lt, rt = (column_medians(part) for part in (centre, left, right))

    def apart(a: FloatArray, b: FloatArray) -> float:
        return float(delta_e_2000(a, b, k_l=cfg.lightness_weight))

    return apart(lt, rt) <= cfg.layer_sides_max_delta_e and (
        min(apart(c, lt), apart(c, rt)) >= cfg.layer_min_delta_e
    )


def solid_or_patterned(
    texture: float | None, share: float, layered: bool, config: VisionConfig
) -> bool | None:
    """True for a solid top, False for a patterned or layered one, None if undecided.

    Patterned takes strong evidence (a layered layout, a clear texture, or no colour
    covering most of the garment), solid takes a plain fabric mostly of one colour; in
    between a human decides (a ribbed knit, a necklace or hair over a plain top is
    often undecided).
    """
    if layered or share < config.patterned_max_share:
        return False
    if texture is None:
        return None
    if texture >= config.texture_patterned_min:
        return False
    if texture <= config.texture_solid_max and share >= config.solid_min_share:
        return True
    return None


class TorsoAnalyzer:
    """Selfie segmentation (landscape model) plus the analysis of the garment."""

    def __init__(self, config: VisionConfig) -> None:
        import mediapipe as mp  # slow import: only when an analyzer is built

        self._config = config
        self._segmenter = on_calling_thread(
            mp.solutions.selfie_segmentation.SelfieSegmentation, model_selection=1
        )

    def close(self) -> None:
        self._segmenter.close()

    def segment(self, rgb: npt.NDArray[np.uint8]) -> Mask:
        """Person probability per pixel, same size as ``rgb``."""
        mask = self._segmenter.process(rgb).segmentation_mask
        return np.asarray(mask, dtype=np.float32)

    def _reference(
        self,
        rgb: npt.NDArray[np.uint8],
        mask: Mask,
        gains: FloatArray,
        part: tuple[float, float, float, float],
        box: Box,
    ) -> FloatArray | None:
        """The median Lab colour of a part of the person: ``part`` is (x0, y0, x1, y1)
        in face-box units. None when the part shows no person."""
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = _pixels(part, box, w, h)
        if x1 <= x0 or y1 <= y0:
            return None
        inside = mask[y0:y1:2, x0:x1:2] > self._config.segmentation_threshold
        if inside.sum() < 10:
            return None
        px = LINEAR_LUT[rgb[y0:y1:2, x0:x1:2][inside]] * gains
        return column_medians(linear_to_lab(np.clip(px, 0.0, 1.0)))

    def _working(
        self,
        rgb: npt.NDArray[np.uint8],
        mask: Mask,
        table: npt.NDArray[np.float32],
        rect: tuple[int, ...],
        size: tuple[int, int],
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """The frame's ``rect`` (x0, y0, x1, y1) area-averaged to ``size``: its Lab
        (``table``: code value to balanced linear light) and where the person is."""
        x0, y0, x1, y1 = rect
        crop = cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
        person = cv2.resize(mask[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
        lab = image_linear_to_lab(np.asarray(cv2.LUT(crop, table), np.float32))
        return lab, person > self._config.segmentation_threshold

    def _printed_head(
        self, rgb: npt.NDArray[np.uint8], mask: Mask, table: npt.NDArray[np.float32], box: Box
    ) -> bool:
        """The band right above the face is a print, not hair: read at
        ``print_head_width`` pixels across (``table``: code value to balanced linear
        light), it has a print's fine structure and a print's ``spread`` of colours.
        The structure is asked first: it costs a fifth of the spread (~0.1 against
        ~0.5 ms), and most heads stop there."""
        cfg = self._config
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = _pixels(above_face(0), box, w, h)
        if x1 - x0 < 8 or y1 - y0 < 4:
            return False
        size = (cfg.print_head_width, max(4, round((y1 - y0) * cfg.print_head_width / (x1 - x0))))
        lab, inside = self._working(rgb, mask, table, (x0, y0, x1, y1), size)
        if inside.sum() < 20:
            return False
        texture = float(high_pass(np.ascontiguousarray(lab[..., 0], np.float32))[inside].mean())
        return (
            texture >= cfg.print_head_min_texture
            and spread(masked_rows(lab, inside), cfg) >= cfg.print_head_min_spread
        )

    def _distance(
        self, ref: FloatArray | None, person_lab: FloatArray, person: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """Each garment-crop pixel's distance to the colour ``ref`` (infinite off the
        person, or everywhere without one); ``person_lab`` is the crop's Lab at the
        ``person`` pixels. Lightness is discounted (kL): hair and skin in shadow are
        still hair and skin. Only the person's pixels, in float32: this distance is the
        stage's largest cost (docs/performance.md), so it is taken once per colour and
        the band under the chin reads its share of it."""
        distance = np.full(person.shape, np.inf, np.float32)
        if ref is not None:
            cfg = self._config
            distance[person] = delta_e_2000(
                person_lab, ref.astype(np.float32), k_l=cfg.lightness_weight
            )
        return distance

    def observe(self, rgb: npt.NDArray[np.uint8], mask: Mask, face: Face) -> TorsoObservation:
        """Describe the garment below ``face``; ``mask`` is ``segment(rgb)``."""
        cfg = self._config
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = garment_region(face, w, h, cfg)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return _not_visible("out_of_frame")
        # A fixed working resolution: a check pattern stays resolved, folds do not.
        scale = min(1.0, cfg.texture_width / (x1 - x0))
        size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))

        # White balance from the background: grey world on a small frame. With too
        # little background (a selfie filling the frame) none: grey world on the person
        # would balance the garment against itself and turn a khaki shirt grey.
        small = cv2.resize(rgb, (80, 60), interpolation=cv2.INTER_AREA)
        small_mask = cv2.resize(mask, (80, 60), interpolation=cv2.INTER_AREA)
        background = small[small_mask <= cfg.segmentation_threshold]
        balance = gray_world(
            background,
            cfg.white_balance_max_gain,
            cfg.white_balance_max_saturation,
            cfg.white_balance_min_pixels,
        )
        # Gains apply in linear light, where a lamp's colour multiplies (gamma ~2.2).
        gains = balance.gains**2.2
        # Code value to balanced linear light in one table per channel: the same values
        # as lookup, gain and clip per pixel, at a sixth of their cost.
        table = np.clip(LINEAR_LUT32[:, None] * gains.astype(np.float32), 0, 1).reshape(256, 1, 3)
        lab, person = self._working(rgb, mask, table, (x0, y0, x1, y1), size)

        # The person's own colours are not the garment: skin (the middle of the face)
        # and whatever the head wears or grows (just above the face box: hair falling
        # on the shoulders, a hijab or a hat brim over the chest; where that is the
        # forehead, beside the face: long hair).
        box = face.box
        n_person = int(person.sum())
        person_lab = masked_rows(lab, person)
        skin_ref = self._reference(rgb, mask, gains, (0.3, 0.45, 0.7, 0.8), box)
        head_ref = self._reference(rgb, mask, gains, above_face(0), box)
        near = cfg.skin_max_delta_e
        skin_distance = self._distance(skin_ref, person_lab, person)
        skin = _unless_most(skin_distance < near, n_person, cfg.skin_max_fraction)
        head_distance = self._distance(head_ref, person_lab, person)
        near_head = head_distance < near
        head_fills = _most(near_head, n_person, cfg.hair_max_fraction)
        head = np.zeros_like(near_head) if head_fills else near_head
        if not head.any() or (head & skin).sum() >= cfg.hair_above_skin_share * head.sum():
            for side in _beside(cfg.hair_beside_face):
                ref = self._reference(rgb, mask, gains, side, box)
                beside = self._distance(ref, person_lab, person) < near
                head |= _unless_most(beside, n_person, cfg.hair_max_fraction)
        # Each working pixel's position in face heights, for the layered layout.
        across = ((np.arange(size[0]) + 0.5) / scale + x0 - box.cx) / face.size
        down = ((np.arange(size[1]) + 0.5) / scale + y0 - box.bottom) / face.size
        # A hijab wraps under the chin: the head's colour filling the chest there may be
        # it, not the uniform (the verdict then withholds a FAIL: ``covered_fraction``).
        # Where the nearest band above the face is partly the forehead its median mixes
        # the two, so the bands above it are asked too, as long as each is not the skin.
        rows, cols = under_chin(across, down, cfg)
        there = person[rows, cols]
        chest = masked_rows(lab[rows, cols], there)
        chest_skin = skin_distance[rows, cols][there]
        # Where the head's colour fills the region around the strip too, less of the
        # strip will do: a hijab open at the front shows the uniform under the chin.
        share = cfg.covered_filled_min_share if head_fills else cfg.covered_min_share
        chest_covered = False
        ref = head_ref
        for k in range(cfg.covered_head_bands):
            if k:
                ref = self._reference(rgb, mask, gains, above_face(k), box)
            if ref is None or not worn_on_head(ref, skin_ref, cfg):
                break
            chest_head = (
                delta_e_2000(chest, ref.astype(np.float32), k_l=cfg.lightness_weight)
                if k
                else head_distance[rows, cols][there]
            )
            if covered(chest_head, chest_skin, share, cfg):
                chest_covered = True
                break
        if not chest_covered:
            # A print under the chin is a printed hijab's where the head wears a print,
            # or wears anything and no neck shows (the band above may be its ground).
            worn = head_ref is not None and worn_on_head(head_ref, skin_ref, cfg)
            hijab = (worn and wrapped(chest_skin, cfg)) or self._printed_head(rgb, mask, table, box)
            chest_covered = hijab and printed_under_chin(chest, cfg)
        # Hair falls beside the neck, not down the middle of the chest: there the colour
        # of the head is a shirt or sweater under a jacket, which must stay in the garment.
        head[:, np.abs(across) <= cfg.layer_centre_half_width] = False
        skin_share = float(skin.sum()) / max(n_person, 1)
        keep = person & ~skin & ~head
        pixels = round(float(keep.sum()) / (scale * scale))
        if pixels < cfg.torso_min_pixels:
            return _not_visible("too_few_pixels", pixels, skin_share)

        layered = is_layered(lab, keep, across, down, cfg)
        # Texture is read on the fabric with the person's own colours taken out as
        # regions (the neck, a hand, a mass of hair), not as the thin bands of a print
        # that share one of them: a check's dark bands under dark hair, black stripes
        # near dark skin's colour. Without them the print's other colour reads as plain.
        width = cfg.texture_own_min_width
        own_regions = cv2.morphologyEx(
            (skin | head).astype(np.uint8), cv2.MORPH_OPEN, np.ones((width, width), np.uint8)
        )
        fabric = (person & (own_regions == 0)).astype(np.uint8)
        inner = cv2.erode(fabric, np.ones((3, 3), np.uint8), iterations=2) > 0
        lightness = np.ascontiguousarray(lab[..., 0], dtype=np.float32)
        high = high_pass(lightness)
        texture = float(high[inner].mean()) if inner.sum() >= 50 else None
        garment = masked_rows(lab, keep)
        groups = colour_groups(
            garment[:: max(1, len(garment) // CLUSTER_POINTS)],
            cfg.kmeans_k,
            cfg.kmeans_iterations,
            cfg.cluster_merge_delta_e,
            cfg.lightness_weight,
        )
        top = groups[0]
        solid = solid_or_patterned(texture, top.share, layered, cfg)
        if solid is None and texture is not None:
            if top.share >= cfg.texture_fold_min_share and folds_only(lightness, high, inner, cfg):
                solid = True  # undecided, but its texture is its folds and collar: plain
            elif chroma_texture(lab, inner) >= cfg.texture_chroma_patterned_min:
                solid = False  # undecided, but its colours are printed: patterned
        return TorsoObservation(
            visible=True,
            reason=None,
            pixels=pixels,
            skin=skin_share,
            texture=texture,
            solid=solid,
            solid_share=top.share,
            lab=top.lab,
            groups=tuple(groups),
            layered=layered,
            light_measured=balance.measured and not overcast(skin_ref, cfg),
            covered=chest_covered,
        )
