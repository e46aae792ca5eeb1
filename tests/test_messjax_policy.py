"""The ``messjax`` policy (messjax/core/policy.py): unit invariance, determinism, vmapped ==
alone, decide/observe == the scanned episode, and the update rules of its docstring."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from messjax.core import policy
from messjax.core.episode import Stream


def _stream(T=160, M=3, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, d)).astype(np.float32) / np.sqrt(d)
    acc = np.array([0.55, 0.7, 0.8])[:M]
    labels = (rng.random((T, M)) < acc).astype(np.float32)
    mean_cost = np.array([50.0, 250.0, 1500.0])[:M]
    costs = (mean_cost * rng.uniform(0.5, 1.5, (T, M))).astype(np.float32)
    return x, labels, costs


def _cells(streams, seeds=(1, 2), alpha=0.72, **over):
    pp = {k: v for k, v in over.items() if k in policy.POLICY_PARAM_NAMES}
    hp = {k: v for k, v in over.items() if k not in policy.POLICY_PARAM_NAMES}
    out = []
    for i, (x, _, _) in enumerate(streams):
        for s in seeds:
            order = np.random.default_rng(s).permutation(x.shape[0])
            out.append(
                dict(
                    stream=i,
                    seed=s,
                    order=order,
                    hp=policy.default_hparams(alpha=alpha, **hp),
                    pp=policy.default_policy_params(**pp),
                )
            )
    return out


@pytest.mark.parametrize("feedback_rate", [1.0, 0.2])
def test_decisions_invariant_to_cost_unit(feedback_rate):
    """Multiplying every cost by 1e6 or 1e-6 changes no decision (served and queried models
    of every request); the charged cost scales."""
    x, labels, costs = _stream()

    def run(scale):
        streams = [(x, labels, costs * np.float32(scale))]
        cells = _cells(streams, feedback_rate=feedback_rate)
        return policy.run_cells(streams, cells, trace_every=1)

    (base, tb) = run(1.0)
    for scale in (1e6, 1e-6):
        s, t = run(scale)
        np.testing.assert_array_equal(t.served_counts, tb.served_counts)
        np.testing.assert_array_equal(t.query_counts, tb.query_counts)
        np.testing.assert_array_equal(s.satisfaction, base.satisfaction)
        np.testing.assert_allclose(s.total_cost, base.total_cost * scale, rtol=1e-5)


def test_deterministic_and_vmapped_equals_alone():
    streams = [_stream(seed=0), _stream(T=100, seed=1)]
    cells = _cells(streams, seeds=(3, 4, 5))
    together, _ = policy.run_cells(streams, cells)
    again, _ = policy.run_cells(streams, cells)
    for a, b in zip(jax.tree.leaves(together), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    chunked, _ = policy.run_cells(streams, cells, chunk_size=4)
    for a, b in zip(jax.tree.leaves(together), jax.tree.leaves(chunked), strict=True):
        np.testing.assert_array_equal(a, b)
    for i in (0, len(cells) - 1):  # one cell of each stream, run alone
        cell = cells[i]
        alone, _ = policy.run_cells([streams[cell["stream"]]], [dict(cell, stream=0)])
        np.testing.assert_array_equal(alone.served_counts[0], together.served_counts[i])
        np.testing.assert_array_equal(alone.query_counts[0], together.query_counts[i])
        np.testing.assert_allclose(alone.total_cost[0], together.total_cost[i], rtol=1e-6)


def test_decide_observe_replays_the_episode():
    """The live halves, called request by request, give the scanned episode's numbers."""
    x, labels, costs = _stream(T=120)
    hp = policy.default_hparams(alpha=0.7, feedback_rate=0.5)
    pp = policy.default_policy_params()
    key = jax.random.PRNGKey(7)
    stream = Stream(x=x, labels=labels, costs=costs, mask=np.ones(len(x), bool))
    summary, _ = jax.jit(policy.run_episode)(stream, hp, pp, key)
    state = policy.init_policy(key, 3, x.shape[1], hp, pp)
    decide, observe = jax.jit(policy.decide), jax.jit(policy.observe)
    served, cost = np.zeros(3, int), 0.0
    for t in range(len(x)):
        d = decide(state, x[t], hp, pp)
        state, out = observe(state, d, x[t], labels[t], costs[t], hp, pp)
        served[int(out.model)] += 1
        cost += float(out.cost)
    np.testing.assert_array_equal(served, summary.served_counts)
    np.testing.assert_allclose(cost, float(summary.total_cost), rtol=1e-5)


