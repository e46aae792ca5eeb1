"""``messjax theory [--json PATH] [--quick] [--strict]``: check the MESS+ bounds on the engine,
and measure the ``messjax`` policy's slopes beside them (:mod:`messjax.theory.policy`)."""

from __future__ import annotations

import argparse
import json
import sys

NAME = "theory"
HELP = (
    "measure the drift-plus-penalty bounds (violation vs T, cost gap vs V, queue vs V, "
    "explorations) on an exactly solvable i.i.d. zoo, and the messjax policy's slopes beside "
    "MESS+'s"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write the full report here")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (seconds; slopes are noisy)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if a bound that applies was violated or a slope is off its target",
    )


def _fmt(v) -> str:
    return "inf" if v is None else f"{v:.3g}"


def main(args: argparse.Namespace) -> int:
    from messjax.theory import run_checks, run_policy_checks  # here: keeps `--help` fast

    progress = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)  # noqa: E731
    report = run_checks(quick=args.quick, progress=progress)
    if "messjax" not in report:  # the messjax policy on the same zoo and streams (issue 11)
        report["messjax"] = run_policy_checks(quick=args.quick, progress=progress)
        report["messjax_violation_slope_T"] = report["messjax"]["violation_slope_T"]
        report["messjax_cost_gap_slope_V"] = report["messjax"]["cost_gap_slope_V"]
        report["runtime_s"] += report["messjax"]["runtime_s"]
    checks = report["checks"]
    lo_v, hi_v = report["targets"]["violation_slope_T"]
    lo_c, hi_c = report["targets"]["cost_gap_slope_V"]
    print(f"messjax theory ({'quick' if report['quick'] else 'full'}, {report['runtime_s']:.0f} s)")
    print(
        f"  violation_slope_T = {_fmt(report['violation_slope_T'])}  "
        f"(target [{lo_v}, {hi_v}], alpha = s_max = "
        f"{checks['violation_vs_T']['alpha']:.3f}, V = {checks['violation_vs_T']['V']})"
    )
    print(
        f"  cost_gap_slope_V  = {_fmt(report['cost_gap_slope_V'])}  "
        f"(target [{lo_c}, {hi_c}], alpha = {checks['cost_gap_vs_V']['alpha']})"
    )
    mj = report["messjax"]
    (lo_mv, hi_mv), (lo_mc, hi_mc) = (
        mj["ranges"]["violation_slope_T"],
        mj["ranges"]["cost_gap_slope_V"],
    )
    print(
        f"  messjax policy: violation_slope_T = {_fmt(mj['violation_slope_T'])} (sensible "
        f"[{lo_mv}, {hi_mv}]), cost_gap_slope_V = {_fmt(mj['cost_gap_slope_V'])} (sensible "
        f"[{lo_mc}, {hi_mc}]; floor {_fmt(mj['checks']['cost_gap_vs_V']['fit']['floor'])})"
    )
    print("  largest queue vs Theorem 1c bound (per V, the run closest to its bound):")
    for V, q, b in zip(report["queue_V"], report["max_queue"], report["queue_bound"], strict=True):
        print(f"    V = {V:8.3g}   max Q = {q:8.3g}   bound = {_fmt(b)}")
    print("  checks:")
    for name, check in checks.items():
        print(f"    {name:22s} {check['status']}")
    if args.json:
        from messjax.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=1))
        print(f"  report written to {args.json}")
    if args.strict:
        applies = report["guarantee_applies"]
        failed = [k for k, ok in report["held"].items() if applies[k] and not ok]
        failed += [k for k, ok in report["in_target"].items() if not ok]
        if failed:
            print(f"messjax theory: failed: {', '.join(failed)}", file=sys.stderr)
            return 1
    return 0
