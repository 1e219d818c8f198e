"""Colour science for the uniform check: sRGB to CIE Lab, ΔE2000, named colours.

Written in numpy rather than taken from a library so that the runtime needs nothing
beyond numpy and OpenCV, and so that the formula is visible; the tests compare it
with scikit-image. Lab is D65, L in 0..100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# sRGB (D65) to XYZ, and the D65 white point.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS = 216 / 24389
_KAPPA = 24389 / 27


_CODES = np.arange(256, dtype=np.float64) / 255.0
LINEAR_LUT = np.where(_CODES <= 0.04045, _CODES / 12.92, ((_CODES + 0.055) / 1.055) ** 2.4)
"""sRGB code value (0..255) to linear light, for uint8 pixels without a power per pixel."""
LINEAR_LUT32 = LINEAR_LUT.astype(np.float32)


def rgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """Convert sRGB values in 0..255 (any shape ending in 3) to Lab."""
    arr = np.asarray(rgb)
    if arr.dtype == np.uint8:
        return linear_to_lab(LINEAR_LUT[arr])
    c = arr.astype(np.float64) / 255.0
    return linear_to_lab(np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4))


def linear_to_lab(lin: npt.ArrayLike) -> FloatArray:
    """Convert linear-light RGB (0..1, any shape ending in 3) to Lab."""
    xyz = np.asarray(lin, dtype=np.float64) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    lab = np.empty(f.shape, dtype=np.float64)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def image_linear_to_lab(lin: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """An H x W x 3 float32 linear-light image (0..1) to Lab in float32, by OpenCV:
    a tenth of ``linear_to_lab``'s cost on a garment crop, and within 0.03 of it."""
    return np.asarray(cv2.cvtColor(lin, cv2.COLOR_LRGB2Lab), dtype=np.float32)


