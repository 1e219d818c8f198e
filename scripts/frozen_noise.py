"""The frozen test's measure for a motionless scene, by how noisy the camera is.

Each of the first N photos of the development set with one person becomes a scene (the
first frame of its ``original`` clip, ``fixtures.real_clips``), which does not move; two
stills of it are taken with fresh Gaussian sensor noise of σ grey levels each, encoded
as the page encodes them (JPEG quality 0.7) and decoded as the server decodes them; a
line gives the mean luma difference of the two on the 160-px thumbnail (what
``frozen_max_mad`` is compared with), min / median / max over the photos. σ 0 is one
picture repeated (a picture fed in). The development clips' noise is σ 2
(docs/vision.md, "Frozen on the live path").

    .venv/bin/python scripts/frozen_noise.py [--photos N]
"""

from __future__ import annotations

import argparse

import numpy as np
import numpy.typing as npt

from fixtures.devset import load
from fixtures.real_clips import frames, jpeg
from signaling.stills import decode_rgb
from vision.camera import frame_difference, thumbnail
from vision.config import DEFAULT_CONFIG

SIGMAS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0, 3.0)
Image = npt.NDArray[np.uint8]


def _still(scene: Image, sigma: float, rng: np.random.Generator) -> Image:
    noise = rng.standard_normal(scene.shape, dtype=np.float32) * sigma
    return decode_rgb(jpeg(np.asarray(np.clip(scene + noise + 0.5, 0, 255), dtype=np.uint8)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    width = DEFAULT_CONFIG.thumb_width
    scenes = [next(frames(im, "original", (0.0,))) for im in load() if im.person and im.faces == 1][
        : args.photos
    ]
    rng = np.random.default_rng(9)
    print(
        f"two stills of a motionless scene, JPEG q70: mean luma difference "
        f"(frozen at <= {DEFAULT_CONFIG.frozen_max_mad:g}), {len(scenes)} photos"
    )
    print(f"{'sigma':>6} {'min':>6} {'median':>6} {'max':>6}")
    for sigma in SIGMAS:
        values = [
            frame_difference(
                thumbnail(_still(s, sigma, rng), width), thumbnail(_still(s, sigma, rng), width)
            )
            for s in scenes
        ]
        print(f"{sigma:6.2f} {min(values):6.3f} {np.median(values):6.3f} {max(values):6.3f}")


if __name__ == "__main__":
    main()
