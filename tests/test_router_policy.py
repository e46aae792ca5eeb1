"""The live Router on the ``messjax`` policy (its default): replay equality with
``messjax.core.policy``, query sets, tickets out of order, no feedback, batched decisions,
save/restore with tickets in flight, and input validation."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from messjax.core import policy as mj
from messjax.core.episode import Stream
from messjax.data import synthetic_zoo
from messjax.errors import MessjaxError
from messjax.router import Router

D = 16
SEED = 13


@pytest.fixture(scope="module")
def stream():
    table = synthetic_zoo("toy", num_requests=120, seed=5)
    x = np.random.default_rng(2).normal(size=(120, D)).astype(np.float32)
    return x, table.labels.astype(np.float32), table.costs.astype(np.float32), list(table.models)


def make_router(models, **kw) -> Router:
    hp = dict(alpha=0.7, c=0.5)
    hp.update(kw)
    return Router.create(models, D, seed=SEED, **hp)


def outcome(d, labels, costs, t):
    """One value per queried model, in ``query`` order."""
    q = list(d.query_index)
    return labels[t, q], costs[t, q]


def test_default_policy_is_messjax_and_its_queries(stream):
    x, labels, costs, models = stream
    r = make_router(models)
    assert r.policy == "messjax" and r.policy_params is not None
    assert Router.create(models, D, policy="messplus").policy == "messplus"
    with pytest.raises(MessjaxError, match="unknown policy"):
        Router.create(models, D, policy="mess")
    with pytest.raises(MessjaxError, match="messjax policy parameters"):
        Router.create(models, D, policy="messplus", margin=2.0)
    d = r.route(x[0])
    assert d.explore and d.query_index == tuple(range(len(models)))  # t = 1: every model
    assert d.query == tuple(models)
    r.observe(d.id, *outcome(d, labels, costs, 0))
    extra = 0
    for t in range(1, 60):
        d = r.route(x[t])
        assert d.model_index in d.query_index
        assert len(d.query_index) == 1 + d.explore  # served, plus one extra on an exploration
        extra += d.explore
        wrong = 2 if len(d.query_index) == 1 else 1  # neither the query set nor all M
        with pytest.raises(MessjaxError, match="per queried model"):
            r.observe(d.id, np.ones(wrong), np.ones(wrong))
        r.observe(d.id, *outcome(d, labels, costs, t))
    assert extra > 0
    assert sum(r.stats.queried) == 60 + len(models) - 1 + extra


def test_router_replays_the_policy_episode(stream):
    """Routed and observed one at a time, the router decides exactly like
    :func:`messjax.core.policy.run_episode` over the same stream."""
    x, labels, costs, models = stream
    router = make_router(models, feedback_rate=0.8)
    chosen, deficits, cost = [], [], 0.0
    for t in range(len(x)):
        d = router.route(x[t])
        chosen.append(d.model_index)
        if t % 2:  # full vectors are accepted as well
            out = router.observe(d.id, labels[t], costs[t])
        else:
            out = router.observe(d.id, *outcome(d, labels, costs, t))
        deficits.append(router.virtual_queue)
        cost += out["cost"]

    key = jax.random.PRNGKey(SEED)
    hp, pp = router.hparams, router.policy_params
    st = Stream(
        x=jnp.asarray(x),
        labels=jnp.asarray(labels),
        costs=jnp.asarray(costs),
        mask=jnp.ones(len(x), bool),
    )

    def body(state, row):
        state, out = mj.step(state, *row, hp, pp)
        return state, (out.model, out.deficit)

    final, (m, q) = jax.lax.scan(
        body, mj.init_policy(key, len(models), D, hp, pp), (st.x, st.labels, st.costs)
    )
    np.testing.assert_array_equal(np.asarray(m), chosen)
    np.testing.assert_array_equal(np.asarray(q), np.asarray(deficits, np.float32))
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), router.state, final)
    assert all(jax.tree.leaves(same))
    summary, _ = mj.run_episode(st, hp, pp, key)
    assert int(summary.explore_count) == router.stats.explorations
    np.testing.assert_array_equal(np.asarray(summary.served_counts), router.stats.served)
    np.testing.assert_allclose(float(summary.total_cost), cost, rtol=1e-5)


def test_tickets_out_of_order(stream):
    """Decisions use the state at routing time (request numbers = routing order); outcomes
    are applied in the order they arrive."""
    x, labels, costs, models = stream
    router = make_router(models)
    hp, pp = router.hparams, router.policy_params
    state = mj.init_policy(jax.random.PRNGKey(SEED), len(models), D, hp, pp)
    for t in range(10):  # a short history, one at a time
        d = router.route(x[t])
        router.observe(d.id, *outcome(d, labels, costs, t))
        dec = mj.decide(state, jnp.asarray(x[t]), hp, pp)
        state, _ = mj.observe(state, dec, x[t], labels[t], costs[t], hp, pp)
    ds = [router.route(x[t]) for t in range(10, 18)]
    assert router.in_flight == 8 and [d.index for d in ds] == list(range(11, 19))
    decs = [mj.decide(state, jnp.asarray(x[10 + i]), hp, pp, t=11 + i) for i in range(8)]
    for d, dec in zip(ds, decs, strict=True):
        assert d.model_index == int(dec.model)
        assert d.query_index == tuple(int(i) for i in np.flatnonzero(dec.queried))
    for i in [5, 0, 7, 2, 1, 6, 4, 3]:
        router.observe(ds[i].id, *outcome(ds[i], labels, costs, 10 + i))
        state, _ = mj.observe(state, decs[i], x[10 + i], labels[10 + i], costs[10 + i], hp, pp)
    assert router.in_flight == 0 and router.num_observed == 18 == router.num_requests
    close = jax.tree.map(
        lambda a, b: bool(np.allclose(a, b, rtol=1e-6, atol=1e-7)), router.state, state
    )
    assert all(jax.tree.leaves(close))


def test_no_feedback_takes_the_imputed_deficit(stream):
    x, labels, costs, models = stream
    router = make_router(models)
    for t in range(20):
        d = router.route(x[t])
        router.observe(d.id, *outcome(d, labels, costs, t))
    before = router.state
    d = router.route(x[20])
    q = list(d.query_index)
    out = router.observe(d.id, None, costs[20, q])
    after = router.state
    m = d.model_index
    p = float(before.k[m] / before.n[m])
    imputed = p - 1.0 * np.sqrt(p * (1 - p) / float(before.n[m]))  # impute_z = 1
    alpha = float(router.hparams.alpha)
    assert out["satisfaction"] is None
    np.testing.assert_allclose(float(after.deficit), float(before.deficit) + alpha - imputed, 1e-5)
    np.testing.assert_array_equal(after.n, before.n)  # nothing learnt
    np.testing.assert_array_equal(after.k, before.k)
    decay = float(router.hparams.learning_rate) * float(router.policy_params.l2)
    np.testing.assert_allclose(after.W, before.W * (1 - decay), rtol=1e-5)  # l2 decay only
    assert float(after.realised_deficit) == float(before.realised_deficit)
    np.testing.assert_array_equal(
        np.asarray(after.cost_count)[q], np.asarray(before.cost_count)[q] + 1
    )
    assert out["cost"] == pytest.approx(float(costs[20, q].sum()), rel=1e-6)
    assert router.stats.no_feedback == 1 and router.stats.feedback == 20
    # expiry closes without feedback as well
    router.expiry = 10.0
    router.clock = lambda: 1e12
    d2 = router.route(x[21])
    router.clock = lambda: 1e12 + 11.0
    assert router.expire() == [d2.id]
    assert router.stats.expired == 1 and router.in_flight == 0


def test_route_batch_equals_routes_in_a_row(stream):
    x, labels, costs, models = stream
    a, b = make_router(models), make_router(models)
    for t in range(5):
        for r in (a, b):
            d = r.route(x[t])
            r.observe(d.id, *outcome(d, labels, costs, t))
    one = [a.route(x[t]) for t in range(5, 25)]
    many = b.route_batch(x[5:25])
    key = lambda d: (d.index, d.model_index, d.explore, d.feedback, d.query_index)  # noqa: E731
    assert [key(d) for d in one] == [key(d) for d in many]
    np.testing.assert_allclose(
        np.stack([d.s_hat for d in one]), np.stack([d.s_hat for d in many]), rtol=1e-6
    )
    with pytest.raises(MessjaxError, match="no costs"):
        b.route(x[0], costs=costs[0])


def test_save_restore_mid_stream_with_tickets_in_flight(stream, tmp_path):
    x, labels, costs, models = stream
    router = make_router(models)
    for t in range(30):
        d = router.route(x[t])
        router.observe(d.id, *outcome(d, labels, costs, t))
    flying = [router.route(x[t]) for t in range(30, 34)]
    router.record_costs(flying[1].id, costs[31, list(flying[1].query_index)])
    router.save(tmp_path / "ckpt")
    back = Router.restore(tmp_path / "ckpt")
    assert back.policy == "messjax" and back.fingerprint() == router.fingerprint()
    same = jax.tree.map(
        lambda a, b: bool(np.array_equal(a, b)), back.policy_params, router.policy_params
    )
    assert all(jax.tree.leaves(same))
    for r in (router, back):  # finish the in-flight ones (one without feedback), go on
        for i in (2, 0, 3):
            r.observe(flying[i].id, *outcome(flying[i], labels, costs, 30 + i))
        r.observe(flying[1].id, None)  # recorded costs charged
    seq = []
    for r in (router, back):
        out = []
        for t in range(34, 60):
            d = r.route(x[t])
            out.append((d.model_index, d.query_index, d.explore))
            r.observe(d.id, *outcome(d, labels, costs, t))
        seq.append(out)
    assert seq[0] == seq[1]
    assert back.fingerprint() == router.fingerprint()


def test_checkpoint_without_policy_restores_as_messplus(tmp_path):
    r = Router.create(["a", "b"], 4, seed=0, policy="messplus")
    d = r.route(np.ones(4))
    r.observe(d.id, [1.0] * len(d.query_index), [1.0] * len(d.query_index))
    r.save(tmp_path / "old")
    metas = [p for p in (tmp_path / "old" / "meta").rglob("*") if p.is_file()]
    edited = 0
    for p in metas:
        try:
            meta = json.loads(p.read_text())
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("policy") == "messplus":
            del meta["policy"]  # as written before policies
            p.write_text(json.dumps(meta))
            edited += 1
    assert edited == 1
    back = Router.restore(tmp_path / "old")
    assert back.policy == "messplus" and back.fingerprint() == r.fingerprint()


def test_validation_refuses_nan(stream):
    x, _, _, models = stream
    router = make_router(models)
    with pytest.raises(MessjaxError, match="NaN"):
        router.route(np.full(D, np.nan))
    d = router.route(x[0])
    fp = router.fingerprint()
    n = len(d.query_index)
    with pytest.raises(MessjaxError, match="NaN"):
        router.observe(d.id, np.full(n, np.nan), np.ones(n))
    with pytest.raises(MessjaxError, match="NaN"):
        router.observe(d.id, np.ones(n), np.full(n, np.inf))
    with pytest.raises(MessjaxError, match=r"\[0, 1\]"):
        router.observe(d.id, np.full(n, 2.0), np.ones(n))
    assert router.fingerprint() == fp and router.in_flight == 1
    router.observe(d.id, np.ones(n), np.ones(n))
    assert np.isfinite(router.virtual_queue)


def test_warm_started_router_replays_run_cells_with_history(stream):
    """A router warm-started on history every model answered decides like ``run_cells`` with
    that history as the stream's fourth item; a warm start after the first request, on a
    messplus router, or with bad history is refused, naming the problem."""
    x, labels, costs, models = stream
    hist, live = slice(0, 40), slice(40, None)
    router = make_router(models)
    router.warm_start(x[hist], labels[hist], costs[hist])
    chosen = []
    for t in range(40, len(x)):
        d = router.route(x[t])
        chosen.append(d.model_index)
        router.observe(d.id, labels[t], costs[t])
    cell = dict(
        stream=0,
        seed=SEED,
        order=np.arange(len(x) - 40),
        hp=router.hparams,
        pp=router.policy_params,
    )
    warm = (x[hist], labels[hist], costs[hist])
    summary, _ = mj.run_cells([(x[live], labels[live], costs[live], warm)], [cell])
    served = np.bincount(chosen, minlength=len(models))
    np.testing.assert_array_equal(np.asarray(summary.served_counts)[0], served)
    with pytest.raises(MessjaxError, match="before its first request"):
        router.warm_start(x[hist], labels[hist], costs[hist])
    with pytest.raises(MessjaxError, match="before its first request"):
        make_router(models, policy="messplus").warm_start(x[hist], labels[hist], costs[hist])
    fresh = make_router(models)
    before = fresh.fingerprint()
    with pytest.raises(MessjaxError, match=r"labels have shape \(40, 2\)"):
        fresh.warm_start(x[hist], labels[hist, :2], costs[hist])
    bad = labels[hist].copy()
    bad[3, 1] = np.nan
    with pytest.raises(MessjaxError, match="NaN"):
        fresh.warm_start(x[hist], bad, costs[hist])
    assert fresh.fingerprint() == before  # nothing was half-applied
    fresh.warm_start(x[hist], labels[hist], costs[hist])
    assert fresh.fingerprint() != before
    with pytest.raises(MessjaxError, match="already warm-started"):
        fresh.warm_start(x[hist], labels[hist], costs[hist])