def column_medians(points: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """``np.median(points, axis=0)`` of an N x 3 array (N > 0), the same values: one
    partition of its columns laid out as rows, without the general function's axis
    moves and checks (a quarter less time on a few thousand pixels)."""
    n = points.shape[0]
    rows = np.ascontiguousarray(points.T)
    mid = n // 2
    if n % 2:
        rows.partition(mid, axis=1)
        return rows[:, mid].copy()
    rows.partition((mid - 1, mid), axis=1)
    return np.asarray((rows[:, mid - 1] + rows[:, mid]) / 2)


def lab_to_linear(lab: npt.ArrayLike) -> FloatArray:
    """Convert Lab to linear-light RGB (not clipped: out of gamut stays out)."""
    lab_a = np.asarray(lab, dtype=np.float64)
    fy = (lab_a[..., 0] + 16) / 116
    fx = fy + lab_a[..., 1] / 500
    fz = fy - lab_a[..., 2] / 200
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    return np.asarray(xyz @ _XYZ_TO_RGB.T, dtype=np.float64)


def lab_to_rgb(lab: npt.ArrayLike) -> FloatArray:
    """Convert Lab to sRGB in 0..255 (clipped to the gamut)."""
    lin = np.clip(lab_to_linear(lab), 0.0, 1.0)
    c = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.asarray(np.clip(c * 255.0, 0.0, 255.0), dtype=np.float64)


def lab_to_hex(lab: npt.ArrayLike) -> str:
    """``#RRGGBB`` of a Lab colour."""
    r, g, b = (int(round(v)) for v in lab_to_rgb(lab).reshape(3))
    return f"#{r:02X}{g:02X}{b:02X}"


# T = 1 - 0.17 cos(h - 30°) + 0.24 cos 2h + 0.32 cos(3h + 6°) - 0.20 cos(4h - 63°), each
# term A cos(nh - φ) written A cos φ cos nh + A sin φ sin nh: (A cos φ, A sin φ) for n = 1..4.
_T_TERMS = tuple(
    (amp * math.cos(math.radians(phase)), amp * math.sin(math.radians(phase)))
    for amp, phase in ((-0.17, 30.0), (0.24, 0.0), (0.32, -6.0), (-0.20, 63.0))
)
_COS_275, _SIN_275 = math.cos(math.radians(275.0)), math.sin(math.radians(275.0))
_COS_85 = math.cos(math.radians(85.0))
_TINY = 1e-30
"""Floor of a norm that divides (a normal number in float32 as in float64)."""


def delta_e_2000(lab1: npt.ArrayLike, lab2: npt.ArrayLike, k_l: float = 1.0) -> FloatArray:
    """CIEDE2000 colour difference (broadcasting over leading axes).

    ``k_l`` > 1 discounts lightness differences, as textile colour matching does.
    Computed in float32 when both inputs are float32 (for the per-pixel masks;
    differences agree to ~1e-4 ΔE), else in float64.

    The textbook formula (Sharma, Wu and Dalal 2005) with the hues as unit vectors
    rather than angles: the hue difference is their chord, the mean hue their bisector,
    T its cosines and sines of multiples by angle-sum identities, and one arcsine (for
    the rotation term, near 275°) the only inverse trigonometric function. The same
    values to ~1e-12 in float64, at about a third of the angle form's cost (one
    reference colour against a garment crop's ~17,000 pixels: ~1 ms against ~3).
    Intermediates live in helpers, so that fewer are held at once: a pixel array's
    temporaries are fresh memory (page faults) each call.
    """
    a, b = np.asarray(lab1), np.asarray(lab2)
    dtype = np.float32 if a.dtype == b.dtype == np.float32 else np.float64
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    l1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    l2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]
    g1 = 1.5 - 0.5 * _chroma_weight((np.sqrt(a1 * a1 + b1 * b1) + np.sqrt(a2 * a2 + b2 * b2)) / 2)
    c1p, x1, y1 = _chroma_and_hue(g1 * a1, b1)
    c2p, x2, y2 = _chroma_and_hue(g1 * a2, b2)
    del g1
    # Which way h2 turns from h1: the sign of sin Δh (h2 - h1), their cross product's.
    cross = x1 * y2 - y1 * x2
    turn = np.sign(cross)
    zero = cross == 0
    del cross
    if zero.any():
        # Exactly opposite hues (not a neutral colour, not equal hues): the textbook
        # takes Δh = +180° and the mean (h1 + h2) / 2 when h1 < h2 in [0°, 360°).
        opposite = zero & (x1 * x2 + y1 * y2 < 0)
        first_lower = (y1 > 0) | ((y1 == 0) & (x1 > 0))
        turn = np.where(opposite, np.where(first_lower, 1, -1), turn).astype(dtype)
    # ΔH' = 2 sqrt(C1' C2') sin(Δh/2), |2 sin(Δh/2)| the chord between the vectors.
    dx, dy = x2 - x1, y2 - y1
    d_big_h = np.copysign(np.sqrt(c1p * c2p * (dx * dx + dy * dy)), turn)
    # The mean hue bisects the shorter arc: the direction of the vectors' sum (the
    # other hue's when one colour is neutral, as the textbook's h1 + h2 gives), which
    # is also their difference's turned a right angle towards it; their total keeps
    # its precision from equal to opposite hues, where the sum alone vanishes.
    t, rotation = _hue_terms(x1 + x2 + turn * dy, y1 + y2 - turn * dx)
    del dx, dy, turn, x1, y1, x2, y2
    cp_bar = (c1p + c2p) / 2
    dc = c2p - c1p
    del c1p, c2p
    # R_T = -sin(2Δθ) R_C, with R_C = 2 sqrt(C̄'^7 / (C̄'^7 + 25^7)).
    r_t = -2 * _chroma_weight(cp_bar) * rotation
    l_off2 = ((l1 + l2) / 2 - 50) ** 2
    tl = (l2 - l1) / (k_l * (1 + 0.015 * l_off2 / np.sqrt(20 + l_off2)))
    del l_off2
    tc = dc / (1 + 0.045 * cp_bar)
    th = d_big_h / (1 + 0.015 * cp_bar * t)
    del d_big_h, t, cp_bar
    return np.asarray(np.sqrt(np.maximum(tl * tl + tc * tc + th * th + r_t * tc * th, 0.0)))