def test_update_rules():
    """Bootstrap queries every model; every observed label (served or extra) updates n and k;
    the deficit moves by alpha - s with feedback and by the imputation without."""
    M, d = 3, 4
    hp = policy.default_hparams(alpha=0.7, c=1e-9)
    pp = policy.default_policy_params()
    state = policy.init_policy(jax.random.PRNGKey(0), M, d, hp, pp)
    np.testing.assert_allclose(state.k / state.n, 0.7, rtol=1e-6)  # prior centred on alpha
    x = jnp.ones(d) / 2
    y = jnp.array([0.0, 1.0, 1.0])
    e = jnp.array([10.0, 50.0, 300.0])
    dec = policy.decide(state, x, hp, pp)
    assert bool(dec.queried.all()) and bool(dec.explore)  # t = 1 queries every model
    state, out = policy.observe(state, dec, x, y, e, hp, pp)
    np.testing.assert_allclose(state.n, 2.0 + 1.0)
    np.testing.assert_allclose(state.k, 1.4 + y)
    np.testing.assert_allclose(float(out.cost), 360.0)
    np.testing.assert_allclose(float(state.deficit), 3.0 + 0.7 - float(y[out.model]), rtol=1e-6)
    # With a large surplus (negative deficit) the price is 0: the cheapest model serves.
    state = state.replace(deficit=jnp.asarray(-50.0, state.deficit.dtype))
    dec = policy.decide(state, x, hp, pp)
    assert int(dec.model) == 0 and float(dec.price) == 0.0
    assert int(dec.queried.sum()) == 1  # c -> 0: no extra model
    # No feedback: the deficit uses the pessimistic imputation of the served model.
    dec = dec.replace(feedback=jnp.asarray(False))
    p, n = state.k / state.n, state.n
    new, _ = policy.observe(state, dec, x, y, e, hp, pp)
    imputed = p[0] - pp.impute_z * jnp.sqrt(p[0] * (1 - p[0]) / n[0])
    np.testing.assert_allclose(float(new.deficit), -50.0 + 0.7 - float(imputed), rtol=1e-6)
    np.testing.assert_array_equal(new.n, state.n)  # no feedback: no label learnt


def test_reaches_target_on_an_easy_stream():
    """On a stationary stream the realised satisfaction ends at or above alpha while the
    dearest model serves a minority of requests."""
    x, labels, costs = _stream(T=1500, seed=3)
    streams = [(x, labels, costs)]
    summary, _ = policy.run_cells(streams, _cells(streams, seeds=(1, 2, 3), alpha=0.68))
    assert np.all(summary.satisfaction >= 0.68 - 0.005)
    assert np.all(summary.served_counts[:, 2] < 0.5 * 1500)


def _state_with(n, k, deficit, pp, hp, d=4, costs=(1.0, 5.0, 25.0)):
    state = policy.init_policy(jax.random.PRNGKey(0), len(n), d, hp, pp)
    dt = state.n.dtype
    return state.replace(
        n=jnp.asarray(n, dt),
        k=jnp.asarray(k, dt),
        deficit=jnp.asarray(deficit, dt),
        cost_sum=jnp.asarray(costs, dt),
        cost_count=jnp.ones(len(n), dt),
    )


def test_out_of_reach_holds_the_price():
    """The price is held at infeasible_cap on a request whose draws are all below alpha once
    the dearest model has enough labels; a dearest model with few labels, or a draw that
    reaches alpha, frees it; cheaper models need no labels; infeasible_cap = inf is off."""
    hp = policy.default_hparams(alpha=0.8)
    assert float(policy.default_policy_params().infeasible_cap) == float("inf")  # off
    pp = policy.default_policy_params(infeasible_cap=2.0)
    assert float(pp.infeasible_min_labels) == 100.0 and float(pp.infeasible_z) == 1.0
    x = jnp.zeros(4)
    prior = float(pp.prior)
    n = prior + np.array([1e6, 1e6, 1e6])  # draws within ~1e-3 of p
    p = np.array([0.4, 0.6, 0.7])  # the best is 0.7: out of reach of 0.8

    def price(n, k, deficit=30.0, pp=pp, t=None):
        return float(policy.decide(_state_with(n, k, deficit, pp, hp), x, hp, pp, t).price)

    assert price(n, p * n) == pytest.approx(2.0)
    assert price(n, p * n, deficit=1.5) == pytest.approx(1.5)  # below the cap: D / V
    # The dearest model (index 2) with fewer than 100 labels is never ruled out, even at 0.
    few = n.copy()
    few[2] = prior + 60
    assert price(few, np.array([0.4, 0.6, 0.0]) * few) == pytest.approx(30.0)
    # A cheap model with few labels does not free the price: the held price can serve it.
    cheap_few = n.copy()
    cheap_few[0] = prior + 3
    assert price(cheap_few, p * cheap_few) == pytest.approx(2.0)
    # A model at alpha or above frees the price.
    assert price(n, np.array([0.4, 0.6, 0.85]) * n) == pytest.approx(30.0)

    # "Dearest" is by estimated cost, not by index: dearest first, its labels are the ones
    # needed; on a tie of costs the first of the tied models.
    def price_costs(n, costs):
        state = _state_with(n, p * n, 30.0, pp, hp, costs=costs)
        return float(policy.decide(state, x, hp, pp).price)

    first_few = n.copy()
    first_few[0] = prior + 60
    assert price_costs(first_few, (25.0, 5.0, 1.0)) == pytest.approx(30.0)  # dearest: few
    assert price_costs(few, (25.0, 5.0, 1.0)) == pytest.approx(2.0)  # a cheap one few: held
    assert price_costs(first_few, (25.0, 5.0, 25.0)) == pytest.approx(30.0)  # tie: the first
    assert price_costs(few, (25.0, 5.0, 25.0)) == pytest.approx(2.0)
    # Off: the deficit's price, unbounded.
    off = policy.default_policy_params(infeasible_cap=float("inf"))
    assert price(n, p * n, pp=off) == pytest.approx(30.0)


