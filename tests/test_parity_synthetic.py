"""Data-free parity (default run): the JAX engine against the plain NumPy per-request loops.

On the synthetic zoo (``messjax.data.synthetic``) in float64 (``jax.enable_x64``), the production
paths, :func:`messjax.core.sweep.run_sweep` (both the fast path and the generic scan of
:mod:`messjax.core.episode`) for MESS+ and :func:`messjax.core.policy.run_cells` for the
``messjax`` policy, must agree with :mod:`messjax.core.reference` and
:mod:`messjax.core.reference_policy` request by request. The engines keep no per-request log,
so their decisions are read off a trace kept at every request (``trace_every=1``: running
served / queried / exploration / feedback counts, queues and costs): identical served models,
queried sets, explorations and feedback; queues and running totals to rounding; and the final
Summary equal to the loop's totals. (The same comparison on the real logs is in
test_reference_parity.py and test_policy_parity.py, marked ``data``.)
"""

from __future__ import annotations

import inspect
import operator
import zlib

import jax
import numpy as np
import pytest

from messjax.core import policy
from messjax.core.predictor import init_predictor
from messjax.core.reference import draw_coins, reference_episode
from messjax.core.reference_policy import reference_policy_episode
from messjax.core.sweep import Grid, run_sweep
from messjax.core.types import HPARAM_NAMES, EngineConfig, make_hparams

T = 240  # requests per episode
D = 16  # feature width
#: make_hparams' defaults by name (for the configurations' missing keys).
HP_DEFAULTS = {
    k: p.default for k, p in inspect.signature(make_hparams).parameters.items() if k in HPARAM_NAMES
}


@pytest.fixture(scope="module")
def synthetic():
    """Hashed bag-of-words features, labels and energy costs of a two-task synthetic zoo."""
    from messjax.data import synthetic_zoo

    table = synthetic_zoo("llama3", tasks=["arc_challenge", "winogrande"], num_requests=300)
    x = np.zeros((len(table), D))
    for i, text in enumerate(table.texts):
        for w in str(text).lower().split():
            h = zlib.crc32(w.encode())
            x[i, h % D] += 1.0 if (h >> 16) & 1 else -1.0
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x, np.asarray(table.labels, np.float64), np.asarray(table.costs, np.float64)


def _per_request(trace, b: int) -> dict:
    """Request-by-request outcomes of cell ``b`` from a trace kept at every request."""

    def step(name):
        a = np.asarray(getattr(trace, name))[b]
        return np.diff(a, axis=0, prepend=np.zeros_like(a[:1]))

    served = step("served_counts")
    assert (served.sum(-1) == 1).all()  # one answer served per request
    return dict(
        model=served.argmax(-1),
        queried=step("query_counts").astype(bool),
        explore=step("explore_count").astype(bool),
        feedback=step("feedback_count").astype(bool),
        queue=np.asarray(trace.virtual_queue)[b],
        ideal_queue=np.asarray(trace.ideal_queue)[b],
        cost=np.asarray(trace.total_cost)[b],  # running totals
        satisfied=np.asarray(trace.satisfied)[b],
    )


def _assert_totals(summary, b: int, totals: dict, msg: str) -> None:
    for name, want in totals.items():
        got = np.asarray(getattr(summary, name))[b]
        if np.issubdtype(got.dtype, np.floating):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{name} {msg}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {msg}")


def _assert_same(eng: dict, ref: dict, queue: str, msg: str) -> None:
    for name in ("model", "explore", "feedback"):
        np.testing.assert_array_equal(eng[name], ref[name], err_msg=f"{name} {msg}")
    np.testing.assert_allclose(eng["queue"], ref[queue], rtol=1e-12, atol=1e-12, err_msg=msg)
    np.testing.assert_allclose(eng["cost"], np.cumsum(ref["cost"]), rtol=1e-12, err_msg=msg)
    np.testing.assert_array_equal(eng["satisfied"], np.cumsum(ref["satisfaction"]), err_msg=msg)


# ------------------------------------------------------------------------------ MESS+
#: Every cost estimator, epochs 0-2, feedback < 1 with both sparse-training rules, c >= 1,
#: momentum, relative V, router costs.
MESSPLUS_CONFIGS = [
    dict(alpha=0.7, V=1e-3, c=1.0, epochs=1, cost_estimator="last_explore", feedback_rate=1.0),
    dict(
        alpha=0.6,
        V=1e-2,
        c=0.3,
        epochs=2,
        cost_estimator="running_mean",
        feedback_rate=0.5,
        momentum=0.9,
    ),
    dict(
        alpha=0.8,
        V=1e-4,
        c=2.0,
        epochs=1,
        cost_estimator="oracle",
        feedback_rate=0.4,
        sparse_training="all_explorations",
    ),
    dict(
        alpha=0.65,
        V=0.3,
        c=0.5,
        epochs=0,
        cost_estimator="running_mean",
        relative_V=1,
        inference_cost=5.0,
    ),
    dict(
        alpha=0.75,
        V=1e-3,
        c=1.5,
        epochs=2,
        cost_estimator="last_explore",
        feedback_rate=0.7,
        training_cost=2.0,
    ),
]


