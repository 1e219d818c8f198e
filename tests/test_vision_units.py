"""Unit tests of the vision package: colour maths, uniform policies, camera states,
the check window's rules, and the config version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.color import deltaE_ciede2000, rgb2lab

from vision.camera import CameraObservation, CameraState, observe
from vision.check import CheckWindow
from vision.clusters import ColourGroup
from vision.colour import (
    PALETTE,
    column_medians,
    delta_e_2000,
    gray_world,
    lab_to_hex,
    parse_colour,
    rgb_to_lab,
)
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face import Box, Face, FaceObservation, FaceStatus
from vision.sample import SampleResult
from vision.torso import (
    FloatArray,
    Mask,
    TorsoAnalyzer,
    TorsoObservation,
    folds_only,
    high_pass,
    is_layered,
    masked_rows,
)
from vision.uniform import UniformKind, parse_uniform_policy
from vision.verdict import Reason, Verdict

# --- colour -------------------------------------------------------------------------


def test_lab_and_delta_e_match_scikit_image() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 256, (500, 3)), rng.integers(0, 256, (500, 3))
    la, lb = rgb_to_lab(a), rgb_to_lab(b)
    assert np.allclose(la, rgb2lab(a[None] / 255.0)[0], atol=0.01)
    assert np.allclose(rgb_to_lab(a.astype(np.uint8)), la, atol=1e-9)
    # scikit-image ships py.typed but leaves deltaE_ciede2000 unannotated.
    assert np.allclose(delta_e_2000(la, lb), deltaE_ciede2000(la, lb), atol=1e-9)  # type: ignore[no-untyped-call]
    assert np.allclose(delta_e_2000(la, lb, k_l=2), deltaE_ciede2000(la, lb, kL=2), atol=1e-9)  # type: ignore[no-untyped-call]


# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula", table 1: the 34
# pairs and their ΔE00 (kL = kC = kH = 1), among them neutral colours, hues either side
# of 0°/360° and of exactly opposite hues (pairs 9-15), where the mean hue's branch flips.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, -1.1848, -84.8006), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, -0.9009, -85.5211), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, -1.0, 2.0), (50.0, 0.0, 0.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0010), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0012), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0010, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 3.2972, 0.0), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 1.8634, 0.5757), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_delta_e_matches_the_published_test_data(dtype: type[np.floating[Any]]) -> None:
    first = np.array([p[0] for p in SHARMA_PAIRS], dtype=dtype)
    second = np.array([p[1] for p in SHARMA_PAIRS], dtype=dtype)
    expected = np.array([p[2] for p in SHARMA_PAIRS])
    # The table gives four decimals; the formula is symmetric in its two colours.
    assert np.abs(delta_e_2000(first, second) - expected).max() <= 1e-4
    assert np.abs(delta_e_2000(second, first) - expected).max() <= 1e-4


def _lab_pairs(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    """Random Lab pairs, with neutral and near-neutral colours, hues either side of
    0°/360°, nearly opposite hues and mean hues near 275° (the rotation term's)."""

    def ab(hue_deg: FloatArray, chroma: FloatArray) -> FloatArray:
        h = np.radians(hue_deg)
        return np.stack([chroma * np.cos(h), chroma * np.sin(h)], axis=-1)

    first = np.column_stack([rng.uniform(0, 100, n), rng.uniform(-110, 110, (n, 2))])
    second = np.column_stack([rng.uniform(0, 100, n), rng.uniform(-110, 110, (n, 2))])
    q = n // 8
    first[:q, 1:] = 0.0  # neutral
    second[q // 2 : 3 * q // 2, 1:] = 0.0  # neutral, some of them against a neutral
    first[q : 2 * q, 1:] *= 1e-3  # near-neutral
    hue = rng.uniform(-1.0, 1.0, q)
    first[2 * q : 3 * q, 1:] = ab(hue, rng.uniform(1, 60, q))  # either side of 0°
    second[2 * q : 3 * q, 1:] = ab(-hue[::-1], rng.uniform(1, 60, q))
    hue = rng.uniform(0, 360, q)
    offset = rng.choice([-1.0, 1.0], q) * 10 ** rng.uniform(-2, 1, q)
    first[3 * q : 4 * q, 1:] = ab(hue, np.full(q, 20.0))  # nearly opposite
    second[3 * q : 4 * q, 1:] = ab(hue + 180 + offset, rng.uniform(5, 40, q))
    hue = 275 + rng.uniform(-40, 40, q)
    first[4 * q : 5 * q, 1:] = ab(hue, rng.uniform(1, 80, q))  # mean hue near 275°
    second[4 * q : 5 * q, 1:] = ab(hue + rng.uniform(-30, 30, q), rng.uniform(1, 80, q))
    return first, second


@pytest.mark.parametrize("k_l", [1.0, 2.0])
def test_delta_e_agrees_with_the_angle_form(k_l: float) -> None:
    """The unit-vector form against scikit-image's textbook angle form, in float64 and
    in the float32 of the per-pixel masks (pairs, and pixels against one reference)."""
    first, second = _lab_pairs(np.random.default_rng(11), 40_000)
    textbook = deltaE_ciede2000(first, second, kL=k_l)  # type: ignore[no-untyped-call]
    assert np.abs(delta_e_2000(first, second, k_l=k_l) - textbook).max() <= 1e-9
    f32 = delta_e_2000(first.astype(np.float32), second.astype(np.float32), k_l=k_l)
    assert f32.dtype == np.float32
    exact = deltaE_ciede2000(  # type: ignore[no-untyped-call]
        first.astype(np.float32).astype(np.float64),
        second.astype(np.float32).astype(np.float64),
        kL=k_l,
    )
    assert np.abs(f32 - exact).max() <= 1e-3
    for reference in ([62.0, 14.0, 18.0], [30.0, 2.0, -40.0], [50.0, 0.0, 0.0]):
        ref = np.array(reference, dtype=np.float32)
        d = delta_e_2000(first.astype(np.float32), ref, k_l=k_l)
        exact = deltaE_ciede2000(  # type: ignore[no-untyped-call]
            first.astype(np.float32).astype(np.float64),
            np.broadcast_to(ref.astype(np.float64), first.shape),
            kL=k_l,
        )
        assert np.abs(d - exact).max() <= 1e-3


@pytest.mark.parametrize("n", [1, 2, 7, 2000, 2001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_medians_are_numpys_median(n: int, dtype: type[np.floating[Any]]) -> None:
    points = np.random.default_rng(n).normal(50, 20, (n, 3)).astype(dtype)
    points[n // 2 :, 0] = points[0, 0]  # ties
    medians = column_medians(points)
    assert medians.dtype == dtype
    assert np.array_equal(medians, np.median(points, axis=0))


def test_masked_rows_are_boolean_indexing() -> None:
    rng = np.random.default_rng(3)
    image = rng.random((40, 30, 3)).astype(np.float32)
    mask = rng.random((40, 30)) < 0.6
    assert np.array_equal(masked_rows(image, mask), image[mask])
    part = (slice(10, None), slice(5, 20))  # a view that is not contiguous
    assert np.array_equal(masked_rows(image[part], mask[part]), image[part][mask[part]])


@given(st.tuples(*[st.integers(0, 255)] * 3))
@settings(max_examples=50, deadline=None)
def test_hex_round_trip(rgb: tuple[int, int, int]) -> None:
    hex_ = "#{:02X}{:02X}{:02X}".format(*rgb)
    assert lab_to_hex(rgb_to_lab(rgb)) == hex_


def test_palette_names_are_distinct_and_self_nearest() -> None:
    from vision.colour import nearest_name

    for c in PALETTE:
        assert nearest_name(c.lab) == c.name
    for name in (
        "khaki",
        "white",
        "black",
        "grey",
        "navy",
        "blue",
        "green",
        "orange",
        "red",
        "brown",
        "maroon",
    ):
        assert parse_colour(name).name == name
    assert parse_colour("Gray").name == "grey"
    assert parse_colour("#c3b091").name == "#C3B091"


# --- uniform policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("solid", "solid"),
        ("SOLID", "solid"),
        ("solid:khaki", "solid:khaki"),
        ("solid: Khaki , white", "solid:khaki,white"),
        ("solid:#c3b091", "solid:#C3B091"),
        ("solid:khaki,khaki", "solid:khaki"),
        ("patterned", "patterned"),
        ("any", "any"),
    ],
)
def test_parse_uniform_policy(text: str, canonical: str) -> None:
    p = parse_uniform_policy(text)
    assert str(p) == canonical == p.text
    assert parse_uniform_policy(str(p)) == p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("stripes", "unknown uniform policy"),
        ("solid:", "empty colour"),
        ("solid:khaki,", "empty colour"),
        ("solid:pinkish", "unknown colour"),
        ("solid:#12345", "not a hex colour"),
        ("patterned:red", "takes no colours"),
        ("any:red", "takes no colours"),
    ],
)
def test_parse_uniform_policy_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_uniform_policy(text)


def test_policy_kinds() -> None:
    assert parse_uniform_policy("solid:navy").kind is UniformKind.SOLID
    assert parse_uniform_policy("solid:navy").colours[0].name == "navy"
    with pytest.raises(ValueError):
        parse_uniform_policy("#C3B091")


# --- camera ---------------------------------------------------------------------------


def _scene(
    rng: np.random.Generator, scale: float = 1.0, noise: float = 3.0
) -> npt.NDArray[np.uint8]:
    yy, xx = np.mgrid[0:480, 0:640]
    base = 60 + 120 * ((xx // 40 + yy // 40) % 2)
    img: npt.NDArray[np.float64] = np.stack([base, base * 0.9, base * 0.8], axis=-1) * scale
    return np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)


def test_camera_states() -> None:
    rng = np.random.default_rng(1)
    cfg = DEFAULT_CONFIG
    assert observe(np.zeros((480, 640, 3), np.uint8), cfg).state is CameraState.BLACK
    flat = np.clip(60 + rng.normal(0, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
    assert observe(flat, cfg).state is CameraState.COVERED
    assert observe(_scene(rng), cfg).state is CameraState.OK
    assert observe(_scene(rng, scale=0.12, noise=1.0), cfg).state is CameraState.LOW_LIGHT


# --- check window with synthetic samples ------------------------------------------------


def _sample(
    t: float,
    *,
    state: CameraState = CameraState.OK,
    face: FaceStatus = FaceStatus.OK,
    lab: tuple[float, float, float] | None = (73.0, 2.0, 18.0),
    solid: bool = True,
    thumb_seed: int | None = None,
    person: float = 0.3,
    light_measured: bool = False,
    covered: bool = False,
) -> SampleResult:
    rng = np.random.default_rng(int(t * 1000) if thumb_seed is None else thumb_seed)
    # Whole grey levels, as ``vision.camera.thumbnail`` gives (the window keeps uint8).
    thumb = np.round(rng.normal(128, 3, (120, 160))).astype(np.float32)
    camera = CameraObservation(state, 120.0, 40.0, 3.0, 0.3, thumb)
    fo = FaceObservation(face, 1, 1, Face(Box(250, 80, 120, 120), 0.9, 130.0), "short")
    torso = TorsoObservation(
        lab is not None,
        None if lab else "too_few_pixels",
        9000,
        0.0,
        2.0 if solid else 12.0,
        solid if lab else None,
        0.8 if solid else 0.3,
        lab,
        light_measured=light_measured,
        covered=covered,
    )
    picture = state is not CameraState.BLACK
    return SampleResult(
        t,
        fo if picture else None,
        camera,
        person if picture else None,
        torso if face is FaceStatus.OK else None,
    )


def _window(
    samples: list[SampleResult], policy: str = "solid:khaki", config: VisionConfig = DEFAULT_CONFIG
) -> CheckWindow:
    w = CheckWindow(config, parse_uniform_policy(policy))
    for s in samples:
        w.add(s)
    return w


def test_partial_verdict_grows_from_too_few_samples_to_pass() -> None:
    w = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy("solid:khaki"))
    assert w.verdict().verdict is Verdict.INCONCLUSIVE
    for i in range(6):
        w.add(_sample(float(i)))
        v = w.verdict()
        expected = Verdict.PASS if i + 1 >= DEFAULT_CONFIG.min_samples else Verdict.INCONCLUSIVE
        assert v.verdict is expected
    assert v.version == DEFAULT_CONFIG.version
    d = v.to_dict()
    assert set(d) >= {"verdict", "criteria", "reasons", "samples", "version"}
    assert set(d["criteria"]) == {"face", "camera", "uniform"}
    for crit in d["criteria"].values():
        assert set(crit) >= {"verdict", "reasons", "scores"}
    assert set(d["criteria"]["uniform"]["colour"]) >= {"name", "hex"}


def test_colour_between_thresholds_is_uncertain() -> None:
    # A hex colour is judged by ΔE2000 to its point: ~12 is between match 10 and
    # mismatch 14.
    khaki = parse_colour("khaki").lab
    target = None
    for db in np.linspace(0, 30, 301):
        cand = (float(khaki[0]), float(khaki[1]), float(khaki[2] - db))
        if 11.5 < float(delta_e_2000(np.array(cand), khaki, k_l=2)) < 12.5:
            target = cand
            break
    assert target is not None
    v = _window([_sample(float(i), lab=target) for i in range(6)], "solid:#C3B091").verdict()
    assert v.uniform.verdict is Verdict.INCONCLUSIVE
    assert v.uniform.reasons == (Reason.COLOUR_UNCERTAIN,)


def test_colour_regions_have_an_undecided_margin() -> None:
    # Khaki is a region of LCh: inside it matches, within its margin (6) it is
    # undecided, beyond it is the wrong colour.
    def judged(lab: tuple[float, float, float]) -> tuple[Verdict, tuple[Reason, ...]]:
        v = _window([_sample(float(i), lab=lab) for i in range(6)], "solid:khaki").verdict()
        return v.uniform.verdict, v.uniform.reasons

    assert judged((70.0, 3.0, 20.0)) == (Verdict.PASS, ())  # C 20, hue 81°
    assert judged((88.0, 3.0, 20.0)) == (Verdict.INCONCLUSIVE, (Reason.COLOUR_UNCERTAIN,))
    assert judged((95.0, 0.0, 2.0)) == (Verdict.FAIL, (Reason.WRONG_UNIFORM_COLOUR,))
    # A white shirt under a warm lamp (light, tinted) is still white.
    v = _window([_sample(float(i), lab=(92.0, 2.0, 16.0)) for i in range(6)], "solid:white")
    assert v.verdict().uniform.verdict is Verdict.PASS


def test_a_cool_residue_on_a_shaded_white_shirt_is_white_but_not_a_khaki_of_that_chroma() -> None:
    # cc0_iface_052: a white shirt in a warm-graded photo, corrected to L 73, C 10.6 at
    # hue 211° (cyan). Khaki of that lightness and chroma (hue 80°) is not white.
    def on_white_day(lab: tuple[float, float, float]) -> Verdict:
        v = _window([_sample(float(i), lab=lab) for i in range(6)], "solid:white").verdict()
        return v.uniform.verdict

    cool = 12.0 * np.array([np.cos(np.radians(211)), np.sin(np.radians(211))])
    warm = 12.0 * np.array([np.cos(np.radians(80)), np.sin(np.radians(80))])
    assert on_white_day((73.0, float(cool[0]), float(cool[1]))) is Verdict.PASS
    assert on_white_day((73.0, float(warm[0]), float(warm[1]))) is Verdict.INCONCLUSIVE


def _lch(lightness: float, chroma: float, hue: float) -> tuple[float, float, float]:
    h = np.radians(hue)
    return lightness, chroma * float(np.cos(h)), chroma * float(np.sin(h))


def test_a_top_that_may_be_a_hijab_never_fails_the_uniform() -> None:
    # A black hijab over a khaki shirt reads as a black top; covered samples (the head's
    # colour fills the chest under the chin) cannot fail, but what passes still passes.
    black = (20.0, 0.0, 0.0)

    def uniform(covered: int, lab: tuple[float, float, float], solid: bool = True) -> Any:
        samples = [_sample(float(i), lab=lab, solid=solid, covered=i < covered) for i in range(6)]
        return _window(samples, "solid:khaki").verdict().uniform

    for lab, solid, reason in (
        (black, True, Reason.WRONG_UNIFORM_COLOUR),
        ((73.0, 2.0, 18.0), False, Reason.NOT_UNIFORM_COLOUR),
    ):
        assert uniform(0, lab, solid).reasons == (reason,)
        assert uniform(2, lab, solid).reasons == (reason,)  # a third covered: still fails
        covered = uniform(3, lab, solid)
        assert (covered.verdict, covered.reasons) == (
            Verdict.INCONCLUSIVE,
            (Reason.UNIFORM_COVERED,),
        )
        assert covered.scores["covered"] == 0.5
    assert uniform(6, (73.0, 2.0, 18.0)).verdict is Verdict.PASS


@pytest.mark.parametrize(
    ("lab", "share", "day", "reason"),
    [
        ((15.0, 0.0, 0.0), 0.9, "khaki", Reason.WRONG_UNIFORM_COLOUR),  # a black knit
        ((15.0, 0.0, 0.0), 0.7, "khaki", Reason.PATTERN_UNCERTAIN),  # black on 0.7: hair?
        ((73.0, 2.0, 18.0), 0.9, "khaki", Reason.PATTERN_UNCERTAIN),  # khaki: plain or not?
        (_lch(93.0, 32.0, 95.0), 0.9, "white", Reason.PATTERN_UNCERTAIN),  # a lamp on white
    ],
)
def test_a_top_neither_plain_nor_patterned_fails_only_on_a_clearly_wrong_colour_filling_it(
    lab: tuple[float, float, float], share: float, day: str, reason: Reason
) -> None:
    # Undecided texture (a knit, a ribbed top): one colour over most of the garment that
    # is clearly not the day's is not the uniform, plain or not; anything less stays
    # for a human.
    def undecided(t: float) -> SampleResult:
        sample = _sample(t, lab=lab)
        assert sample.torso is not None
        return replace(sample, torso=replace(sample.torso, solid=None, solid_share=share))

    uniform = _window([undecided(float(i)) for i in range(6)], f"solid:{day}").verdict().uniform
    assert uniform.reasons == (reason,)
    failed = reason is Reason.WRONG_UNIFORM_COLOUR
    assert uniform.verdict is (Verdict.FAIL if failed else Verdict.INCONCLUSIVE)
    if failed:
        assert uniform.evidence["wrong_uniform_colour"] == tuple(float(i) for i in range(6))


@pytest.mark.parametrize(
    ("groups", "measured", "covered", "outcome"),
    [
        # A dark suit over a white shirt on a khaki day: neither colour is khaki.
        (
            (((20.0, 0.0, -8.0), 0.6), ((87.0, 0.0, -1.0), 0.3)),
            True,
            0,
            (Verdict.FAIL, Reason.NOT_UNIFORM_COLOUR),
        ),
        # The same where the balance could not measure the light: a white shirt under a
        # lamp reads khaki, so the shirt may be the uniform.
        (
            (((20.0, 0.0, -8.0), 0.6), ((87.0, 0.0, -1.0), 0.3)),
            False,
            0,
            (Verdict.INCONCLUSIVE, Reason.PATTERN_UNCERTAIN),
        ),
        # A khaki shirt with dark hair over it: one of its colours is the day's.
        (
            (((20.0, 0.0, -8.0), 0.6), ((73.0, 2.0, 18.0), 0.3)),
            True,
            0,
            (Verdict.INCONCLUSIVE, Reason.PATTERN_UNCERTAIN),
        ),
        # A khaki group too small to count (a tenth is the least) does not save it...
        (
            (((20.0, 0.0, -8.0), 0.62), ((87.0, 0.0, -1.0), 0.3), ((73.0, 2.0, 18.0), 0.08)),
            True,
            0,
            (Verdict.FAIL, Reason.NOT_UNIFORM_COLOUR),
        ),
        # ...and a hijab over the chest in half the samples keeps it from failing.
        (
            (((20.0, 0.0, -8.0), 0.6), ((87.0, 0.0, -1.0), 0.3)),
            True,
            3,
            (Verdict.INCONCLUSIVE, Reason.UNIFORM_COVERED),
        ),
    ],
)
def test_a_top_of_undecided_texture_fails_where_none_of_its_colours_is_the_days(
    groups: tuple[tuple[tuple[float, float, float], float], ...],
    measured: bool,
    covered: int,
    outcome: tuple[Verdict, Reason],
) -> None:
    # A suit or a print whose texture reads neither plain nor patterned, no colour over
    # most of it: it is not the uniform if none of its colours may be the day's under
    # the light the white balance leaves possible (``off_colour_min_share``).
    def undecided(t: float) -> SampleResult:
        sample = _sample(t, lab=groups[0][0], light_measured=measured, covered=t < covered)
        assert sample.torso is not None
        torso = replace(
            sample.torso,
            solid=None,
            solid_share=groups[0][1],
            groups=tuple(ColourGroup(lab, share) for lab, share in groups),
        )
        return replace(sample, torso=torso)

    uniform = _window([undecided(float(i)) for i in range(6)], "solid:khaki").verdict().uniform
    assert (uniform.verdict, uniform.reasons[0]) == outcome
    assert uniform.scores["off_colour"] == (0.0 if outcome[1] is Reason.PATTERN_UNCERTAIN else 1.0)
    if outcome[0] is Verdict.FAIL:  # the samples that show it, for the supervisor
        assert uniform.evidence["not_uniform_colour"] == tuple(float(i) for i in range(6))


def test_a_colour_a_lamp_may_explain_fails_only_where_the_light_was_measured() -> None:
    # A white shirt under an uncorrected tungsten lamp reads L 93, C 32 at 95° (the
    # development set's white_tungsten clips). Where the white balance measured the light
    # that is not white; where it could not, a lamp explains it: a human decides.
    def judged(lab: tuple[float, float, float], policy: str, measured: bool) -> CheckWindow:
        samples = [_sample(float(i), lab=lab, light_measured=measured) for i in range(6)]
        return _window(samples, policy)

    yellowish = _lch(93.0, 32.0, 95.0)
    unmeasured = judged(yellowish, "solid:white", measured=False).verdict().uniform
    assert (unmeasured.verdict, unmeasured.reasons) == (
        Verdict.INCONCLUSIVE,
        (Reason.COLOUR_UNCERTAIN,),
    )
    assert unmeasured.scores["colour_light_cast"] is True
    measured = judged(yellowish, "solid:white", measured=True).verdict().uniform
    assert measured.reasons == (Reason.WRONG_UNIFORM_COLOUR,)
    # No light makes a red top khaki or a black one white: they fail either way.
    for lab, policy in ((_lch(45.0, 60.0, 30.0), "solid:khaki"), ((12.0, 0.5, 0.5), "solid:white")):
        u = judged(lab, policy, measured=False).verdict().uniform
        assert (u.verdict, u.reasons) == (Verdict.FAIL, (Reason.WRONG_UNIFORM_COLOUR,)), lab


def test_more_chroma_of_a_wrong_hue_never_brings_a_colour_closer_to_a_region() -> None:
    # A white tee (L 89, near grey) with a blue tint is farther from khaki's region than
    # the grey itself: the distance is taken in the a*b* plane to the region's sector.
    khaki = parse_colour("khaki").region
    assert khaki is not None
    grey, bluish = (89.0, 0.0, 0.0), _lch(89.0, 3.0, 247.0)
    assert khaki.distance(bluish) > khaki.distance(grey) > khaki.margin
    # Of khaki's own hue, the chroma's shortfall; beside its hue range, about the chord.
    assert khaki.distance(_lch(70.0, 6.0, 80.0)) == pytest.approx(3.0)
    assert khaki.distance(_lch(70.0, 20.0, 120.0)) == pytest.approx(20 * np.sin(np.radians(10)))


def test_grey_world_says_whether_it_measured_the_light() -> None:
    def pixels(rgb: tuple[int, int, int]) -> npt.NDArray[np.float64]:
        return np.tile(np.array(rgb, dtype=np.float64), (500, 1))

    wall = gray_world(pixels((120, 128, 136)), 1.15, 0.3)  # a grey wall, slightly cool
    assert wall.measured and wall.gains[0] > 1 > wall.gains[2]
    tinted = gray_world(pixels((200, 120, 60)), 1.15, 0.3)  # every wall orange: no grey
    assert not tinted.measured and np.all(tinted.gains == 1)
    beyond = gray_world(pixels((150, 128, 110)), 1.15, 0.3)  # grey, a cast past the cap
    assert not beyond.measured and max(beyond.gains) == pytest.approx(1.15)
    few = gray_world(pixels((120, 128, 136)), 1.15, 0.3, min_pixels=600)  # too little wall
    assert not few.measured and np.all(few.gains == 1)


def test_config_version_changes_with_a_colour_region(monkeypatch: pytest.MonkeyPatch) -> None:
    before = DEFAULT_CONFIG.version
    white = parse_colour("white")
    assert white.region is not None
    narrower = replace(white, region=replace(white.region, boxes=white.region.boxes[:1]))
    monkeypatch.setattr(
        "vision.config.PALETTE", tuple(narrower if c is white else c for c in PALETTE)
    )
    assert DEFAULT_CONFIG.version != before


def test_frozen_run_needs_the_minimum_duration() -> None:
    live = [_sample(float(i)) for i in range(3)]
    same = [_sample(float(i), thumb_seed=99) for i in range(3, 5)]  # 2 identical: 1 s
    v = _window(live + same).verdict()
    assert Reason.CAMERA_FROZEN not in v.reasons
    more = [_sample(float(i), thumb_seed=99) for i in range(3, 9)]  # 6 identical: 5 s
    v = _window(live + more).verdict()
    assert v.camera.verdict is Verdict.FAIL and Reason.CAMERA_FROZEN in v.camera.reasons
    assert v.camera.evidence["camera_frozen"] == tuple(float(i) for i in range(3, 9))


def test_a_run_too_short_to_call_frozen_is_not_yet_a_live_camera() -> None:
    # The page's first stills: one picture, then the same one four times in 1.4 s. Not
    # frozen yet (under ``frozen_min_seconds``), and not a pass either: the indicator
    # must not show pass for a fed picture before its run is long enough to fail.
    times = [0.5, 1.0, 1.5, 1.9]
    samples = [_sample(0.0)] + [_sample(t, thumb_seed=99) for t in times]
    w = _window(samples)
    camera = w.verdict().camera
    assert (camera.verdict, camera.reasons) == (Verdict.INCONCLUSIVE, (Reason.TOO_FEW_SAMPLES,))
    w.add(_sample(2.5, thumb_seed=99))  # the run is 2 s long now: frozen, all of it
    camera = w.verdict().camera
    assert (camera.verdict, camera.reasons) == (Verdict.FAIL, (Reason.CAMERA_FROZEN,))
    # A live picture after the run settles it: the run was short, the camera is live.
    live = _window([*samples, *(_sample(t) for t in (3.0, 4.0, 5.0, 6.0))]).verdict()
    assert live.camera.verdict is Verdict.PASS


def test_brief_covering_does_not_fail() -> None:
    samples = [_sample(float(i)) for i in range(20)]
    samples[5] = _sample(5.0, state=CameraState.COVERED)
    v = _window(samples).verdict()
    assert v.verdict is Verdict.PASS
    assert v.camera.evidence["camera_covered"] == (5.0,)


def test_low_light_is_never_fail() -> None:
    v = _window(
        [_sample(float(i), state=CameraState.LOW_LIGHT, face=FaceStatus.NONE) for i in range(10)]
    ).verdict()
    assert v.verdict is Verdict.INCONCLUSIVE
    assert Reason.LOW_LIGHT in v.reasons and Reason.NO_FACE not in v.reasons


def test_intermittent_face_is_inconclusive_not_fail() -> None:
    samples = [
        _sample(float(i), face=FaceStatus.OK if i % 2 else FaceStatus.NONE, person=0.0)
        for i in range(10)
    ]
    v = _window(samples).verdict()
    assert v.face.verdict is Verdict.INCONCLUSIVE and Reason.NO_FACE in v.face.reasons


def test_person_without_a_face_is_inconclusive_never_no_face() -> None:
    # Segmentation sees a person the detector found no face on (standing back, turned
    # away): inconclusive, for a human to look at, not FAIL no_face.
    seen = [_sample(float(i), face=FaceStatus.NONE, person=0.2) for i in range(10)]
    v = _window(seen).verdict()
    assert (v.face.verdict, v.face.reasons) == (Verdict.INCONCLUSIVE, (Reason.FACE_NOT_FOUND,))
    assert v.verdict is not Verdict.FAIL
    nobody = [_sample(float(i), face=FaceStatus.NONE, person=0.01) for i in range(10)]
    v = _window(nobody).verdict()
    assert (v.face.verdict, v.face.reasons) == (Verdict.FAIL, (Reason.NO_FACE,))


def test_a_rejected_face_is_unverified_never_no_face() -> None:
    # The detector found something face-like that the skin or landmark check turned
    # down: a statue, an animal, or a real face misread. Never "nobody is there".
    def rejected(t: float) -> SampleResult:
        sample = _sample(t, face=FaceStatus.NONE, person=0.01)
        assert sample.face is not None
        return replace(sample, face=replace(sample.face, rejected=1))

    v = _window([rejected(float(i)) for i in range(10)]).verdict()
    assert (v.face.verdict, v.face.reasons) == (Verdict.INCONCLUSIVE, (Reason.FACE_UNVERIFIED,))
    assert v.face.scores["unverified"] == 1.0 and v.verdict is not Verdict.FAIL


def _garment(
    left: str, centre: str, right: str, *, low_rows: int = 40
) -> tuple[FloatArray, npt.NDArray[np.bool_], FloatArray, FloatArray]:
    """A 60 x 90 garment crop in Lab: three colour columns of the named palette colours,
    positioned so that ``low_rows`` rows lie below ``layer_top``."""
    lab = np.zeros((60, 90, 3))
    for cols, name in ((slice(0, 30), left), (slice(30, 60), centre), (slice(60, 90), right)):
        lab[:, cols] = parse_colour(name).lab
    across = np.linspace(-0.9, 0.9, 90)
    top = DEFAULT_CONFIG.layer_top
    down = top + (np.arange(60) - (60 - low_rows)) / 30.0
    return lab, np.ones((60, 90), dtype=bool), across, down


@pytest.mark.parametrize(
    ("left", "centre", "right", "low_rows", "layered"),
    [
        ("navy", "white", "navy", 40, True),  # a jacket over a shirt
        ("khaki", "khaki", "khaki", 40, False),  # one plain shirt
        ("black", "white", "khaki", 40, False),  # hair one side, another thing the other
        ("navy", "white", "navy", 0, False),  # nothing low enough on the chest: hair's zone
    ],
)
def test_layered_needs_two_agreeing_sides_low_on_the_chest(
    left: str, centre: str, right: str, low_rows: int, layered: bool
) -> None:
    assert is_layered(*_garment(left, centre, right, low_rows=low_rows), DEFAULT_CONFIG) is layered


def _observe(
    rgb: npt.NDArray[np.uint8], mask: Mask, face: Face, config: VisionConfig = DEFAULT_CONFIG
) -> TorsoObservation:
    torso = TorsoAnalyzer(config)
    try:
        return torso.observe(rgb, mask, face)
    finally:
        torso.close()


@pytest.mark.parametrize(
    ("sides", "layered"),
    [
        ((20, 20, 20), True),  # a black jacket open over a sweater the colour of the hair
        ((90, 60, 40), False),  # long brown hair over both sides of a grey top: still hair
    ],
)
def test_the_colour_of_the_hair_stays_garment_down_the_middle_of_the_chest(
    sides: tuple[int, int, int], layered: bool
) -> None:
    # Above the face box is the head's colour: grey hair over a black jacket open on a
    # grey sweater (the centre strip, ±0.35 face heights), or brown hair falling over
    # both sides of a grey top. The hair's colour is removed beside the neck only.
    face = Face(Box(190.0, 100.0, 100.0, 100.0), 0.9, 100.0)
    rgb = np.full((640, 480, 3), 225, np.uint8)
    mask = np.zeros((640, 480), np.float32)
    inner = (140, 140, 140) if layered else (90, 60, 40)
    rgb[60:100, 200:280] = inner  # hair above the face, the inner top's colour
    rgb[100:200, 190:290] = (205, 150, 120)  # the face
    rgb[200:, 130:350] = sides
    rgb[200:, 205:275] = inner if layered else (140, 140, 140)
    mask[60:200, 190:290] = 1.0
    mask[200:, 130:350] = 1.0
    seen = _observe(rgb, mask, face)
    assert seen.visible
    assert seen.layered is layered
    assert seen.solid is (not layered)


@pytest.mark.parametrize(
    ("hairline", "hijab", "covered"),
    [
        ((80, 50, 30), (25, 25, 28), True),  # hair under a hijab worn back: the band mixes
        ((205, 150, 120), (25, 25, 28), False),  # a forehead: what is above may be hair
        ((180, 150, 140), (180, 150, 140), True),  # a mocca hijab, 8.7 from the skin
    ],
)
def test_a_hijab_is_looked_for_above_the_forehead_only_through_what_is_worn(
    hairline: tuple[int, int, int], hijab: tuple[int, int, int], covered: bool
) -> None:
    # A hijab from the top of the head (the second band of 0.3 face heights above the
    # face box) wrapped under the chin over a khaki top. The nearest band is a third
    # each of hijab, what shows at the hairline and forehead: where that is hair, its
    # median is neither the skin nor the hijab, and the band above gives the hijab's
    # colour. Where it is all forehead, the black above may be hair over a black top.
    # A hijab near the skin's colour still covers: under the chin it is nearer the
    # hijab's colour than the skin's.
    face = Face(Box(190.0, 100.0, 100.0, 100.0), 0.9, 100.0)
    skin = (205, 150, 120)
    rgb = np.full((640, 480, 3), 225, np.uint8)
    mask = np.zeros((640, 480), np.float32)
    rgb[40:80, 190:290] = hijab
    rgb[80:90, 190:290] = hairline
    rgb[90:200, 190:290] = skin
    rgb[200:, 130:350] = (195, 176, 130)  # khaki
    rgb[200:260, 195:285] = hijab  # the wrap under the chin
    mask[40:200, 190:290] = 1.0
    mask[200:, 130:350] = 1.0
    seen = _observe(rgb, mask, face)
    assert seen.visible
    assert seen.covered is covered


SKIN = (205, 150, 120)
FACE = Face(Box(190.0, 100.0, 100.0, 100.0), 0.9, 100.0)
"""A face box 100 px square at (190, 100) of a 480x640 frame, the middle filled by
``_chest_covered``'s skin."""


def _chest_covered(
    head: tuple[int, int, int] | npt.NDArray[np.uint8],
    top: tuple[int, int, int],
    under_chin: Callable[[npt.NDArray[np.uint8]], None],
) -> bool:
    """Whether the chest reads covered under ``head`` (the band above ``FACE``, 60 px)
    over a ``top`` filling the frame below it, once ``under_chin`` has drawn on it."""
    rgb = np.full((640, 480, 3), 225, np.uint8)
    mask = np.zeros((640, 480), np.float32)
    rgb[40:100, 170:310] = head
    rgb[100:200, 190:290] = SKIN
    rgb[200:, 130:350] = top
    under_chin(rgb)
    mask[40:200, 170:310] = 1.0
    mask[200:, 130:350] = 1.0
    seen = _observe(rgb, mask, FACE)
    assert seen.visible
    return bool(seen.covered)


@pytest.mark.parametrize(
    ("opening", "covered"),
    [
        ("khaki", True),  # a navy hijab open at the front: khaki in a V under the chin
        ("neckline", False),  # a navy top under navy hair, its neckline's skin there
    ],
)
def test_a_hijab_open_at_the_front_covers_the_chest(opening: str, covered: bool) -> None:
    # The head's colour fills the region but not all of the strip under the chin: its
    # ends fall apart and the uniform shows between them (a quarter of the strip here).
    # A neckline's skin there (two fifths) leaves a top the colour of the hair judged.
    navy = (34, 42, 78)

    def open_at(rgb: npt.NDArray[np.uint8]) -> None:
        if opening == "khaki":
            rgb[222:, 228:252] = (195, 176, 130)
        else:
            rgb[215:235, 222:258] = SKIN

    assert _chest_covered(navy, navy, open_at) is covered


@pytest.mark.parametrize(("layout", "patterned"), [("check", True), ("halves", False)])
def test_colours_printed_at_one_lightness_are_a_pattern(layout: str, patterned: bool) -> None:
    # A red and green check of the same lightness (L 47 and 49) has no texture in the
    # lightness and two colours of half the top each: undecided, but its colour has a
    # print's fine structure. A top of the same two colours in two halves has none.
    face = Face(Box(190.0, 100.0, 100.0, 100.0), 0.9, 100.0)
    rgb = np.full((640, 480, 3), 225, np.uint8)
    mask = np.zeros((640, 480), np.float32)
    rgb[40:100, 190:290] = (40, 30, 25)
    rgb[100:200, 190:290] = (205, 150, 120)
    yy, xx = np.mgrid[200:640, 130:350]
    red = (xx // 8 + yy // 8) % 2 == 1 if layout == "check" else xx >= 240
    rgb[200:, 130:350] = np.where(red[..., None], (190, 70, 70), (60, 130, 60))
    mask[40:200, 190:290] = 1.0
    mask[200:, 130:350] = 1.0
    seen = _observe(rgb, mask, face)
    assert seen.texture is not None and seen.texture < DEFAULT_CONFIG.texture_solid_max
    assert seen.solid is (False if patterned else None)
    # Without the colour's texture the check is undecided too.
    blind = replace(DEFAULT_CONFIG, texture_chroma_patterned_min=float("inf"))
    assert _observe(rgb, mask, face, blind).solid is None


BATIK = ((20, 60, 90), (170, 110, 40), (232, 226, 210))
"""Indigo, ochre and off-white."""
COOL = ((20, 60, 90), (40, 140, 90), (232, 236, 240))
"""Indigo, green and white: no colour, nor blend of two, near a skin's."""


def _print(
    height: int, width: int, colours: tuple[tuple[int, int, int], ...] = BATIK
) -> npt.NDArray[np.uint8]:
    """Diagonal bands of three colours, 8 px each: a batik-like print."""
    palette = np.array(colours, np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    return np.asarray(palette[((xx + yy) // 8) % 3], np.uint8)


@pytest.mark.parametrize(
    ("head", "chest", "neck", "covered"),
    [
        ("print", "print", False, True),  # a printed hijab over the chest
        ("ground", "print", False, True),  # the same, the band above only its ground
        ("ground", "print", True, False),  # a neck shows: the cloth under it is a top
        ("hair", "print", True, False),  # plain hair over a printed top: judged
        ("hair", "print", False, True),  # no neck below hair: a hijab would look so
        ("print", "khaki", False, False),  # a printed hijab beside a plain top
    ],
)
def test_a_print_on_the_head_and_under_the_chin_covers_the_chest(
    head: str, chest: str, neck: bool, covered: bool
) -> None:
    # A printed hijab's colours cannot be matched like a plain one's (hair and a wall
    # make a palette too): a print above the face, or anything worn there with no neck
    # showing (a hijab wraps under the chin), and many colours under the chin say the
    # chest may be the hijab, and a FAIL there is withheld. The chest's print has no
    # colour near the skin's: the batik's ochre blends would count as a neck.
    worn: dict[str, tuple[int, int, int] | npt.NDArray[np.uint8]] = {
        "print": _print(60, 140),
        "ground": (20, 60, 90),
        "hair": (40, 30, 25),
    }

    def under_chin(rgb: npt.NDArray[np.uint8]) -> None:
        if chest == "print":
            rgb[200:300, 170:310] = _print(100, 140, COOL)
        if neck:
            rgb[200:225, 210:270] = SKIN

    assert _chest_covered(worn[head], (195, 176, 130), under_chin) is covered  # khaki


@pytest.mark.parametrize(
    ("face", "measured"),
    [
        ((205, 150, 120), True),  # chroma 29
        ((235, 140, 60), False),  # chroma 64: a face under a lamp the balance left in
    ],
)
def test_a_face_more_saturated_than_skin_says_the_light_was_not_measured(
    face: tuple[int, int, int], measured: bool
) -> None:
    # The same grey wall in both: grey world measures a neutral light from it, but a
    # face that saturated says a warm lamp is on and the wall is not grey under it.
    box = Face(Box(190.0, 100.0, 100.0, 100.0), 0.9, 100.0)
    rgb = np.full((640, 480, 3), 200, np.uint8)
    mask = np.zeros((640, 480), np.float32)
    rgb[60:100, 190:290] = (40, 30, 25)  # hair
    rgb[100:200, 190:290] = face
    rgb[200:, 130:350] = (30, 40, 90)
    mask[60:200, 190:290] = 1.0
    mask[200:, 130:350] = 1.0
    seen = _observe(rgb, mask, box)
    assert seen.visible
    assert seen.light_measured is measured


def test_a_print_in_the_colour_of_the_skin_is_still_a_print() -> None:
    # Navy with 3-px stripes the exact colour of the face: thin bands of the skin's
    # colour are the print's, so they stay in the texture and the top is patterned.
    face = Face(Box(190.0, 100.0, 100.0, 100.0), 0.9, 100.0)
    skin = (205, 150, 120)
    rgb = np.full((640, 480, 3), 225, np.uint8)
    mask = np.zeros((640, 480), np.float32)
    rgb[100:200, 190:290] = skin
    rgb[200:, 130:350] = (30, 40, 90)
    for y in range(200, 640, 6):
        rgb[y : y + 3, 130:350] = skin
    mask[100:200, 190:290] = 1.0
    mask[200:, 130:350] = 1.0
    seen = _observe(rgb, mask, face)
    assert seen.visible and seen.texture is not None
    assert seen.texture >= DEFAULT_CONFIG.texture_patterned_min
    assert seen.solid is False


def test_folds_are_long_edges_of_one_direction_a_check_or_stripe_is_not() -> None:
    # Three long dark folds on plain cloth: coherent edges in a few pixels, so folds.
    # A check (two directions) and a stripe (energy spread over the cloth) are not.
    yy, xx = np.mgrid[0:160, 0:128].astype(np.float32)
    inside = np.zeros((160, 128), bool)
    inside[10:-10, 10:-10] = True
    folds = np.full((160, 128), 50.0, np.float32)
    for c in (30, 70, 110):
        folds -= 12 * np.exp(-((xx - c - 0.2 * yy) ** 2) / 2.0)
    check = 50 + 6 * ((np.floor(xx / 6) + np.floor(yy / 6)) % 2)
    stripe = 50 + 6 * (np.floor(yy / 4) % 2)
    for lightness, expected in ((folds, True), (check, False), (stripe, False)):
        lightness = lightness.astype(np.float32)
        assert folds_only(lightness, high_pass(lightness), inside, DEFAULT_CONFIG) is expected


def test_samples_must_be_in_time_order() -> None:
    w = _window([_sample(2.0)])
    with pytest.raises(ValueError):
        w.add(_sample(1.0))


def test_config_version_changes_with_any_threshold() -> None:
    other = replace(DEFAULT_CONFIG, colour_match_delta_e=9.0)
    assert other.version != DEFAULT_CONFIG.version
    assert DEFAULT_CONFIG.version.startswith("7+")
    assert VisionConfig().version == DEFAULT_CONFIG.version


def test_black_start_of_a_call_is_too_few_samples_not_fail() -> None:
    # A phone camera's first frames are often black: too little evidence to fail.
    w = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy("any"))
    for i in range(DEFAULT_CONFIG.min_samples - 1):
        w.add(_sample(float(i), state=CameraState.BLACK))
        v = w.verdict()
        assert v.camera.verdict is Verdict.INCONCLUSIVE
        assert v.camera.reasons == (Reason.TOO_FEW_SAMPLES,)
        assert v.camera.evidence["camera_black"] == tuple(float(j) for j in range(i + 1))
    w.add(_sample(float(DEFAULT_CONFIG.min_samples), state=CameraState.BLACK))
    assert w.verdict().camera.reasons == (Reason.CAMERA_BLACK,)
    assert w.verdict().camera.verdict is Verdict.FAIL


def test_single_black_image_is_single_image_not_fail() -> None:
    w = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy("any"), still_image=True)
    w.add(_sample(0.0, state=CameraState.COVERED, face=FaceStatus.NONE))
    camera = w.verdict().camera
    assert camera.verdict is Verdict.INCONCLUSIVE and camera.reasons == (Reason.SINGLE_IMAGE,)
    assert camera.evidence["camera_covered"] == (0.0,)


def test_docs_explain_every_threshold() -> None:
    # docs/vision.md has a row for each VisionConfig field, so none goes unexplained.
    from dataclasses import fields
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "vision.md").read_text()
    table = doc.split("## Every threshold, and why", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    cells = [row.split("|")[1].replace("`", "") for row in rows]
    documented = {name.strip() for cell in cells for name in cell.split(",")}
    assert documented == {f.name for f in fields(VisionConfig)}
