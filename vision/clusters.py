"""Deterministic k-means on Lab pixels, and merging clusters of one fabric.

Own implementation rather than ``cv2.kmeans`` so the result does not depend on a
random seed: the centres start at lightness quantiles, so the same crop always
gives the same clusters (a verdict must be reproducible). ~4,000 pixels, k=3,
8 iterations: well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.colour import column_medians, delta_e_2000

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class ColourGroup:
    """Pixels of one colour: their median Lab and share of the torso."""

    lab: tuple[float, float, float]
    share: float


def kmeans(points: FloatArray, k: int, iterations: int) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Cluster N x 3 points; returns (centres k x 3, labels N)."""
    n = points.shape[0]
    k = max(1, min(k, n))
    pts = points.astype(np.float32)
    order = np.argsort(pts[:, 0], kind="stable")
    centres = pts[order[((np.arange(k) + 0.5) * n / k).astype(np.intp)]].copy()
    sq = (pts**2).sum(axis=1)
    # Loop invariants, taken out of the iterations: twice the points, and each column
    # as the contiguous float64 that bincount's weights are converted to.
    twice = 2 * pts
    columns = [np.ascontiguousarray(pts[:, c], dtype=np.float64) for c in range(3)]
    labels = np.full(n, -1, dtype=np.intp)
    for _ in range(iterations):
        d = sq[:, None] - twice @ centres.T + (centres**2).sum(axis=1)[None, :]
        new_labels = np.argmin(d, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=k)
        nonempty = counts > 0
        for c, column in enumerate(columns):
            sums = np.bincount(labels, weights=column, minlength=k)
            centres[nonempty, c] = sums[nonempty] / counts[nonempty]
    return centres.astype(np.float64), labels


def colour_groups(
    points: FloatArray, k: int, iterations: int, merge_delta_e: float, k_l: float
) -> list[ColourGroup]:
    """Cluster Lab pixels and group clusters of one fabric; groups largest first.

    Grouping does not chain: the largest cluster not yet grouped seeds a group, and
    takes every other ungrouped cluster within ``merge_delta_e`` (ΔE2000 with lightness
    weight ``k_l``) of *the seed*. So a check of two colours, each near a shade in
    between, stays two groups instead of merging through the middle shade.
    """
    if points.shape[0] == 0:
        return []
    centres, labels = kmeans(points, k, iterations)
    k_eff = centres.shape[0]
    counts = np.bincount(labels, minlength=k_eff)
    d = delta_e_2000(centres[:, None, :], centres[None, :, :], k_l=k_l)
    group_of = np.full(k_eff, -1, dtype=np.intp)
    for seed in np.argsort(-counts, kind="stable"):
        if group_of[seed] >= 0 or counts[seed] == 0:
            continue
        members = (group_of < 0) & (d[seed] < merge_delta_e) & (counts > 0)
        group_of[members] = seed
    pixel_groups = group_of[labels]
    n = points.shape[0]
    groups: list[ColourGroup] = []
    for g in np.unique(pixel_groups):
        members = points[pixel_groups == g]
        med = column_medians(members)
        groups.append(
            ColourGroup((float(med[0]), float(med[1]), float(med[2])), members.shape[0] / n)
        )
    groups.sort(key=lambda g: g.share, reverse=True)
    return groups
