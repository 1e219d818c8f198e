"""``hadir analyze PATH [--uniform POLICY] [--challenge ACTION[@SECONDS]] [--json]``:
the vision verdict on a file.

The file is sampled at the vision config's interval, exactly as a live call is, and
every sample goes through the same ``FrameAnalyzer`` and ``CheckWindow``. A single
image gives the camera criterion ``inconclusive`` with ``single_image``.

A file has no liveness challenge of its own; ``--challenge turn_left@2`` judges one as
if it had been issued 2 s (the default) into the file, from every frame of its window
(not only the samples), and adds a ``liveness`` block (action, outcome, finding,
frames, change). Without it there is no such block.
Exit code 0 whatever the verdict; 2 for a bad argument or an unreadable file.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from service.errors import UsageError
from vision.liveness import Action, Challenge, LivenessConfig, LivenessResult

DEFAULT_CHALLENGE_AT_S = 2.0


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
    parser.add_argument(
        "--challenge",
        metavar="ACTION[@SECONDS]",
        help=f"judge a liveness challenge ({', '.join(Action)}) issued SECONDS into the "
        f"file (default {DEFAULT_CHALLENGE_AT_S:g})",
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(handler=run)


def parse_challenge(value: str, config: LivenessConfig) -> Challenge:
    """``ACTION[@SECONDS]`` as the challenge it names; raises UsageError if it is not one."""
    name, at, seconds = value.partition("@")
    try:
        action = Action(name.strip())
    except ValueError:
        raise UsageError(
            f"--challenge: unknown action {name.strip()!r} (one of {', '.join(Action)})"
        ) from None
    issued_at = DEFAULT_CHALLENGE_AT_S
    if at:
        try:
            issued_at = float(seconds)
        except ValueError:
            issued_at = math.nan
        if not math.isfinite(issued_at) or issued_at < 0:
            raise UsageError(
                f"--challenge: {seconds!r} is not a time in seconds (a number, 0 or more)"
            )
    return Challenge(action, "analyze", issued_at, issued_at + config.answer_s)


def _liveness(result: LivenessResult) -> dict[str, Any]:
    change = result.change
    return {
        "action": result.challenge.action.value,
        "at_s": result.challenge.issued_at,
        "outcome": result.outcome.value,
        "finding": result.finding.value,
        "frames": result.frames,
        "change": None if change is None else round(change, 3),
    }


def _print_text(result: dict[str, Any], path: str) -> None:
    print(f"{path}: {result['verdict'].upper()}")
    for name, crit in result["criteria"].items():
        reasons = ", ".join(crit["reasons"]) or "-"
        line = f"  {name:8} {crit['verdict']:12} {reasons}"
        colour = crit.get("colour")
        if colour:
            line += f"  (saw {colour['name']} {colour['hex']})"
        print(line)
    live = result.get("liveness")
    if live:
        unit = "x width" if live["action"] == Action.MOVE_CLOSER else " deg"
        change = "-" if live["change"] is None else f"{live['change']:.2f}{unit}"
        print(
            f"  liveness {live['outcome']:12} {live['finding']}  ({live['action']} at "
            f"{live['at_s']:g} s: {live['frames']} frames with a face, change {change})"
        )
    print(f"  samples: {len(result['samples'])}  version: {result['version']}")


def run(args: argparse.Namespace) -> int:
    from service.media import MediaError, open_media
    from vision.config import DEFAULT_CONFIG
    from vision.uniform import parse_uniform_policy

    try:
        policy = parse_uniform_policy(args.uniform)
    except ValueError as exc:
        raise UsageError(f"--uniform: {exc}") from None
    liveness = LivenessConfig()
    challenge = None if args.challenge is None else parse_challenge(args.challenge, liveness)
    config = DEFAULT_CONFIG
    try:
        media = open_media(args.path, config.sample_interval_s)
    except MediaError as exc:
        raise UsageError(str(exc)) from None

    from service.judging import analyze_media, judge, judge_challenge
    from vision.analyzer import FrameAnalyzer

    with FrameAnalyzer(config) as analyzer:
        try:
            analysis = analyze_media(media, analyzer)
        except MediaError as exc:
            raise UsageError(str(exc)) from None
    result = judge(analysis, policy, config).to_dict()
    if challenge is not None:
        try:
            result["liveness"] = _liveness(judge_challenge(media, challenge, config, liveness))
        except MediaError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_text(result, args.path)
    return 0