def _chroma_weight(chroma: FloatArray) -> FloatArray:
    """sqrt(C^7 / (C^7 + 25^7)): G is 0.5 (1 - it), R_C twice it."""
    c2 = chroma * chroma
    c7 = c2 * c2 * c2 * chroma
    return np.asarray(np.sqrt(c7 / (c7 + 25.0**7)))


def _chroma_and_hue(a_p: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """C' and the unit vector of the hue, (0, 0) for a neutral colour (the textbook's
    hue 0 and zero hue difference there: the chord is multiplied by zero chroma)."""
    chroma = np.sqrt(a_p * a_p + b * b)
    inv = 1 / np.maximum(chroma, _TINY)
    return chroma, a_p * inv, b * inv


def _hue_terms(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """T and sin(2Δθ) of the mean hue in the direction (x, y)."""
    inv = 1 / np.maximum(np.sqrt(x * x + y * y), _TINY)
    cos_h, sin_h = x * inv, y * inv
    del inv
    t = 1 + _T_TERMS[0][0] * cos_h + _T_TERMS[0][1] * sin_h
    cos_n, sin_n = cos_h, sin_h
    for cos_coeff, sin_coeff in _T_TERMS[1:]:
        cos_n, sin_n = cos_n * cos_h - sin_n * sin_h, sin_n * cos_h + cos_n * sin_h
        t += cos_coeff * cos_n + sin_coeff * sin_n
    del cos_n, sin_n
    # Δθ = 30° exp(-((h̄ - 275°) / 25°)²) with h̄ in [0°, 360°): ψ = h̄ - 275° from the
    # rotated vector (|ψ| from the arcsine of its sine and the sign of its cosine).
    # Where h̄ < 95° the textbook's h̄ - 275° is ψ - 360° (under -180°: Δθ < 1e-21°);
    # ψ + 180° there gives the same nothing (< 1e-47°).
    cos_psi = cos_h * _COS_275 + sin_h * _SIN_275
    sin_psi = sin_h * _COS_275 - cos_h * _SIN_275
    del cos_h, sin_h
    half_pi = math.pi / 2
    psi = half_pi - np.copysign(half_pi - np.arcsin(np.minimum(np.abs(sin_psi), 1)), cos_psi)
    psi += math.pi * ((sin_psi > 0) & (cos_psi <= _COS_85))
    del cos_psi, sin_psi
    # 2Δθ in radians: 60° exp(...), with ψ in radians.
    return t, np.sin((math.pi / 3) * np.exp(-((psi * (180 / (25 * math.pi))) ** 2)))


def hex_to_rgb(text: str) -> tuple[int, int, int]:
    """Parse ``#RRGGBB`` (or ``#RGB``); raises ValueError otherwise."""
    s = text.strip().lstrip("#")
    if len(s) == 3:
        s = "".join(ch * 2 for ch in s)
    if len(s) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in s):
        raise ValueError(f"not a hex colour: {text!r} (expected #RRGGBB)")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)


