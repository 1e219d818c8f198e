"""``hadir eval vision [ROOT] [--json]``: the vision figures on the real development set;
``hadir eval identity``: the identity match's distances (docs/vision.md, "Identity").

Runs every photograph of ``ROOT`` (default ``fixtures/real``) and every clip made from
them (``fixtures.real_clips``: camera motion, noise, flicker, taken as the staff page's
JPEG stills; built once into ``fixtures/media/real``) through ``hadir analyze``'s code
path, and prints each figure against its target, the frozen test's measure per kind of
clip, what the tops that must fail (patterned, layered, of a wrong colour) were called
instead, per kind of top, the compliant PASS rate per subgroup (skin tone, framing,
light) and the ids of the cases each figure missed.
Exit 0 when every target is met, 1 otherwise, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from service.errors import UsageError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "eval",
        help="evaluate vision on the real development set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_subparsers(dest="evaluation", metavar="WHAT", required=True)
    vision = group.add_parser("vision", help="face, camera and uniform figures per subgroup")
    vision.add_argument("root", nargs="?", type=Path, help="development set (fixtures/real)")
    vision.add_argument("--json", action="store_true", help="print the figures as JSON")
    vision.add_argument("--quiet", action="store_true", help="no progress on stderr")
    vision.set_defaults(handler=run_vision)
    identity = group.add_parser(
        "identity",
        help="the identity match: genuine and impostor distances per skin-tone group",
    )
    identity.set_defaults(handler=run_identity)


def run_identity(args: argparse.Namespace) -> int:
    """The figures of docs/vision.md, "Identity" (about 6 minutes)."""
    try:
        from fixtures.identity_eval import run
    except ImportError as exc:
        raise UsageError(f"eval needs the test extra (pip install hadir[test]): {exc}") from None
    for line in run():
        print(line, flush=True)
    return 0


def run_vision(args: argparse.Namespace) -> int:
    try:
        from fixtures.devset import DEFAULT_ROOT, DevSetError, load
        from fixtures.evaluate import REPORTED, TARGETS, evaluate, format_report, outcome_text
    except ImportError as exc:  # scikit-image and the fixtures are test extras
        raise UsageError(f"eval needs the test extra (pip install hadir[test]): {exc}") from None
    from vision.analyzer import FrameAnalyzer
    from vision.config import DEFAULT_CONFIG

    root = args.root or DEFAULT_ROOT
    try:
        images = load(root)
    except (OSError, KeyError, DevSetError) as exc:
        raise UsageError(f"{root}: {exc}") from None

    def progress(name: str) -> None:
        if not args.quiet:
            print(f"  {name}", file=sys.stderr, flush=True)

    with FrameAnalyzer(DEFAULT_CONFIG) as analyzer:
        report = evaluate(images, analyzer, DEFAULT_CONFIG, progress)
    if args.json:
        figures = {t.name: report.value(t.name) for t in TARGETS}
        figures |= {name: report.figures[name].share for name in REPORTED}
        differences = {
            kind: {"pairs": len(d), "min": min(d), "max": max(d)}
            for kind, d in report.differences.items()
            if d
        }
        subgroups = {
            g: {v: {"pass": f.share, "cases": f.total} for v, f in values.items()}
            for g, values in report.subgroups.items()
        }
        print(
            json.dumps(
                {
                    "version": DEFAULT_CONFIG.version,
                    "images": len(images),
                    "figures": figures,
                    "subgroups": subgroups,
                    "frozen_differences": differences,
                    "outcomes": {
                        f"{kind} {top}": {outcome_text(o): n for o, n in counts.items()}
                        for (kind, top), counts in report.outcomes.items()
                    },
                    "failed": report.failed_targets(),
                },
                indent=2,
            )
        )
    else:
        print(f"vision {DEFAULT_CONFIG.version} on {root} ({len(images)} images)")
        print(format_report(report))
    return 1 if report.failed_targets() else 0