@pytest.mark.parametrize("method", ["generic", "fast"])
def test_messplus_engine_equals_numpy_loop(synthetic, method):
    x, labels, costs = synthetic
    config = EngineConfig(num_models=labels.shape[1], feature_dim=D, head="mlp")
    seeds = np.arange(11, 11 + len(MESSPLUS_CONFIGS), dtype=np.int64)
    rng = np.random.default_rng(0)
    orders = {int(s): rng.permutation(len(labels))[:T] for s in seeds}
    with jax.enable_x64(True):
        full = [{**HP_DEFAULTS, **c} for c in MESSPLUS_CONFIGS]
        hp = make_hparams(**{k: [c[k] for c in full] for k in HPARAM_NAMES})
        grid = Grid(seeds=seeds, hparams=jax.tree.map(np.asarray, hp))
        res = run_sweep(x, labels, costs, grid, config, method=method, trace_every=1, orders=orders)
        assert np.asarray(res.trace.virtual_queue).dtype == np.float64
        for b, (seed, cfg) in enumerate(zip(seeds, MESSPLUS_CONFIGS, strict=True)):
            o = orders[int(seed)]
            key = jax.random.PRNGKey(int(seed))
            params = init_predictor(jax.random.fold_in(key, 0), config)[0]
            if b == 0:  # Hyperparams and pre-drawn coins: the same episode as a dict
                hp_b = jax.tree.map(operator.itemgetter(b), grid.hparams)
                coins = draw_coins(key, T, hp_b, config)
                ref = reference_episode(
                    x[o], labels[o], costs[o], hp_b, key, params, config, coins=coins
                )
            else:
                ref = reference_episode(x[o], labels[o], costs[o], cfg, key, params, config)
            msg = f"({method}, config {b}: {cfg})"
            eng = _per_request(res.trace, b)
            _assert_same(eng, ref, "virtual_queue", msg)
            np.testing.assert_allclose(
                eng["ideal_queue"], ref["ideal_queue"], rtol=1e-12, atol=1e-12
            )
            explored = eng["explore"][:, None] | (np.arange(3) == eng["model"][:, None])
            np.testing.assert_array_equal(eng["queried"], explored, err_msg=msg)
            _assert_totals(res.summary, b, ref["totals"], msg)
    # the configurations exercise what they claim to
    assert all(len(np.unique(_per_request(res.trace, b)["model"])) >= 2 for b in range(len(seeds)))
    assert (np.asarray(res.trace.virtual_queue) != np.asarray(res.trace.ideal_queue)).any()


# ------------------------------------------------------------------------------ messjax policy
POLICY_CONFIGS = [
    (dict(alpha=0.7, V=1.0, c=1.0), dict()),
    (dict(alpha=0.6, V=0.3, c=0.5, feedback_rate=0.5), dict(ts_temp=0.0, margin=0.0)),
    (dict(alpha=0.8, V=3.0, c=2.0, feedback_rate=0.3, inference_cost=4.0), dict(impute_z=1.0)),
    (dict(alpha=0.65, V=0.1, c=0.1), dict(ts_temp=1.0, margin=10.0, prior=5.0)),
    (dict(alpha=0.75, V=0.1, c=0.5), dict(margin=10.0, price_cap=2.0)),  # the cap binds
]


def test_messjax_policy_engine_equals_numpy_loop(synthetic):
    x, labels, costs = synthetic
    rng = np.random.default_rng(1)
    orders = [rng.permutation(len(labels))[:T] for _ in POLICY_CONFIGS]
    with jax.enable_x64(True):
        cells = [
            dict(
                stream=0,
                seed=21 + i,
                order=orders[i],
                hp=policy.default_hparams(**hp),
                pp=policy.default_policy_params(**pp),
            )
            for i, (hp, pp) in enumerate(POLICY_CONFIGS)
        ]
        summary, trace = policy.run_cells([(x, labels, costs)], cells, trace_every=1)
        assert np.asarray(trace.virtual_queue).dtype == np.float64
        for b, (hp, pp) in enumerate(POLICY_CONFIGS):
            o = orders[b]
            key = jax.random.PRNGKey(21 + b)
            ref = reference_policy_episode(x[o], labels[o], costs[o], hp, pp, key)
            msg = f"(config {b}: {hp} {pp})"
            eng = _per_request(trace, b)
            _assert_same(eng, ref, "deficit", msg)
            np.testing.assert_array_equal(eng["queried"], ref["queried"], err_msg=msg)
            _assert_totals(summary, b, ref["totals"], msg)
        models = [_per_request(trace, b)["model"] for b in range(len(cells))]
    assert all(len(np.unique(m)) >= 2 for m in models)  # routing really happens
    assert (np.asarray(trace.virtual_queue) < 0).any()  # the signed deficit goes into credit