def test_out_of_reach_reexamines_in_proportion_to_the_posterior():
    """Drawn afresh per request: a dearest model below alpha but not surely so frees the
    price on a share of requests (z = 1: the Thompson draw), on none with z = 0 (the
    posterior mean), on more with a wider draw (z = 2), and on fewer as its labels grow."""
    hp = policy.default_hparams(alpha=0.8)
    x = jnp.zeros(4)

    def free_share(z, labelled):
        pp = policy.default_policy_params(infeasible_cap=2.0, infeasible_z=z)
        n = float(pp.prior) + np.array([1e6, 1e6, labelled])
        state = _state_with(n, np.array([0.4, 0.6, 0.78]) * n, 30.0, pp, hp)
        prices = [float(policy.decide(state, x, hp, pp, t).price) for t in range(1, 401)]
        return np.mean(np.isclose(prices, 30.0))

    one = free_share(1.0, 150.0)
    assert 0.03 < one < 0.4  # tempered posterior std ~0.017: P(theta >= 0.8) ~ 0.12
    assert free_share(0.0, 150.0) == 0.0
    assert free_share(2.0, 150.0) > one
    assert free_share(1.0, 1500.0) < one


@pytest.mark.parametrize("hard", [700, 1500])
def test_out_of_reach_hold_is_a_bet(hard):
    """A stream whose first ``hard`` requests no model serves at alpha, then easy ones. With
    a short hard segment the hold meets alpha for much less (the easy part repays the deficit
    at the held price); with a long one it loses the SLA, which the unheld price keeps by
    paying for the dearest model throughout: why the hold is off by default. (At 1,000 hard
    requests the hold already ends 0.4-2.8 pt short: the base rates, counted over the hard
    part, are stale in the easy one, and at the held price the cheap model still serves
    about half of it, on these seeds 1-3; seeds 4-10 meet alpha there.)"""
    rng = np.random.default_rng(5)
    T, d = 3000, 8
    x = rng.normal(size=(T, d)).astype(np.float32) / np.sqrt(d)
    acc = np.where(np.arange(T)[:, None] < hard, [0.3, 0.5, 0.6], [0.7, 0.9, 0.93])
    labels = (rng.random((T, 3)) < acc).astype(np.float32)
    costs = np.tile(np.array([50.0, 250.0, 1500.0], np.float32), (T, 1))
    hp = policy.default_hparams(alpha=0.72)
    cells = [
        dict(
            stream=0,
            seed=s,
            order=np.arange(T),  # the segments in a row, as in a chain
            hp=hp,
            pp=policy.default_policy_params(infeasible_cap=cap),
        )
        for cap in (2.0, float("inf"))
        for s in (1, 2, 3)
    ]
    summary, _ = policy.run_cells([(x, labels, costs)], cells)
    sat, cost = summary.satisfaction, summary.total_cost
    held, free = slice(0, 3), slice(3, 6)
    assert np.all(sat[free] >= 0.72 - 0.005)
    assert cost[held].mean() < 0.8 * cost[free].mean()
    if hard == 700:
        assert np.all(sat[held] >= 0.72 - 0.005)
    else:
        assert sat[held].mean() < 0.72 - 0.03 and np.all(sat[held] < 0.72 - 0.01)


def test_warm_start_counts_history_once_and_skips_the_bootstrap():
    """warm_start adds the history's labels and costs to the counts once, leaves the deficits
    and t, trains the residual; request 1 then queries no more than an exploration would."""
    x, labels, costs = _stream(T=60, seed=4)
    hp = policy.default_hparams(alpha=0.7, c=1e-9)
    pp = policy.default_policy_params()
    cold = policy.init_policy(jax.random.PRNGKey(0), 3, x.shape[1], hp, pp)
    warm = policy.warm_start(cold, x, labels, costs, jnp.ones(60, bool), hp, pp)
    np.testing.assert_allclose(warm.n, cold.n + 60)
    np.testing.assert_allclose(warm.k, cold.k + labels.sum(0), rtol=1e-6)
    np.testing.assert_allclose(warm.cost_sum, costs.sum(0), rtol=1e-6)
    np.testing.assert_allclose(warm.cost_count, 60)
    assert float(warm.deficit) == float(cold.deficit) and int(warm.t) == 0
    assert float(jnp.abs(warm.W).sum()) > 0
    half = policy.warm_start(cold, x, labels, costs, jnp.arange(60) < 30, hp, pp)
    np.testing.assert_allclose(half.n, cold.n + 30)  # masked rows count for nothing
    assert bool(policy.decide(cold, x[0], hp, pp).queried.all())  # cold: bootstrap
    dec = policy.decide(warm, x[0], hp, pp)
    assert int(dec.queried.sum()) == 1 and not bool(dec.explore)  # warm: costs known
