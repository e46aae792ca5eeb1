"""The live Router's tickets: many requests in flight, outcomes in any order or never,
expiry, batched decisions, threads, and save/restore with requests in flight."""

from __future__ import annotations

import threading

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messjax.core.step import init_state, step
from messjax.core.types import Request
from messjax.data import synthetic_zoo
from messjax.router import (
    Router,
    TicketClosed,
    TicketExpired,
    TicketIncomplete,
    UnknownTicket,
)

D = 16


@pytest.fixture(scope="module")
def stream():
    table = synthetic_zoo("toy", num_requests=160, seed=5)
    x = np.random.default_rng(1).normal(size=(160, D)).astype(np.float32)
    return x, table.labels, table.costs, list(table.models)


def make_router(models, **kw) -> Router:
    hp = dict(alpha=0.7, V=1e-3, c=0.9, learning_rate=0.05, epochs=1)
    hp.update(kw)
    return Router.create(models, D, seed=11, policy="messplus", **hp)


def outcome(d, labels, costs, t):
    if d.explore:
        return labels[t], costs[t]
    return labels[t, d.model_index], costs[t, d.model_index]


def test_one_in_flight_with_ids_equals_the_episode_step(stream):
    x, labels, costs, models = stream
    router = make_router(models)
    state = init_state(jax.random.PRNGKey(11), router.config)
    jstep = jax.jit(step, static_argnames="config")
    for t in range(60):
        d = router.route(x[t])
        assert d.index == t + 1
        router.observe(d.id, *outcome(d, labels, costs, t))
        req = Request(x=x[t], labels=labels[t], costs=costs[t])
        state, out = jstep(state, req, router.hparams, router.config)
        assert int(out.model) == d.model_index and bool(out.explore) == d.explore
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), router.state, state)
    assert all(jax.tree.leaves(same))


def test_many_in_flight_out_of_order(stream):
    x, labels, costs, models = stream
    router = make_router(models)
    ds = [router.route(x[t]) for t in range(8)]
    assert router.in_flight == 8 and [d.index for d in ds] == list(range(1, 9))
    # decisions made with nothing observed use the initial state: same s_hat for equal x
    q0 = router.virtual_queue
    for t in [5, 0, 7, 2, 1, 6, 4, 3]:
        router.observe(ds[t].id, *outcome(ds[t], labels, costs, t))
    assert router.in_flight == 0 and router.num_observed == 8 == router.num_requests
    assert router.stats.feedback == 8 and router.stats.observed == 8
    assert router.virtual_queue != q0 or labels[:8].min() >= 0.7
    with pytest.raises(TicketClosed):
        router.observe(ds[0].id, *outcome(ds[0], labels, costs, 0))
    with pytest.raises(UnknownTicket):
        router.observe("mj-made-up", 1.0, 1.0)


def test_no_feedback_moves_nothing_but_the_cost(stream):
    x, labels, costs, models = stream
    router = make_router(models, c=50.0)  # every request explores
    for t in range(3):  # some queue and predictor to start from
        d = router.route(x[t])
        router.observe(d.id, labels[t], costs[t])
    before = router.state
    d = router.route(x[3])
    assert d.explore
    out = router.observe(d.id, None, costs[3])
    assert out["satisfaction"] is None
    np.testing.assert_allclose(out["cost"], costs[3].sum(), rtol=1e-6)
    after = router.state
    assert float(after.queue.virtual_queue) == float(before.queue.virtual_queue)
    assert float(after.queue.ideal_queue) == float(before.queue.ideal_queue)
    same = jax.tree.map(
        lambda a, b: bool(np.array_equal(a, b)), after.learner.params, before.learner.params
    )
    assert all(jax.tree.leaves(same))  # nothing trained
    assert int(after.learner.t) == int(before.learner.t) + 1
    assert router.stats.no_feedback == 1 and router.stats.feedback == 3


