"""The typed zoo on the engine: sizes of the checks, their cells and sweeps, and what the
learned router did (its own ``s_hat``, exploration coins and measured drift).

The engine runs plain SGD (:data:`THEORY_MOMENTUM`) on a linear head with oracle costs
(:func:`theory_engine_config`); each stream is swept in its sampled order
(:func:`sweep_in_order`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from messjax.core.fast import count_training_events, learner_pass
from messjax.core.sweep import Grid, concat_cells, make_grid, run_sweep
from messjax.core.types import EngineConfig, make_hparams
from messjax.theory.bounds import lundberg_exponent
from messjax.theory.zoo import TypedStream, TypedZoo

__all__ = [
    "FULL",
    "QUICK",
    "THEORY_MOMENTUM",
    "TheorySizes",
    "main_runs",
    "sweep_in_order",
    "theory_engine_config",
]


@dataclasses.dataclass(frozen=True)
class TheorySizes:
    """Sizes and settings of :func:`messjax.theory.checks.run_checks` (``FULL`` / ``QUICK`` below).

    The engine runs plain SGD (no momentum or weight decay) on a linear head over the zoo's
    ``(z, 1)`` embedding, with oracle costs: the setting Theorems 1-2 assume (costs known, a
    predictor whose error vanishes). ``slack_alpha`` is the SLA of the cost and queue checks;
    the violation check runs at zero slack (``alpha = s_max``), where its ``T^(-1/2)`` term
    is attained, and the infeasible check at ``s_max + infeasible_margin``.
    """

    num_requests: int = 1 << 16
    replicates: int = 48
    trace_every: int = 256
    violation_V: tuple[float, ...] = (0.01, 0.1, 1.0)
    violation_fit_from: int = 1024
    cost_V: tuple[float, ...] = tuple(0.05 * 2.0**i for i in range(12))
    cost_fit_min_price: float = 2.0  # fit the 1/V law where V * lambda* >= this
    slack_alpha: float = 0.7
    infeasible_margin: float = 0.05
    infeasible_V: tuple[float, ...] = (0.1, 1.0)
    shift_requests: int = 1 << 15
    shift_replicates: int = 4
    shift_V: tuple[float, ...] = (0.1, 1.0, 10.0)
    exploration_requests: int = 1 << 14
    exploration_seeds: int = 4
    exploration_c: tuple[float, ...] = (0.1, 0.3, 1.0, 2.0)
    c: float = 2.0
    learning_rate: float = 0.1
    fail_prob: float = 0.05
    warmup_blocks: int = 16  # the first of this many blocks is the predictor's warm-up


FULL = TheorySizes()
QUICK = TheorySizes(
    num_requests=1 << 12,
    replicates=2,
    trace_every=64,
    violation_fit_from=256,
    cost_V=(0.1, 0.4, 1.6, 6.4, 25.6, 100.0),
    shift_requests=1 << 11,
    shift_replicates=2,
    shift_V=(1.0,),
    exploration_requests=1 << 11,
    exploration_seeds=2,
    exploration_c=(0.3, 1.0),
)


#: Plain SGD in every theory cell (a Hyperparams leaf).
THEORY_MOMENTUM = 0.0


def theory_engine_config(zoo: TypedZoo) -> EngineConfig:
    """Linear head, plain SGD (no weight decay; momentum 0 in the cells' hyperparameters,
    :data:`THEORY_MOMENTUM`): a consistent online logistic
    regression, so the predictor error (Theorem 2's F_min term) vanishes up to SGD noise."""
    return EngineConfig(
        num_models=zoo.num_models,
        feature_dim=zoo.feature_dim,
        head="linear",
        weight_decay=0.0,
        clip_norm=10.0,
    )


def _concat_grids(*grids: Grid) -> Grid:
    return Grid(*concat_cells([(g.seeds, g.hparams) for g in grids]))


def make_cells(seed: int, alpha, V, sizes: TheorySizes, c=None) -> Grid:
    return make_grid(
        [seed],
        alpha=alpha,
        V=list(V),
        c=sizes.c if c is None else c,
        learning_rate=sizes.learning_rate,
        momentum=THEORY_MOMENTUM,
        cost_estimator="oracle",
    )


def _learner_output(stream: TypedStream, seed: int, sizes, config):
    """The engine's own learner pass for a stream: same key, order and hyperparameters as the
    sweep's cells, hence the very ``s_hat`` and exploration coins the router used."""
    T = len(stream)
    hp = make_hparams(
        c=sizes.c,
        learning_rate=sizes.learning_rate,
        momentum=THEORY_MOMENTUM,
        cost_estimator="oracle",
    )
    key = jax.random.PRNGKey(seed)
    mask = jnp.ones((T,), bool)
    n = int(count_training_events(key, hp, mask))
    num_events = max(8, 1 << max(0, math.ceil(math.log2(max(n, 1)))))
    out = _learner_jit(config, num_events)(
        jnp.asarray(stream.x), jnp.asarray(stream.labels), mask, hp, key
    )
    return np.asarray(out.s_hat, float), np.asarray(out.explore)


#: Price levels (Q / V) at which the learned router's drift is measured; inf = argmax s_hat.
DRIFT_PRICES = np.concatenate([np.geomspace(1e-3, 1e4, 211), [np.inf]])


def _router_drift(zoo: TypedZoo, stream: TypedStream, s_hat, explore, blocks: int):
    """Measured Theorem 1c input: for each price ``lam`` in :data:`DRIFT_PRICES`, the
    smallest (over post-warm-up blocks) type-averaged satisfaction probability
    ``sum_k pi_k mean_{t in block, type k} P[k, argmin_m C - lam s_hat_t]`` of the learned
    router's exploitation choices (weighting types by pi, not by their count in the block,
    keeps the sampling noise of the type mix out of it)."""
    T = len(stream)
    size = T // blocks
    rows = np.arange(size, size * blocks)  # skip the warm-up block
    rows = rows[~explore[rows]]
    K = zoo.num_types
    cell = (rows // size - 1) * K + stream.types[rows]  # (block, type) index
    n_cells = (blocks - 1) * K
    counts = np.bincount(cell, minlength=n_cells).reshape(blocks - 1, K)
    P = zoo.success[stream.types[rows]]
    C = stream.costs[rows].astype(float)
    S = s_hat[rows]
    out = np.empty(len(DRIFT_PRICES))
    for i, lam in enumerate(DRIFT_PRICES):
        score = -S if np.isinf(lam) else C - lam * S
        got = P[np.arange(len(rows)), np.argmin(score, axis=1)]
        sums = np.bincount(cell, got, minlength=n_cells).reshape(blocks - 1, K)
        # a type absent from a block counts as its worst model there (conservative)
        per_type = np.where(counts > 0, sums / np.maximum(counts, 1), zoo.success.min(axis=1))
        out[i] = (per_type @ zoo.type_probs).min()
    return out


def measured_drift_table(zoo: TypedZoo, alpha: float, p_measured: np.ndarray):
    """A :func:`drift_table` from the measured drift: ``p(lam0) = min_{lam >= lam0} p(lam)``,
    capped by ``s_L`` (explorations serve the largest model)."""
    env = np.minimum.accumulate(p_measured[::-1])[::-1]
    p = np.minimum(zoo.largest_satisfaction, env)
    etas = np.array([lundberg_exponent(alpha, v) for v in p])
    finite = np.isfinite(DRIFT_PRICES)
    return DRIFT_PRICES[finite], p[finite], etas[finite]


@functools.cache
def _learner_jit(config: EngineConfig, num_events: int):
    return jax.jit(functools.partial(learner_pass, config=config, num_events=num_events))


def block_means(a: np.ndarray, blocks: int) -> np.ndarray:
    n = len(a) // blocks * blocks
    return a[:n].reshape(blocks, -1).mean(axis=1)


def main_runs(zoo: TypedZoo, sizes: TheorySizes, alphas, progress):
    """One vmapped sweep per replicate (fresh i.i.d. data each) over all main cells."""
    config = theory_engine_config(zoo)
    T = sizes.num_requests
    out = []
    for r in range(sizes.replicates):
        stream = zoo.sample(T, seed=10_000 + r)
        grid = _concat_grids(
            make_cells(r, alphas["tight"], sizes.violation_V, sizes),
            make_cells(r, alphas["slack"], sizes.cost_V, sizes),
            make_cells(r, alphas["infeasible"], sizes.infeasible_V, sizes),
        )
        res = sweep_in_order(stream, grid, config, r, sizes)
        s_hat, explore = _learner_output(stream, r, sizes, config)
        diag = {
            "error": np.abs(s_hat - zoo.success[stream.types]).max(axis=1),
            "drift": _router_drift(zoo, stream, s_hat, explore, sizes.warmup_blocks),
        }
        out.append((res, diag))
        progress(f"main stream: replicate {r + 1}/{sizes.replicates} done")
    return out


def run_slices(sizes: TheorySizes):
    a = len(sizes.violation_V)
    b = a + len(sizes.cost_V)
    return slice(0, a), slice(a, b), slice(b, b + len(sizes.infeasible_V))


def sweep_in_order(stream, grid, config, seed: int, sizes):
    """The engine's sweep over ``stream`` in its sampled order (i.i.d. or shifting types by
    construction, so the seed must not reshuffle it), traced every ``sizes.trace_every``."""
    return run_sweep(
        stream.x,
        stream.labels,
        stream.costs,
        grid,
        config,
        trace_every=sizes.trace_every,
        orders={seed: np.arange(len(stream.labels))},
    )