@dataclass(frozen=True)
class Box:
    """Bounds in CIE LCh: lightness, chroma, and a hue angle range in degrees (None for
    neutral colours, whose hue means nothing)."""

    lightness: tuple[float, float]
    chroma: tuple[float, float]
    hue: tuple[float, float] | None = None

    def distance(self, lightness: float, chroma: float, hue: float) -> float:
        """0 inside, else the larger of the overshoot in L and the distance in the a*b*
        plane to the box's chroma and hue sector: a colour of the box's hue by its
        chroma's overshoot, one of another hue to the sector's nearest edge (so a hue at
        low chroma, near grey, counts little, and more chroma of a wrong hue never
        brings a colour closer)."""
        over_l = max(self.lightness[0] - lightness, lightness - self.lightness[1], 0.0)
        return max(over_l, self._plane_distance(chroma, hue))

    def _plane_distance(self, chroma: float, hue: float) -> float:
        c0, c1 = self.chroma
        if self.hue is None or self.hue[0] <= hue <= self.hue[1]:
            return max(c0 - chroma, chroma - c1, 0.0)
        lo, hi = self.hue
        off = math.radians(min((lo - hue) % 360, (hue - hi) % 360))
        # The colour in the frame of the nearest edge: along it, and across it.
        along, across = chroma * math.cos(off), chroma * math.sin(off)
        return math.hypot(along - min(max(along, c0), c1), across)


@dataclass(frozen=True)
class Region:
    """A named colour as a region of CIE LCh (a union of boxes), not a point: a white
    shirt is any light, nearly neutral cloth, whatever tint the lamp and the white
    balance leave it. ``margin`` is the width of the undecided band around it."""

    boxes: tuple[Box, ...]
    margin: float = 6.0

    def distance(self, lab: npt.ArrayLike) -> float:
        """0 inside the region, else how far outside its nearest box (L, C units)."""
        lab_a = np.asarray(lab, dtype=np.float64).reshape(3)
        lightness, chroma = float(lab_a[0]), float(np.hypot(lab_a[1], lab_a[2]))
        hue = float(np.degrees(np.arctan2(lab_a[2], lab_a[1])) % 360)
        return min(b.distance(lightness, chroma, hue) for b in self.boxes)


@dataclass(frozen=True)
class NamedColour:
    """A colour people name in a uniform rule, with the sRGB a webcam typically sees,
    and for the uniform colours a region that decides what still counts as it."""

    name: str
    hex: str
    region: Region | None = None

    @property
    def lab(self) -> FloatArray:
        return rgb_to_lab(hex_to_rgb(self.hex))


# Representative fabric colours as a webcam renders them indoors (not the pure
# primaries: a "white" shirt is rarely above L 90, "navy" cloth is not #000080).
PALETTE: tuple[NamedColour, ...] = (
    # PDH khaki: from beige to tan, from a light wash to an olive-brown drill.
    NamedColour("khaki", "#C3B091", Region((Box((40, 84), (9, 40), (50, 110)),))),
    # White to off-white: nearly neutral, or very light with the tint a lamp or the
    # white balance leaves (khaki is darker and keeps its chroma at any exposure); a
    # warm lamp corrected by grey world, or a camera's cool grade, leaves a cool residue
    # (cyan to blue), where no khaki lies.
    NamedColour(
        "white",
        "#F0F0EC",
        Region(
            (
                Box((62, 100), (0, 10)),
                Box((62, 100), (0, 13), (180, 300)),
                Box((84, 100), (0, 22)),
            )
        ),
    ),
    NamedColour("black", "#1E1E1E", Region((Box((0, 24), (0, 9)),))),
    NamedColour("grey", "#8C8C8C", Region((Box((24, 78), (0, 7)),))),
    NamedColour("navy", "#1F2A4A", Region((Box((8, 38), (6, 40), (230, 300)),))),
    NamedColour("blue", "#2D5AA8"),
    NamedColour("green", "#2E7D3A"),
    NamedColour("orange", "#E06A28"),
    NamedColour("red", "#C0262D"),
    NamedColour("brown", "#6B4630"),
    NamedColour("maroon", "#7A1F2B"),
    NamedColour("cream", "#EDE3C8", Region((Box((80, 100), (8, 26), (70, 105)),))),
    NamedColour("yellow", "#E8C530"),
    NamedColour("purple", "#6A3D8F"),
    NamedColour("pink", "#E58FB0"),
)
PALETTE_BY_NAME = {c.name: c for c in PALETTE}
_ALIASES = {"gray": "grey"}
_PALETTE_LAB = np.stack([c.lab for c in PALETTE])