def test_recorded_costs_expiry_and_incomplete(stream):
    x, labels, costs, models = stream
    router = make_router(models, c=1e-6)  # no explorations after the first requests
    router.expiry = 10.0
    now = [1000.0]
    router.clock = lambda: now[0]
    d1 = router.route(x[0])
    d2 = router.route(x[1])
    with pytest.raises(TicketIncomplete):
        router.observe(d1.id, 1.0)
    router.record_costs(d1.id, costs[0] if d1.explore else costs[0, d1.model_index])
    router.record_costs(d2.id, costs[1] if d2.explore else costs[1, d2.model_index])
    router.observe(d1.id, labels[0] if d1.explore else labels[0, d1.model_index])
    now[0] += 11
    with pytest.raises(TicketExpired):
        router.observe(d2.id, 1.0)
    q = router.virtual_queue
    assert router.expire() == [d2.id]
    assert router.virtual_queue == q and router.stats.expired == 1
    assert router.stats.cost == pytest.approx(
        float(np.sum(costs[0] if d1.explore else costs[0, d1.model_index]))
        + float(np.sum(costs[1] if d2.explore else costs[1, d2.model_index])),
        rel=1e-6,
    )
    with pytest.raises(TicketExpired):  # expired, not a duplicate (serve: 410, not 409)
        router.observe(d2.id, 1.0, 1.0)


def test_route_batch_equals_routes_in_a_row(stream):
    x, labels, costs, models = stream
    a, b = make_router(models), make_router(models)
    for t in range(5):  # same history
        for r in (a, b):
            d = r.route(x[t])
            r.observe(d.id, *outcome(d, labels, costs, t))
    one = [a.route(x[t]) for t in range(5, 25)]
    many = b.route_batch(x[5:25])
    assert [d.index for d in one] == [d.index for d in many] == list(range(6, 26))
    assert [(d.model_index, d.explore, d.feedback) for d in one] == [
        (d.model_index, d.explore, d.feedback) for d in many
    ]
    np.testing.assert_allclose(
        np.stack([d.s_hat for d in one]), np.stack([d.s_hat for d in many]), rtol=1e-6
    )
    assert b.in_flight == 20 and b.route_batch([]) == []


def test_route_batch_with_texts():
    router = Router.create(
        ["s", "l"], 4096, featurizer="hash", seed=0, alpha=0.6, policy="messplus"
    )
    ds = router.route_batch(["what is 2 + 2?", "prove the Riemann hypothesis", "hi"])
    assert [d.index for d in ds] == [1, 2, 3] and len({d.id for d in ds}) == 3


def test_threads_share_a_router(stream):
    x, labels, costs, models = stream
    router = make_router(models)
    errors = []

    def client(k):
        try:
            for i in range(10):
                t = (10 * k + i) % len(x)
                d = router.route(x[t])
                router.observe(d.id, *outcome(d, labels, costs, t))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert router.num_requests == router.num_observed == 80 == router.stats.observed
    assert sum(router.stats.served) == 80 and router.in_flight == 0


def test_save_restore_with_tickets_in_flight(stream, tmp_path):
    x, labels, costs, models = stream
    straight = make_router(models)
    first = make_router(models)
    for r in (straight, first):
        ds = [r.route(x[t]) for t in range(6)]
        for t in (3, 1):
            r.observe(ds[t].id, *outcome(ds[t], labels, costs, t))
        r.record_costs(ds[0].id, costs[0] if ds[0].explore else costs[0, ds[0].model_index])
    ids = [t.id for t in first.pending()]
    first.save(tmp_path / "r")
    restored = Router.restore(tmp_path / "r")
    assert [t.id for t in restored.pending()] == ids
    assert restored.routed == 6 and restored.stats == first.stats
    with pytest.raises(TicketClosed):  # closed ids survive: no second outcome after a restart
        restored.observe(ds[3].id, 1.0, 1.0)
    # The straight router got other ids; line them up by request number.
    by_index = {t.index: t.id for t in straight.pending()}
    for r, id_of in ((restored, {t.index: t.id for t in restored.pending()}), (straight, by_index)):
        for n in (6, 1, 3, 5):  # request numbers 6, 1, 3, 5 = rows 5, 0, 2, 4
            t = r.ticket(id_of[n])
            lab = labels[n - 1] if t.explore else labels[n - 1, t.model]
            r.observe(t.id, lab, None if n == 1 else (costs[n - 1] if t.explore else 1.0))
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), restored.state, straight.state)
    assert all(jax.tree.leaves(same))
    assert [restored.route(x[t]).model_index for t in range(6, 20)] == [
        straight.route(x[t]).model_index for t in range(6, 20)
    ]


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 7), st.sampled_from([0.0, 1.0, None]))))
def test_any_interleaving_keeps_the_books(ops):
    """Random route/observe interleavings: the counters add up, Q >= 0, and Q moves only on
    outcomes that count (with feedback_rate = 1: every non-None outcome)."""
    router = _shared_router().snapshot()
    rng = np.random.default_rng(0)
    routed = observed = counted = 0
    for is_route, pick, sat in ops:
        pending = router.pending()
        if is_route or not pending:
            router.route(rng.normal(size=D).astype(np.float32))
            routed += 1
            continue
        t = pending[pick % len(pending)]
        q = router.virtual_queue
        s = None if sat is None else ([sat] * 3 if t.explore else sat)
        router.observe(t.id, s, [1.0, 2.0, 3.0] if t.explore else 2.0)
        observed += 1
        counted += sat is not None
        if sat is None:
            assert router.virtual_queue == q
        else:
            assert router.virtual_queue == pytest.approx(max(0.0, q + 0.7 - sat), abs=1e-5)
    assert router.virtual_queue >= 0
    assert router.num_observed - 3 == observed and router.routed - 3 == routed
    assert router.in_flight == routed - observed
    assert router.stats.feedback - 3 == counted and sum(router.stats.served) - 3 == observed


