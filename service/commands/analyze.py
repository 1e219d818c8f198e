"""``hadir analyze PATH [--uniform POLICY] [--challenge ACTION[@SECONDS]]
[--reference IMAGE | --enrolled STAFF_ID] [--json]``: the vision verdict on a file.

The file is sampled at the vision config's interval, exactly as a live call is, and
every sample goes through the same ``FrameAnalyzer`` and ``CheckWindow``. A single
image gives the camera criterion ``inconclusive`` with ``single_image``.

A file has no liveness challenge of its own; ``--challenge turn_left@2`` judges one as
if it had been issued 2 s (the default) into the file, from every frame of its window
(not only the samples): the ``liveness`` criterion by the call's rule, folded into the
verdict, and the challenge as a call's record keeps it (``challenges``: action,
outcome, finding, frames, change). Without it there is no such criterion.

``--reference photo.jpg`` adds the ``identity`` criterion: the one face of the photo
against the file's samples, matched as a call matches them (the first usable sample,
then one every 15 s, at most 5; accepted at a distance of 0.45 or less, rejected at
0.75 or more; FAIL only with 3 rejected and none accepted). ``--enrolled STAFF_ID``
matches against the staff member's enrolled face instead, read from the configured
database and opened with the data dir's key (not enrolled: INCONCLUSIVE
``not_enrolled``). The criterion is folded into the verdict as in a call.
Exit code 0 whatever the verdict; 2 for a bad argument, an unreadable file, a reference
photo without exactly one usable face, or an unknown staff member.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from typing import TYPE_CHECKING, Any

from service.errors import UsageError
from vision.identity import DEFAULT_IDENTITY, CallIdentity
from vision.liveness import Action, Challenge, LivenessConfig
from vision.verdict import Reason

if TYPE_CHECKING:
    from service.judging import LocalDescriber
    from vision.analyzer import FrameAnalyzer

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
    whose = parser.add_mutually_exclusive_group()
    whose.add_argument(
        "--reference",
        metavar="IMAGE",
        help="judge identity: match the file's face against the one face of this photo",
    )
    whose.add_argument(
        "--enrolled",
        metavar="STAFF_ID",
        help="judge identity: match against the staff member's enrolled face (database "
        "and data dir from the configuration)",
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


_NOT_A_REFERENCE = {
    Reason.NO_FACE: "no face found",
    Reason.MULTIPLE_FACES: "several faces: a reference shows one person",
    Reason.FACE_TOO_SMALL: f"the face is too small (under {DEFAULT_IDENTITY.min_face_px:g} px)",
    Reason.LOW_LIGHT: "too dark to see the face",
    Reason.CAMERA_BLACK: "the picture is black",
    Reason.CAMERA_COVERED: "the picture is covered",
}
"""Why a photo cannot be a reference, for each reason ``vision.identity.unusable`` gives."""


def _enrolled(args: argparse.Namespace, staff_id: str) -> CallIdentity:
    """The staff member's enrolled face as a call reads it (``call_identity``: none if
    not enrolled, or if this data dir's key does not open it); UsageError for an unknown
    staff member, or a data dir without the key (no server ever ran there: a wrong one)."""
    from sqlalchemy import select

    from service.context import config_from_args, open_store
    from service.enrolment import call_identity, load_face_key
    from service.keys import FACE_KEY_FILE
    from service.schema import staff

    config = config_from_args(args)
    if not (config.data_dir / FACE_KEY_FILE).exists():
        raise UsageError(
            f"--enrolled: no face key {FACE_KEY_FILE} in {config.data_dir} (the data dir "
            "`hadir serve` uses holds it)"
        )
    key = load_face_key(config.data_dir)

    async def read() -> CallIdentity | None:
        async with open_store(config) as engine, engine.connect() as conn:
            known = (await conn.execute(select(staff.c.id).where(staff.c.id == staff_id))).first()
            return None if known is None else await call_identity(conn, key, staff_id)

    identity = asyncio.run(read())
    if identity is None:
        raise UsageError(f"--enrolled: no staff member {staff_id!r}")
    return identity


def _reference(path: str, analyzer: FrameAnalyzer, describe: LocalDescriber) -> CallIdentity:
    """The one face of a reference photo, described as an enrolment still is; UsageError
    naming why when the photo has no usable face."""
    from service.media import MediaError, open_media
    from vision.identity import model_version, unusable

    try:
        media = open_media(path, analyzer.config.sample_interval_s)
        if not media.still:
            raise UsageError(f"--reference {path}: a video; give a photo of the face")
        frame = next(media.samples())
    except MediaError as exc:
        raise UsageError(f"--reference {exc}") from None
    sample = analyzer.analyze(frame.rgb, 0.0)
    problem = unusable(sample)
    descriptor = describe(frame.rgb, sample) if problem is None else None
    if descriptor is None:
        problem = problem or Reason.NO_FACE
        raise UsageError(f"--reference {path}: {_NOT_A_REFERENCE[problem]} ({problem})")
    return CallIdentity((descriptor,), version=model_version())


def _print_text(result: dict[str, Any], path: str) -> None:
    print(f"{path}: {result['verdict'].upper()}")
    for name, crit in result["criteria"].items():
        reasons = ", ".join(crit["reasons"]) or crit.get("ok") or "-"
        line = f"  {name:8} {crit['verdict']:12} {reasons}"
        colour = crit.get("colour")
        if colour:
            line += f"  (saw {colour['name']} {colour['hex']})"
        print(line)
        scores = crit["scores"] if name == "identity" else {}
        if scores:
            matches = scores["matches"]
            spread = (
                f"distance min {scores['distance_min']:.3f} median "
                f"{scores['distance_median']:.3f} max {scores['distance_max']:.3f}"
                if matches
                else "no usable face to match"
            )
            print(
                f"           {matches} match{'es' * (matches != 1)}: {spread} (accept <= "
                f"{scores['accept_max']:g}, reject >= {scores['reject_min']:g}); {scores['model']}"
            )
    for asked in result.get("challenges", ()):
        unit = "x width" if asked["action"] == Action.MOVE_CLOSER else " deg"
        change = "-" if asked["change"] is None else f"{asked['change']:.2f}{unit}"
        print(
            f"           challenge {asked['outcome']} {asked['finding']}  ({asked['action']} "
            f"at {asked['issued_s']:g} s: {asked['frames']} frames with a face, change {change})"
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

    from service.judging import (
        FileVerdict,
        IdentityMatch,
        LocalDescriber,
        analyze_media,
        judge,
        judge_challenge,
    )
    from vision.analyzer import FrameAnalyzer

    identity = None if args.enrolled is None else _enrolled(args, args.enrolled)
    with FrameAnalyzer(config) as analyzer:
        match = None
        if args.reference is not None or (identity is not None and identity.enrolled):
            describe = LocalDescriber(config.max_side)
            if identity is None:
                identity = _reference(args.reference, analyzer, describe)
            match = IdentityMatch(identity, describe)
        try:
            analysis = analyze_media(media, analyzer, match)
        except MediaError as exc:
            raise UsageError(str(exc)) from None
    answer = None
    if challenge is not None:
        try:
            answer = judge_challenge(media, challenge, config, liveness)
        except MediaError as exc:
            raise UsageError(str(exc)) from None
    result = FileVerdict.of(judge(analysis, policy, config), identity, answer).to_dict()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_text(result, args.path)
    return 0
