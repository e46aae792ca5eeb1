"""Orbax checkpoints: the live router restores to the exact same decisions; sweep chunks."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from messjax.core.episode import Summary, Totals
from messjax.data import synthetic_zoo
from messjax.errors import MessjaxError
from messjax.router import Router
from messjax.runs.checkpoint import SweepCheckpoint

D = 16


@pytest.fixture(scope="module")
def stream():
    table = synthetic_zoo("toy", num_requests=200, seed=3)
    x = np.random.default_rng(0).normal(size=(200, D)).astype(np.float32)
    return x, table.labels, table.costs, table.models


def make_router(models) -> Router:
    return Router.create(
        list(models),
        D,
        head="mlp",
        policy="messplus",
        seed=7,
        alpha=0.7,
        V=1e-3,
        c=0.8,
        learning_rate=0.05,
        epochs=2,
        cost_estimator="running_mean",
    )


def feed(router: Router, stream, lo: int, hi: int) -> list:
    x, labels, costs, _ = stream
    log = []
    for t in range(lo, hi):
        d = router.route(x[t])
        if d.explore:
            out = router.observe(labels[t], costs[t])
        else:
            out = router.observe(labels[t, d.model_index], costs[t, d.model_index])
        log.append((d.model_index, d.explore, d.feedback, d.s_hat.tolist(), out))
    return log


def test_restored_router_decides_like_an_uninterrupted_one(stream, tmp_path):
    straight = make_router(stream[3])
    expected = feed(straight, stream, 0, 200)

    first = make_router(stream[3])
    got = feed(first, stream, 0, 100)
    first.save(tmp_path / "router")
    first.save(tmp_path / "router")  # overwriting is fine
    del first

    restored = Router.restore(tmp_path / "router")
    assert restored.models == tuple(stream[3]) and restored.seed == 7
    assert restored.config == straight.config and restored.num_requests == 100
    assert jax.tree.map(float, restored.hparams) == jax.tree.map(float, straight.hparams)
    got += feed(restored, stream, 100, 200)

    assert got == expected  # every decision, s_hat and outcome, bit for bit
    explores = [e for _, e, *_ in expected]
    assert any(explores[:100]) and any(explores[100:])  # the predictor trained on both sides
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), restored.state, straight.state)
    assert all(jax.tree.leaves(same))


def test_messjax_router_keeps_its_policy_params(stream, tmp_path):
    """Every leaf round-trips, a set ``price_cap`` included (the meta lists the leaves; a
    checkpoint from before ``price_cap`` restores it at its default, off)."""
    x, labels, costs, models = stream
    router = Router.create(
        list(models), D, seed=5, alpha=0.7, price_cap=10.0, margin=1.0, infeasible_cap=2.0
    )
    for t in range(20):
        d = router.route(x[t])
        router.observe(d.id, labels[t], costs[t])
    router.save(tmp_path / "r")
    restored = Router.restore(tmp_path / "r")
    assert jax.tree.map(float, restored.policy_params) == jax.tree.map(float, router.policy_params)
    assert float(restored.policy_params.price_cap) == 10.0
    assert float(restored.policy_params.infeasible_cap) == 2.0
    assert restored.fingerprint() == router.fingerprint()


def test_checkpoint_from_before_the_hold_restores_it_off(stream, tmp_path, monkeypatch):
    """A checkpoint saved before the out-of-reach hold existed (its meta lists the 6 earlier
    leaves) restores with the hold off (infeasible_cap = inf) and the other leaves kept."""
    from messjax.router import checkpoint as ckpt

    x, labels, costs, models = stream
    router = Router.create(list(models), D, seed=5, alpha=0.7, margin=1.0, price_cap=7.0)
    for t in range(5):
        d = router.route(x[t])
        router.observe(d.id, labels[t], costs[t])
    old = ("prior", "ts_temp", "margin", "impute_z", "l2", "price_cap")
    monkeypatch.setattr(ckpt, "POLICY_PARAM_NAMES", old)
    full = router.policy_params
    router.policy_params = {k: getattr(full, k) for k in old}  # what an old router saved
    router.save(tmp_path / "r")
    router.policy_params = full
    monkeypatch.undo()
    restored = Router.restore(tmp_path / "r")
    pp = restored.policy_params
    assert float(pp.infeasible_cap) == float("inf")
    assert float(pp.margin) == 1.0 and float(pp.price_cap) == 7.0
    assert restored.fingerprint() == router.fingerprint()


def test_checkpoint_from_the_earlier_hold_rule_warns(stream, tmp_path, monkeypatch):
    """A router saved with the hold on under the earlier rule (no ``hold_rule`` in its meta, or
    another one) restores with a warning naming the change; one saved now, or with the hold
    off, restores silently."""
    import warnings

    from messjax.router import checkpoint as ckpt

    x, labels, costs, models = stream
    held = Router.create(list(models), D, seed=5, alpha=0.7, infeasible_cap=2.0)
    for t in range(5):
        d = held.route(x[t])
        held.observe(d.id, labels[t], costs[t])
    monkeypatch.setattr(ckpt, "HOLD_RULE", "every model judged, p + z std")
    held.save(tmp_path / "old")
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="earlier rule.*infeasible_min_labels = 100"):
        restored = Router.restore(tmp_path / "old")
    assert restored.fingerprint() == held.fingerprint()
    held.save(tmp_path / "new")
    free = Router.create(list(models), D, seed=5, alpha=0.7)
    monkeypatch.setattr(ckpt, "HOLD_RULE", "every model judged, p + z std")
    free.save(tmp_path / "off")
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Router.restore(tmp_path / "new")
        Router.restore(tmp_path / "off")


def test_save_between_route_and_observe_keeps_the_ticket(stream, tmp_path):
    x, labels, costs, models = stream
    router = make_router(models)
    d = router.route(x[0])
    router.save(tmp_path / "r")
    restored = Router.restore(tmp_path / "r")
    assert restored.in_flight == 1 and restored.fingerprint() == router.fingerprint()
    outcome = (labels[0], costs[0]) if d.explore else (labels[0, d.model_index], 1.0)
    assert restored.observe(d.id, *outcome) == router.observe(d.id, *outcome)
    with pytest.raises(MessjaxError, match="no router checkpoint"):
        Router.restore(tmp_path / "missing")


def test_sweep_checkpoint_roundtrip_and_identity(tmp_path):
    n, p, m = 4, 3, 2
    rng = np.random.default_rng(0)
    summary = Summary(
        num_requests=np.full(n, 9, np.int32),
        total_cost=rng.random(n, np.float32),
        satisfaction=rng.random(n, np.float32),
        sla_met=np.array([True, False, True, True]),
        explore_count=np.arange(n, dtype=np.int32),
        feedback_count=np.arange(n, dtype=np.int32),
        served_counts=np.ones((n, m), np.int32),
        query_counts=np.ones((n, m), np.int32),
        cumulative_violation=rng.random(n, np.float32),
        max_queue=rng.random(n, np.float32),
        final_queue=rng.random(n, np.float32),
        final_ideal_queue=rng.random(n, np.float32),
    )
    trace = Totals(
        **{
            k: np.stack([np.asarray(v)] * p, axis=1)
            for k, v in {
                "num_requests": summary.num_requests,
                "total_cost": summary.total_cost,
                "satisfied": summary.satisfaction,
                "explore_count": summary.explore_count,
                "feedback_count": summary.feedback_count,
                "served_counts": summary.served_counts,
                "query_counts": summary.query_counts,
                "cumulative_violation": summary.cumulative_violation,
                "max_queue": summary.max_queue,
                "virtual_queue": summary.final_queue,
                "ideal_queue": summary.final_ideal_queue,
            }.items()
        }
    )
    with SweepCheckpoint(tmp_path / "ck", {"config": {"alpha": [0.5]}}) as ck:
        assert ck.completed("t") == [] and ck.load("t", 0) is None
        ck.save("t", 1, summary, None)
        ck.save("t/2", 0, summary, trace)
    with SweepCheckpoint(tmp_path / "ck", {"config": {"alpha": [0.5]}}) as ck:
        assert ck.completed("t") == [1]
        s, tr = ck.load("t", 1)
        assert tr is None
        for k in ("total_cost", "sla_met", "served_counts"):
            np.testing.assert_array_equal(getattr(s, k), getattr(summary, k))
            assert getattr(s, k).dtype == getattr(summary, k).dtype
        _, tr = ck.load("t/2", 0)
        np.testing.assert_array_equal(tr.served_counts, trace.served_counts)
    from messjax.runs.checkpoint import CheckpointMismatch

    with pytest.raises(CheckpointMismatch, match=r"config\.alpha"):
        SweepCheckpoint(tmp_path / "ck", {"config": {"alpha": [0.6]}})


def test_chunks_and_their_concatenation_invert_split_by_grid():
    from messjax.core.sweep import chunk_bounds, concat_cells, make_grid, split_by_grid

    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(10, None) == [(0, 10)]
    grids = [make_grid([1, 2], alpha=[0.5, 0.6]), make_grid([3], V=[1e-4, 1e-3, 1e-2])]
    cells = concat_cells([(g.seeds, g.hparams) for g in grids])
    assert cells[0].tolist() == [1, 1, 2, 2, 3, 3, 3]
    summary = {"cost": np.arange(7.0), "served": np.arange(14).reshape(7, 2)}
    parts = split_by_grid(grids, summary, None, 0)
    assert [p.summary["cost"].tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6]]
    back, trace = concat_cells([(p.summary, p.trace) for p in parts])
    assert trace is None
    np.testing.assert_array_equal(back["served"], summary["served"])
