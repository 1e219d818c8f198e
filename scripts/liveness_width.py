"""Does a head keep its width as it turns? The figure behind ``LivenessConfig``'s
``turn_min_width_ratio`` (``docs/vision.md``, *Liveness*).

For every single-face photo of the development set (``fixtures/real``): the head pose
(``PoseReader``), and its 3-D cheek-to-cheek width over the hand-labelled face height
(hairline to chin), in pixels. Grouped by the yaw read: if the width shrank as the head
turns, the ratio would fall with the yaw the way a flat picture's does (the cosine).

    .venv/bin/python scripts/liveness_width.py
"""

from __future__ import annotations

from statistics import median

import cv2
import numpy as np

from fixtures.devset import load
from vision.pose_reader import PoseReader


def main() -> None:
    reader = PoseReader()
    groups: dict[int, list[float]] = {}
    for image in load():
        if not image.single_person or not image.face_h:
            continue
        rgb = np.asarray(cv2.cvtColor(cv2.imread(str(image.path)), cv2.COLOR_BGR2RGB), np.uint8)
        h, w = rgb.shape[:2]
        pose = reader.read(rgb)
        if pose is None:
            continue
        group = min(int(abs(pose.yaw_deg) // 10), 5)
        groups.setdefault(group, []).append(pose.width * w / (image.face_h * h))
    reader.close()
    print("|yaw|     photos  width/face height: median  p10   p90")
    for group, ratios in sorted(groups.items()):
        p10, p90 = np.percentile(ratios, [10, 90])
        label = f"{group * 10}-{group * 10 + 10}°"
        print(f"{label:9} {len(ratios):6}  {median(ratios):25.2f} {p10:5.2f} {p90:5.2f}")


if __name__ == "__main__":
    main()
