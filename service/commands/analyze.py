"""``hadir analyze PATH [--uniform POLICY] [--json]``: the vision verdict on a file.

The file is sampled at the vision config's interval, exactly as a live call is, and
every sample goes through the same ``FrameAnalyzer`` and ``CheckWindow``. A single
image gives the camera criterion ``inconclusive`` with ``single_image``.
Exit code 0 whatever the verdict; 2 for a bad argument or an unreadable file.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from service.errors import UsageError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "analyze",
        help="judge a video file or an image: face, camera, uniform",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="video (.y4m, .webm, .mp4, ...) or image")
    parser.add_argument(
        "--uniform",
        metavar="POLICY",
        default="any",
        help="solid, solid:COLOUR[,COLOUR...], patterned or any (default: any)",
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(handler=run)


def _print_text(result: dict[str, Any], path: str) -> None:
    print(f"{path}: {result['verdict'].upper()}")
    for name, crit in result["criteria"].items():
        reasons = ", ".join(crit["reasons"]) or "-"
        line = f"  {name:8} {crit['verdict']:12} {reasons}"
        colour = crit.get("colour")
        if colour:
            line += f"  (saw {colour['name']} {colour['hex']})"
        print(line)
    print(f"  samples: {len(result['samples'])}  version: {result['version']}")


def run(args: argparse.Namespace) -> int:
    from service.media import MediaError, open_media
    from vision.config import DEFAULT_CONFIG
    from vision.uniform import parse_uniform_policy

    try:
        policy = parse_uniform_policy(args.uniform)
    except ValueError as exc:
        raise UsageError(f"--uniform: {exc}") from None
    config = DEFAULT_CONFIG
    try:
        media = open_media(args.path, config.sample_interval_s)
    except MediaError as exc:
        raise UsageError(str(exc)) from None

    from service.judging import analyze_media, judge
    from vision.analyzer import FrameAnalyzer

    with FrameAnalyzer(config) as analyzer:
        try:
            analysis = analyze_media(media, analyzer)
        except MediaError as exc:
            raise UsageError(str(exc)) from None
    result = judge(analysis, policy, config).to_dict()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_text(result, args.path)
    return 0