_SHARED = {}


def _shared_router() -> Router:
    """A router with a short history (3 observed requests), compiled once for the property."""
    if "r" not in _SHARED:
        table = synthetic_zoo("toy", num_requests=3, seed=1)
        r = make_router(list(table.models))
        x = np.random.default_rng(2).normal(size=(3, D)).astype(np.float32)
        for t in range(3):
            d = r.route(x[t])
            r.observe(d.id, *outcome(d, table.labels, table.costs, t))
        _SHARED["r"] = r
    return _SHARED["r"]


def test_journal_replay_after_a_kill_is_exact(stream, tmp_path):
    """PersistentRouter: journal + checkpoint; a reopened folder (after a checkpoint, more
    traffic and a torn last line, as a kill -9 mid-write leaves) holds the same router."""
    from messjax.serve.persist import PersistentRouter

    x, labels, costs, models = stream

    def traffic(p, rows):
        ds = []
        for t in rows:
            with p.lock:
                d = p.router.route(x[t])
                p.journal.write({"op": "route", "ticket": p.router.ticket(d.id).to_json()})
            ds.append((t, d))
        for t, d in ds[::2]:
            p.record_costs(d.id, costs[t] if d.explore else costs[t, d.model_index])
            p.observe(d.id, labels[t] if d.explore else labels[t, d.model_index])
        t, d = ds[1]
        p.record_costs(d.id, costs[t] if d.explore else costs[t, d.model_index])
        p.close_without_feedback(d.id)

    p = PersistentRouter(tmp_path, lambda: make_router(models), {"v": 1})
    traffic(p, list(range(0, 10)))
    assert p.checkpoint() is not None
    traffic(p, list(range(10, 20)))
    with open(p.journal.path, "a") as f:
        f.write('{"seq": 999, "op": "observe", "id": "mj-')  # torn: never acknowledged
    fp, stats = p.router.fingerprint(), p.router.stats
    # what a checkpoint killed mid-save leaves: its folder and the save's own temporaries
    (tmp_path / ".tmp-checkpoint-000000000042").mkdir()
    (tmp_path / "..tmp-checkpoint-000000000042.0123456789ab.messjax-router-tmp").mkdir()
    q = PersistentRouter(tmp_path, lambda: make_router(models), {"v": 1})
    assert not list(tmp_path.glob("*tmp-checkpoint-*"))
    assert q.replayed > 0 and q.router.fingerprint() == fp and q.router.stats == stats
    with pytest.raises(TicketClosed):
        q.observe(p.router.live_meta()["closed"][0][0], 1.0)  # acknowledged before the kill
    with pytest.raises(Exception, match="other settings"):
        PersistentRouter(tmp_path, lambda: make_router(models), {"v": 2})


def test_journal_replays_costs_recorded_as_not_observed(stream, tmp_path):
    """record_costs(unknown=...) (a failed upstream) is journaled and replayed as such."""
    from messjax.serve.persist import PersistentRouter

    x, _labels, costs, models = stream
    p = PersistentRouter(tmp_path, lambda: make_router(models), {"v": 1})
    with p.lock:
        d = p.router.route(x[0])
        p.journal.write({"op": "route", "ticket": p.router.ticket(d.id).to_json()})
    p.record_costs(d.id, costs[0] if d.explore else costs[0, d.model_index], unknown=[d.model])
    assert np.isnan(p.router.ticket(d.id).costs[d.model_index])
    q = PersistentRouter(tmp_path, lambda: make_router(models), {"v": 1})
    assert np.isnan(q.router.ticket(d.id).costs[d.model_index])
    before = np.asarray(q.router.cost_estimate).copy()
    q.close_without_feedback(d.id)
    assert np.asarray(q.router.cost_estimate)[d.model_index] == before[d.model_index]