def parse_colour(text: str) -> NamedColour:
    """A palette name (case-insensitive) or a hex value, as a NamedColour.

    A hex value keeps its canonical upper-case ``#RRGGBB`` as its name.
    """
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    if key in PALETTE_BY_NAME:
        return PALETTE_BY_NAME[key]
    if key.startswith("#"):
        r, g, b = hex_to_rgb(key)
        canonical = f"#{r:02X}{g:02X}{b:02X}"
        return NamedColour(canonical, canonical)
    names = ", ".join(c.name for c in PALETTE)
    raise ValueError(f"unknown colour {text!r}: use one of {names}, or a hex value like #C3B091")


def nearest_name(lab: npt.ArrayLike, k_l: float = 1.0) -> str:
    """Name of the palette colour for ``lab``: among the colours whose region holds it,
    the one with the nearest point; if none does, the nearest point of all (so a neutral
    grey is "grey", never a brown that happens to be close)."""
    point = np.asarray(lab, dtype=np.float64)
    d = delta_e_2000(point[None, :], _PALETTE_LAB, k_l=k_l)
    holding = [
        i for i, c in enumerate(PALETTE) if c.region is not None and c.region.distance(point) == 0
    ]
    candidates = holding or range(len(PALETTE))
    return PALETTE[min(candidates, key=lambda i: float(d[i]))].name


def under_casts(lab: npt.ArrayLike, warmest: float, coolest: float, steps: int) -> FloatArray:
    """``lab`` as it would read had the light been neutral, for each light from the
    coolest to the warmest (their red-over-blue ratio in linear light, relative to the
    white balance's): ``steps`` + 1 colours, each the colour with that cast taken out
    (red and blue scaled by the ratio's square root each way, green kept)."""
    linear = lab_to_linear(lab).reshape(3)
    ratios = np.exp(np.linspace(-math.log(coolest), math.log(warmest), steps + 1))
    gains = np.stack([1 / np.sqrt(ratios), np.ones_like(ratios), np.sqrt(ratios)], axis=-1)
    return linear_to_lab(np.clip(linear * gains, 0.0, None))


@dataclass(frozen=True)
class WhiteBalance:
    """Per-channel gains (on code values) and whether they measured the light."""

    gains: FloatArray
    measured: bool
    """Near-grey pixels set the gains within their cap: the light's colour was measured
    and taken out. False when there was no grey to measure on (a strongly coloured
    light tints every wall) or the cast was beyond the cap: the colours then keep a
    cast of unknown strength."""


def gray_world(
    rgb_pixels: npt.ArrayLike, max_gain: float, max_saturation: float, min_pixels: int = 0
) -> WhiteBalance:
    """The gains that make the near-neutral pixels of ``rgb_pixels`` grey.

    Grey world restricted to pixels that are already nearly grey (saturation under
    ``max_saturation``, not dark): walls and ceilings rather than a red flag, a green
    plant or a cream wall, which would otherwise be "corrected" into a cast. Capped at
    ``max_gain`` either way. Fewer than ``min_pixels`` pixels measure nothing.
    """
    px = np.asarray(rgb_pixels, dtype=np.float64).reshape(-1, 3)
    if px.shape[0] < min_pixels:
        return WhiteBalance(np.ones(3), measured=False)
    # Channel by channel: numpy's max and min over an axis of 3 cost 20 times more.
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    hi, lo = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    neutral = px[(hi > 40) & ((hi - lo) < max_saturation * np.maximum(hi, 1e-6))]
    if neutral.shape[0] < 50:
        return WhiteBalance(np.ones(3), measured=False)
    mean = neutral.mean(axis=0)
    gains = mean.mean() / np.maximum(mean, 1e-6)
    capped = np.clip(gains, 1 / max_gain, max_gain)
    return WhiteBalance(np.asarray(capped, dtype=np.float64), bool(np.all(capped == gains)))
