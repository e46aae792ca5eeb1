"""Property tests of the MESS+ step (messjax.core.step): the queue and the decision rule.

Each property runs a few small jitted functions (float32, shapes fixed so each compiles once)
on hypothesis-drawn inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from messjax.core.step import (
    choose_model,
    explore_prob,
    init_queue,
    init_state,
    queue_decide,
    queue_update,
    step,
)
from messjax.core.types import COST_ESTIMATORS, EngineConfig, Request, make_hparams

M = 4
CONFIG = EngineConfig(num_models=M, feature_dim=8, head="linear")
SETTINGS = settings(max_examples=100, deadline=None, database=None)


def _f32(lo: float, hi: float):
    """Floats in [lo, hi] that are normal float32 values (XLA on CPU flushes subnormals)."""
    tiny = np.finfo(np.float32).tiny
    return st.floats(lo, hi).map(lambda v: float(np.float32(v)) if abs(v) >= tiny else 0.0)


unit = _f32(0.0, 1.0)
alphas = _f32(0.01, 0.99)
Vs = _f32(1e-5, 1.0)
queues = _f32(0.0, 1e3)
# Costs on an integer lattice: distinct costs stay distinct after the multiplication by V.
lattice_costs = st.lists(st.integers(0, 100), min_size=M, max_size=M)
estimators = st.sampled_from(COST_ESTIMATORS)


def _hp(**kw):
    return make_hparams(**kw)


@jax.jit
def _update(queue, model, explore, feedback, labels, costs, hp):
    """(new queue state, served satisfaction s_t, cost charged)."""
    queue, out = queue_update(queue, model, explore, feedback, labels, costs, hp)
    return queue, out.satisfaction, out.cost


@jax.jit
def _decide(queue, explore, s_hat, costs, hp):
    return queue_decide(queue, explore, s_hat, costs, hp, CONFIG)


_choose = jax.jit(choose_model)
_explore_prob = jax.jit(explore_prob)


def _queue(virtual=0.0, ideal=0.0, estimate=None):
    q = init_queue(CONFIG)
    return q.replace(
        virtual_queue=jnp.float32(virtual),
        ideal_queue=jnp.float32(ideal),
        cost_estimate=q.cost_estimate if estimate is None else jnp.asarray(estimate, jnp.float32),
    )


# ------------------------------------------------------------------------------ the queue
@SETTINGS
@given(
    q=queues,
    qi=queues,
    alpha=alphas,
    labels=st.lists(unit, min_size=M, max_size=M),
    model=st.integers(0, M - 1),
    explore=st.booleans(),
    feedback=st.booleans(),
)
def test_queue_update_is_max0_of_drift(q, qi, alpha, labels, model, explore, feedback):
    hp = _hp(alpha=alpha)
    costs = jnp.ones((M,), jnp.float32)
    new, s, _ = _update(
        _queue(q, qi), model, explore, feedback, jnp.asarray(labels, jnp.float32), costs, hp
    )
    a, s_t = np.float32(alpha), np.float32(labels[model])
    assert float(s) == s_t
    want = max(np.float32(0), np.float32(q) + a - s_t) if feedback else np.float32(q)
    np.testing.assert_allclose(float(new.virtual_queue), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        float(new.ideal_queue), max(np.float32(0), np.float32(qi) + a - s_t), rtol=1e-6, atol=1e-6
    )
    assert float(new.virtual_queue) >= 0 and float(new.ideal_queue) >= 0


@jax.jit
def _queue_run(hp, satisfaction, feedback):
    def body(queue, inp):
        s, f = inp
        labels = jnp.full((M,), s)
        queue, _ = queue_update(queue, 0, False, f, labels, jnp.ones((M,)), hp)
        return queue, (queue.virtual_queue, queue.ideal_queue)

    return jax.lax.scan(body, init_queue(CONFIG), (satisfaction, feedback))[1]


@SETTINGS
@given(
    alpha=alphas,
    sat=st.lists(unit, min_size=64, max_size=64),
    fb=st.lists(st.booleans(), min_size=64, max_size=64),
)
def test_queues_never_negative(alpha, sat, fb):
    vq, iq = _queue_run(_hp(alpha=alpha), jnp.asarray(sat, jnp.float32), jnp.asarray(fb))
    assert (np.asarray(vq) >= 0).all() and (np.asarray(iq) >= 0).all()
    # Without feedback the decision queue holds still.
    vq = np.concatenate([[0.0], np.asarray(vq)])
    assert (vq[1:][~np.asarray(fb)] == vq[:-1][~np.asarray(fb)]).all()


# ------------------------------------------------------------------------------ the rule
@SETTINGS
@given(
    costs=lattice_costs,
    s_hat=st.lists(unit, min_size=M, max_size=M),
    alpha=alphas,
    V=Vs,
    estimator=estimators,
)
def test_empty_queue_picks_cheapest(costs, s_hat, alpha, V, estimator):
    """Q = 0: argmin_m V E_hat[m], ties to the lowest index, whatever s_hat."""
    e = np.asarray(costs, np.float32)
    want = int(np.argmin(e))  # first minimum
    assert int(_choose(jnp.asarray(s_hat, jnp.float32), e, 0.0, alpha, V)) == want
    # Through queue_decide: E_hat from the state, or the request's true costs (oracle).
    hp = _hp(alpha=alpha, V=V, cost_estimator=estimator)
    if estimator == "oracle":
        queue, true_costs = _queue(), e
    else:
        queue, true_costs = _queue(estimate=e), np.zeros(M, np.float32)
    model, used = _decide(queue, False, jnp.asarray(s_hat, jnp.float32), true_costs, hp)
    assert int(model) == want
    np.testing.assert_array_equal(np.asarray(used), e)


@SETTINGS
@given(
    costs=lattice_costs,
    s_hat=st.lists(st.integers(1, 99), min_size=M, max_size=M, unique=True),
    alpha=alphas,
    V=Vs,
)
def test_large_queue_picks_most_likely(costs, s_hat, alpha, V):
    """Q -> large: the model with the highest s_hat (a gap >= 0.01 beats V * 100 at Q = 1e6)."""
    s = np.asarray(s_hat, np.float32) / 100
    model = _choose(jnp.asarray(s), jnp.asarray(costs, jnp.float32), 1e6, alpha, V)
    assert int(model) == int(np.argmax(s))


@SETTINGS
@given(
    costs=st.lists(_f32(0.0, 1e4), min_size=M, max_size=M),
    s_hat=st.lists(unit, min_size=M, max_size=M),
    q=queues,
    estimator=estimators,
    feedback=st.booleans(),
    epochs=st.integers(0, 5),
    inference_cost=_f32(0.0, 10.0),
    training_cost=_f32(0.0, 10.0),
)
def test_exploration_serves_largest_and_charges_all(
    costs, s_hat, q, estimator, feedback, epochs, inference_cost, training_cost
):
    hp = _hp(
        cost_estimator=estimator,
        epochs=epochs,
        inference_cost=inference_cost,
        training_cost=training_cost,
    )
    e = jnp.asarray(costs, jnp.float32)
    model, _ = _decide(_queue(q), True, jnp.asarray(s_hat, jnp.float32), e, hp)
    assert int(model) == M - 1
    labels = jnp.asarray(s_hat, jnp.float32)
    queue, s, cost = _update(_queue(q), model, True, feedback, labels, e, hp)
    want = sum(costs) + inference_cost + (epochs * training_cost if feedback else 0.0)
    np.testing.assert_allclose(float(cost), want, rtol=1e-5, atol=1e-5)
    assert float(s) == np.float32(s_hat[M - 1])
    # Every model was run: counted once, and E_hat (any estimator) is now the costs seen.
    np.testing.assert_array_equal(np.asarray(queue.cost_count), np.ones(M))
    np.testing.assert_array_equal(np.asarray(queue.cost_estimate), np.asarray(e))


@SETTINGS
@given(c=_f32(1e-3, 100.0), t1=st.integers(1, 10**6), t2=st.integers(1, 10**6))
def test_explore_prob_in_unit_interval_and_non_increasing(c, t1, t2):
    t1, t2 = min(t1, t2), max(t1, t2)
    p1, p2 = float(_explore_prob(t1, c)), float(_explore_prob(t2, c))
    assert 0 < p2 <= p1 <= 1
    assert float(_explore_prob(1, c)) == min(1.0, float(np.float32(c)))


# ------------------------------------------------------------------------------ whole episodes
T_EPISODE = 64


@jax.jit
def _episode(x, labels, costs, hp, key):
    def body(state, request):
        state, out = step(state, request, hp, CONFIG)
        return state, out

    return jax.lax.scan(body, init_state(key, CONFIG), Request(x=x, labels=labels, costs=costs))[1]


@settings(max_examples=25, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    alpha=alphas,
    V=_f32(1e-4, 1.0),
    c=_f32(0.05, 2.0),
    estimator=estimators,
    feedback_rate=unit,
)
def test_full_feedback_ideal_equals_virtual(seed, alpha, V, c, estimator, feedback_rate):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T_EPISODE, CONFIG.feature_dim)).astype(np.float32)
    labels = rng.integers(0, 2, (T_EPISODE, M)).astype(np.float32)
    costs = (rng.uniform(1, 2, (T_EPISODE, M)) * 4.0 ** np.arange(M)).astype(np.float32)
    key = jax.random.PRNGKey(seed)
    full = _episode(
        x,
        labels,
        costs,
        _hp(alpha=alpha, V=V, c=c, cost_estimator=estimator, feedback_rate=1.0),
        key,
    )
    assert np.asarray(full.feedback).all()
    np.testing.assert_array_equal(np.asarray(full.virtual_queue), np.asarray(full.ideal_queue))
    assert (np.asarray(full.virtual_queue) >= 0).all()
    explore = np.asarray(full.explore)
    assert (np.asarray(full.model)[explore] == M - 1).all()
    np.testing.assert_allclose(np.asarray(full.cost)[explore], costs[explore].sum(1), rtol=1e-6)
    if c >= 1:
        assert explore[0]  # p_1 = min(1, c) = 1
    # Sparse feedback: the decision queue moves only on requests with feedback.
    f = max(feedback_rate, 0.01)
    sparse = _episode(
        x, labels, costs, _hp(alpha=alpha, V=V, c=c, cost_estimator=estimator, feedback_rate=f), key
    )
    vq = np.concatenate([[0.0], np.asarray(sparse.virtual_queue)])
    no_fb = ~np.asarray(sparse.feedback)
    assert (vq[1:][no_fb] == vq[:-1][no_fb]).all()
    assert (np.asarray(sparse.ideal_queue) >= 0).all()
