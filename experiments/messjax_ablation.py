"""Ablation of the ``messjax`` policy (issue 11): each ingredient off in turn, on the authors'
logs with the request orders of ``messjax reproduce`` (5 seeds, paper alphas).

    MESSJAX_DATA_DIR=... python experiments/messjax_ablation.py [--out results/messjax_ablation.md]

``--seed0 47 --variants 1`` runs the default alone on seeds 47-51 (another set of request orders
and coins): how much of a bar's margin is seed noise (``results/messjax_seeds_47.md``).
``--seeds 25 --pick 0,8`` runs the default and the out-of-reach hold on seeds 42-66
(``results/messjax_hold_25.md``).

Rows: the default setting, then one change each. Columns per zoo / scenario: mean cost over the
tasks (MJ), tasks whose mean-over-seeds satisfaction is >= alpha - 0.5 pt, tasks with no seed
below alpha - 1.5 pt.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from messjax.fileio import atomic_write_text

VARIANTS = [
    ("messjax (default)", {}),
    ("no Thompson draw (posterior mean)", dict(ts_temp=0.0)),
    ("no text residual (lr = 0)", dict(learning_rate=0.0)),
    ("no safety margin (margin = 0)", dict(margin=0.0)),
    ("no extra-model exploration (c -> 0)", dict(c=1e-9)),
    ("imputation at the posterior mean (impute_z = 0)", dict(impute_z=0.0)),
    ("V / 3 (V = 1/3)", dict(V=1.0 / 3)),
    ("3 V (V = 3)", dict(V=3.0)),
    ("out-of-reach hold on (infeasible_cap = 2; off by default)", dict(infeasible_cap=2.0)),
]
RUNS = [("llama3", "main"), ("qwen2", "main"), ("llama3", "sparse"), ("llama3", "chain")]


def split_history(spec):
    """``messjax evaluate``'s warm start: the training rows when they are a split of the
    stream, else none (a cold start)."""
    return spec.train_index if spec.train_is_split else None


def run_streams(table, x, streams, seeds, overrides, history=split_history):
    """The policy on every stream and seed in one vmapped call: [(cost[S], sat[S]), ...].
    Each stream starts from the rows ``history(spec)`` of ``table`` (``None``: cold; default
    :func:`split_history`, as in ``messjax evaluate``)."""
    from messjax.core import policy

    pp = policy.default_policy_params(
        **{k: v for k, v in overrides.items() if k in policy.POLICY_PARAM_NAMES}
    )
    hp_over = {k: v for k, v in overrides.items() if k not in policy.POLICY_PARAM_NAMES}
    data, cells = [], []
    for i, spec in enumerate(streams):
        rows = history(spec)
        warm = None if rows is None else (x[rows], table.labels[rows], table.costs[rows])
        data.append(
            (x[spec.test_index], table.labels[spec.test_index], table.costs[spec.test_index], warm)
        )
        hp = policy.default_hparams(alpha=spec.alpha, feedback_rate=spec.feedback_rate, **hp_over)
        for s, order in spec.orders(seeds).items():
            cells.append(dict(stream=i, seed=s, order=order, hp=hp, pp=pp))
    summary, _ = policy.run_cells(data, cells)
    S = len(seeds)
    return [
        (summary.total_cost[i * S : (i + 1) * S], summary.satisfaction[i * S : (i + 1) * S])
        for i in range(len(streams))
    ]


def bar_counts(streams, results) -> tuple[float, int, int]:
    """Mean cost over the streams (MJ), streams whose mean satisfaction is >= alpha - 0.5 pt,
    streams with no seed below alpha - 1.5 pt (the bars of issue 11)."""
    costs, near, floor = [], 0, 0
    for spec, (cost, sat) in zip(streams, results, strict=True):
        gap = 100 * (np.asarray(sat) - spec.alpha)
        costs.append(float(np.mean(cost)) / 1e6)
        near += gap.mean() >= -0.5
        floor += gap.min() >= -1.5
    return float(np.mean(costs)), int(near), int(floor)


def main() -> int:
    from messjax.runs.eval_setup import load_table, paper_streams
    from messjax.runs.experiment import table_features

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed0", type=int, default=42, help="first seed (seeds seed0, seed0+1, ...)")
    ap.add_argument("--out", default="results/messjax_ablation.md")
    ap.add_argument("--variants", type=int, default=len(VARIANTS), help="first N variants")
    ap.add_argument(
        "--pick", default=None, help="comma-separated variant numbers instead (0 = the default)"
    )
    args = ap.parse_args()
    variants = VARIANTS[: args.variants]
    if args.pick is not None:
        try:
            picked = [int(i) for i in args.pick.split(",")]
        except ValueError:
            ap.error(f"--pick: comma-separated integers, got {args.pick!r}")
        bad = [i for i in picked if not 0 <= i < len(VARIANTS)]
        if bad:
            ap.error(f"--pick: no variant {bad[0]} (0..{len(VARIANTS) - 1})")
        variants = [VARIANTS[i] for i in picked]
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    cols = {}
    tables = {}
    per_task = []
    t0 = time.time()
    for zoo, scenario in RUNS:
        if zoo not in tables:
            table, name = load_table(zoo, args.data_dir)
            tables[zoo] = (table, name, table_features(table, "minilm"))
        table, name, x = tables[zoo]
        streams = [s for s, _ in paper_streams(table, name, scenario)]
        for label, over in variants:
            results = run_streams(table, x, streams, seeds, over)
            if not over:  # the default: keep its per-task numbers
                for spec, (cost, sat) in zip(streams, results, strict=True):
                    gap = 100 * (sat - spec.alpha)
                    per_task.append(
                        f"| {zoo} {scenario} | {spec.name} | {spec.alpha:g} | "
                        f"{cost.mean() / 1e6:.3f} ± {cost.std() / 1e6:.3f} | "
                        f"{100 * sat.mean():.1f} | {gap.mean():+.2f} | {gap.min():+.2f} |"
                    )
            cost, near, floor = bar_counts(streams, results)
            cell = f"{cost:.3f} MJ, {near}/{len(streams)}, {floor}/{len(streams)}"
            cols.setdefault(label, {})[f"{zoo} {scenario}"] = cell
            print(f"{zoo:7s} {scenario:6s} {label:40s} {cell}  ({time.time() - t0:.0f} s)")
    heads = [f"{z} {s}" for z, s in RUNS]
    lines = [
        f"# messjax ablation (seeds {seeds[0]}-{seeds[-1]}, paper alphas; "
        "`experiments/messjax_ablation.py`)",
        "",
        "Each cell: mean cost over tasks, tasks with mean satisfaction >= alpha - 0.5 pt, tasks "
        "with no seed below alpha - 1.5 pt.",
        "",
        "| variant | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for label, _ in variants:
        lines.append(f"| {label} | " + " | ".join(cols[label].get(h, "") for h in heads) + " |")
    lines += [
        "",
        "## messjax (default) per task",
        "",
        "| run | task | α | cost MJ (mean ± std over seeds) | satisfaction % | "
        "mean − α (pt) | worst seed − α (pt) |",
        "|---|---|---|---|---|---|---|",
        *per_task,
    ]
    out = atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
