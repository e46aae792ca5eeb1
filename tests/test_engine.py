"""The engine: fast path == generic scan, chunked == sharded == single cell, Router == episode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from messjax.core.episode import Stream, run_episode
from messjax.core.step import init_state, step
from messjax.core.sweep import make_grid, run_sweep
from messjax.core.types import EngineConfig, Request, make_hparams
from messjax.data import synthetic_zoo
from messjax.errors import ConfigError
from messjax.router import Router


def _stream(num_requests=240, d=16, seed=0):
    table = synthetic_zoo("toy", num_requests=num_requests, seed=seed)
    rng = np.random.default_rng(seed)
    # Embeddings that carry the labels' signal, cheap to learn from.
    proj = rng.normal(size=(table.num_models, d))
    x = table.labels @ proj + 0.5 * rng.normal(size=(len(table), d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return table, x


FIELDS = (
    "total_cost",
    "satisfaction",
    "explore_count",
    "served_counts",
    "query_counts",
    "final_queue",
    "final_ideal_queue",
    "max_queue",
    "cumulative_violation",
)


def _assert_same(a, b, index=slice(None)):
    for f in FIELDS:
        np.testing.assert_array_equal(
            np.asarray(getattr(a, f))[index], np.asarray(getattr(b, f)), err_msg=f
        )


@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_fast_path_equals_generic_scan(head):
    table, x = _stream()
    config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1], head=head)
    grid = make_grid(
        [1, 2],
        alpha=[0.55, 0.7],
        V=[1e-3, 1e-2],
        c=[0.3, 1.5],
        cost_estimator=["last_explore", "running_mean", "oracle"],
        feedback_rate=[1.0, 0.4],
        learning_rate=0.1,
        epochs=[0, 2],
    )
    fast = run_sweep(x, table.labels, table.costs, grid, config, method="fast", trace_every=1)
    generic = run_sweep(x, table.labels, table.costs, grid, config, method="generic", trace_every=1)
    # Every request's decision: the per-request trace of cumulative served/queried counts and
    # explorations must agree exactly (not only the totals).
    for f in ("served_counts", "query_counts", "explore_count", "feedback_count"):
        np.testing.assert_array_equal(getattr(fast.trace, f), getattr(generic.trace, f), f)
    for f in ("explore_count", "served_counts", "query_counts", "feedback_count"):
        np.testing.assert_array_equal(getattr(fast.summary, f), getattr(generic.summary, f))
    # Predictions are matrix products on the fast path and per request on the generic one, so
    # float sums may differ in the last bits.
    for f in ("total_cost", "satisfaction", "final_queue", "final_ideal_queue", "max_queue"):
        np.testing.assert_allclose(
            getattr(fast.summary, f), getattr(generic.summary, f), rtol=1e-5, atol=1e-4
        )
    np.testing.assert_allclose(
        fast.trace.virtual_queue, generic.trace.virtual_queue, rtol=1e-5, atol=1e-4
    )


def test_several_streams_in_one_call_equal_each_alone():
    from messjax.core.sweep import run_sweeps

    (t1, x1), (t2, x2) = _stream(num_requests=150, seed=0), _stream(num_requests=90, seed=1)
    config = EngineConfig(num_models=t1.num_models, feature_dim=x1.shape[1])
    g1 = make_grid([3, 4], alpha=[0.6, 0.75], V=[1e-3], c=[0.2, 1.0])
    g2 = make_grid([5], alpha=[0.7], V=[1e-2, 1e-3], c=[0.5])
    both = run_sweeps([(x1, t1.labels, t1.costs), (x2, t2.labels, t2.costs)], [g1, g2], config)
    alone1 = run_sweep(x1, t1.labels, t1.costs, g1, config)
    alone2 = run_sweep(x2, t2.labels, t2.costs, g2, config)
    _assert_same(both[0].summary, alone1.summary)
    _assert_same(both[1].summary, alone2.summary)


def test_cells_identical_alone_chunked_and_traced():
    table, x = _stream()
    config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1])
    grid = make_grid([3, 4], alpha=[0.6, 0.75], V=[1e-3, 1e-2], c=[0.2, 1.0])
    full = run_sweep(x, table.labels, table.costs, grid, config)
    chunked = run_sweep(x, table.labels, table.costs, grid, config, chunk_size=3)
    _assert_same(full.summary, chunked.summary)
    # A tiny memory budget means one cell per chunk.
    calls = []
    budgeted = run_sweep(
        x,
        table.labels,
        table.costs,
        grid,
        config,
        memory_budget=1,
        progress=lambda done, total: calls.append(done),
    )
    _assert_same(full.summary, budgeted.summary)
    assert calls == list(range(1, grid.size + 1))
    traced = run_sweep(x, table.labels, table.costs, grid, config, trace_every=7)
    _assert_same(full.summary, traced.summary)
    for i in (0, 5, grid.size - 1):
        alone = run_sweep(x, table.labels, table.costs, grid.cell(i), config)
        _assert_same(full.summary, alone.summary, index=[i])
    # The trace's last point is the episode's end (T padded to a multiple of 7 with no-ops).
    np.testing.assert_array_equal(traced.trace.total_cost[:, -1], traced.summary.total_cost)
    assert traced.trace.num_requests.shape[1] == -(-len(table) // 7)


def test_common_random_numbers_across_alpha_and_V():
    table, x = _stream()
    config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1])
    grid = make_grid([5], alpha=[0.5, 0.8], V=[1e-4, 1e-1], c=0.5)
    res = run_sweep(x, table.labels, table.costs, grid, config)
    # Exploration coins depend on (seed, c) only.
    assert len(set(res.summary.explore_count.tolist())) == 1


def test_sharded_equals_single_device(tmp_path):
    script = textwrap.dedent("""
        import os, json, sys
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
        import jax, numpy as np
        sys.path.insert(0, os.environ["TESTS_DIR"])
        from test_engine import _stream
        from messjax.core.sweep import make_grid, run_sweep
        from messjax.core.types import EngineConfig
        assert jax.local_device_count() == 4
        table, x = _stream()
        config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1])
        grid = make_grid([3, 4], alpha=[0.6, 0.75], V=[1e-3], c=[0.2, 1.0])  # 8 cells
        out = {}
        for name, kw in [("one", dict(num_devices=1)), ("four", dict(num_devices=4)),
                         ("four_chunked", dict(num_devices=4, chunk_size=3)),
                         ("generic4", dict(num_devices=4, method="generic"))]:
            r = run_sweep(x, table.labels, table.costs, grid, config, **kw)
            out[name] = {k: np.asarray(getattr(r.summary, k)).tolist()
                         for k in ("total_cost", "satisfaction", "served_counts", "final_queue")}
        print(json.dumps(out))
    """)
    env = dict(os.environ, TESTS_DIR=os.path.dirname(__file__))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["one"] == out["four"] == out["four_chunked"]
    assert out["one"]["served_counts"] == out["generic4"]["served_counts"]


def test_router_replays_episode():
    table, x = _stream(num_requests=120)
    router = Router.create(
        table.models,
        x.shape[1],
        seed=7,
        policy="messplus",
        alpha=0.7,
        V=1e-3,
        c=0.6,
        learning_rate=0.1,
        epochs=2,
        feedback_rate=0.7,
        cost_estimator="running_mean",
    )
    chosen, queues = [], []
    for t in range(len(table)):
        d = router.route(x[t])
        chosen.append(d.model_index)
        if d.explore:
            router.observe(table.labels[t], table.costs[t])
        else:
            router.observe(table.labels[t, d.model_index], table.costs[t, d.model_index])
        queues.append(router.virtual_queue)

    stream = Stream(
        x=jnp.asarray(x),
        labels=jnp.asarray(table.labels),
        costs=jnp.asarray(table.costs),
        mask=jnp.ones(len(table), bool),
    )

    def body(state, request):
        state, out = step(state, request, router.hparams, router.config)
        return state, (out.model, out.virtual_queue)

    _, (models, q) = jax.lax.scan(
        body, init_state(jax.random.PRNGKey(7), router.config), stream.requests
    )
    np.testing.assert_array_equal(np.asarray(models), chosen)
    np.testing.assert_allclose(np.asarray(q), queues, rtol=0, atol=0)
    summary, _ = run_episode(stream, router.hparams, jax.random.PRNGKey(7), router.config)
    assert int(summary.num_requests) == router.num_requests == len(table)


def test_router_rejects_misuse():
    router = Router.create(["a", "b"], 4, seed=0, policy="messplus")
    with pytest.raises(Exception, match="without a routed request"):
        router.observe(1, 1.0)
    d = router.route(np.ones(4))
    bad = [0.5, 2.0] if d.explore else 2.0
    with pytest.raises(Exception, match="satisfied must be in"):
        router.observe(bad, [1.0, 1.0] if d.explore else 1.0)
    d2 = router.route(np.ones(4))  # a second request in flight is fine ...
    with pytest.raises(Exception, match="2 requests in flight"):
        router.observe(1.0, 1.0)  # ... but then observe() must name one
    assert d2.index == d.index + 1 and d2.id != d.id
    with pytest.raises(Exception, match="shape"):
        Router.create(["a", "b"], 4, policy="messplus").route(np.ones(5))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alpha", 1.0),
        ("alpha", 0.0),
        ("V", 0.0),
        ("V", -1e-4),
        ("c", 0.0),
        ("feedback_rate", 1.5),
        ("epochs", 1.5),
        ("cost_estimator", "magic"),
        ("alpha", float("nan")),
    ],
)
def test_bad_hyperparameters_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        make_hparams(**{key: value})


def test_make_grid_is_cartesian_and_checks_names():
    g = make_grid([1, 2, 3], alpha=[0.5, 0.6], V=1e-4, c=[0.1, 1.0])
    assert g.size == 12
    cols = g.columns()
    assert sorted(set(cols["seed"].tolist())) == [1, 2, 3]
    assert np.all(cols["V"] == np.float32(1e-4))
    with pytest.raises(ConfigError, match="'gamma'"):
        make_grid([1], gamma=[1.0])
    with pytest.raises(ConfigError, match="'alpha'"):
        make_grid([1], alpha=[])


@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_replay_variant_fast_path_equals_generic_scan(head):
    table, x = _stream()
    config = EngineConfig(
        num_models=table.num_models, feature_dim=x.shape[1], head=head, replay=8, replay_batch=4
    )
    grid = make_grid(
        [1, 2],
        alpha=[0.55, 0.7],
        V=[1e-3],
        c=[0.3, 1.5],
        feedback_rate=[1.0, 0.4],
        learning_rate=0.1,
        epochs=[0, 2],
    )
    fast = run_sweep(x, table.labels, table.costs, grid, config, method="fast")
    generic = run_sweep(x, table.labels, table.costs, grid, config, method="generic")
    for f in ("explore_count", "served_counts", "query_counts"):
        np.testing.assert_array_equal(getattr(fast.summary, f), getattr(generic.summary, f))
    np.testing.assert_allclose(fast.summary.total_cost, generic.summary.total_cost, rtol=1e-6)
    # Replay changes what the predictor learns, hence some decisions (c = 1.5 explores a lot).
    plain = run_sweep(
        x,
        table.labels,
        table.costs,
        grid,
        EngineConfig(num_models=table.num_models, feature_dim=x.shape[1], head=head),
    )
    assert not np.array_equal(plain.summary.served_counts, fast.summary.served_counts)


def test_replay_router_save_restore(tmp_path):
    table, x = _stream(num_requests=60)
    config = EngineConfig(
        num_models=table.num_models, feature_dim=x.shape[1], replay=4, replay_batch=3
    )
    kw = dict(seed=2, featurizer=None, hparams=make_hparams(alpha=0.7, V=1e-3, c=1.0))

    def feed(router, rows):
        out = []
        for t in rows:
            d = router.route(x[t])
            out.append(d.model_index)
            router.observe(table.labels[t], table.costs[t])
        return out

    whole = feed(Router(table.models, config, **kw), range(60))
    first = Router(table.models, config, **kw)
    head_part = feed(first, range(30))
    first.save(tmp_path / "router")
    rest = feed(Router.restore(tmp_path / "router"), range(30, 60))
    assert head_part + rest == whole


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("replay", -1),
        ("replay_batch", 0),
        ("head", "cnn"),
        ("dropout", 1.0),
        ("input_dropout", -0.1),
        ("n_dup", 0),
    ],
)
def test_bad_engine_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        EngineConfig(num_models=3, feature_dim=8, **{field: value})


@pytest.mark.parametrize("estimator", ["last_explore", "running_mean", "oracle"])
def test_relative_V_decisions_invariant_to_cost_unit(estimator):
    """With relative_V, multiplying every cost by 1e6 or 1e-6 changes no decision; with the
    paper's absolute V the same V gives other decisions (the test can fail)."""
    table, x = _stream(num_requests=600)
    config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1])

    def models(scale, relative):
        hp = make_hparams(
            alpha=0.75,
            V=1e-2,
            c=0.5,
            learning_rate=0.1,
            cost_estimator=estimator,
            relative_V=relative,
        )
        costs = jnp.asarray(table.costs * scale)

        def body(state, req):
            state, out = step(state, req, hp, config)
            return state, out.model

        reqs = Request(x=jnp.asarray(x), labels=jnp.asarray(table.labels), costs=costs)
        _, m = jax.lax.scan(body, init_state(jax.random.PRNGKey(3), config), reqs)
        return np.asarray(m)

    base = models(1.0, 1)
    assert len(np.unique(base)) > 1  # the decisions are not trivial
    np.testing.assert_array_equal(models(1e6, 1), base)
    np.testing.assert_array_equal(models(1e-6, 1), base)
    assert not np.array_equal(models(1e6, 0), models(1e-6, 0))


# ------------------------------------------------------------------ fidelity options (issue 9)
def test_sparse_training_rules_and_momentum_fast_equals_generic():
    """Both sparse-feedback training rules and two momenta: identical decisions on both paths;
    the authors' rule trains on more explorations, and changes nothing at feedback_rate 1."""
    table, x = _stream(num_requests=160)
    config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1], head="mlp")
    grid = make_grid(
        [1],
        alpha=0.7,
        V=1e-3,
        c=1.0,
        learning_rate=0.1,
        epochs=2,
        feedback_rate=[1.0, 0.3],
        momentum=[0.9, 0.95],
        sparse_training=["feedback_only", "all_explorations"],
    )
    fast = run_sweep(x, table.labels, table.costs, grid, config, method="fast", trace_every=1)
    generic = run_sweep(x, table.labels, table.costs, grid, config, method="generic", trace_every=1)
    for f in ("served_counts", "query_counts", "explore_count", "feedback_count"):
        np.testing.assert_array_equal(getattr(fast.trace, f), getattr(generic.trace, f), f)
    cols = grid.columns()
    served = fast.summary.served_counts
    for m in (0.9, 0.95):
        sel = np.isclose(cols["momentum"], m)
        full = sel & (cols["feedback_rate"] == 1.0)
        sparse = sel & (cols["feedback_rate"] < 1.0)
        a, b = np.flatnonzero(full)  # feedback_only, all_explorations at f = 1
        np.testing.assert_array_equal(served[a], served[b])
        a, b = np.flatnonzero(sparse)  # at f = 0.3 the rules train on different events
        assert (served[a] != served[b]).any()
    # momentum is a learner leaf: it changes the routing
    a, b = np.flatnonzero((cols["feedback_rate"] == 1.0) & (cols["sparse_training"] == 0))
    assert (served[a] != served[b]).any()


def _one_gradient(config, params, x, labels, key):
    from messjax.core.predictor import copies_gradient

    return copies_gradient(params, x, labels, key, config)


def test_copies_gradient_is_the_mean_over_copies_and_the_norm_trick_exact():
    """n_dup copies with their own masks: the gradient equals the mean of the per-copy
    gradients (jax.grad of bce_loss with the same masks), and the Gram-matrix norm of the
    first-layer kernel equals its d x h sum of squares."""
    import optax

    from messjax.core.predictor import (
        clip_gradient,
        head_masks,
        init_predictor,
        make_head,
    )

    with jax.enable_x64(True):
        d, M = 12, 3
        config = EngineConfig(num_models=M, feature_dim=d, head="mlp", n_dup=5)
        assert config.copies == 5
        params, _ = init_predictor(jax.random.PRNGKey(0), config)
        x = jax.random.normal(jax.random.PRNGKey(1), (d,), jnp.float64)
        labels = jnp.array([0.0, 1.0, 1.0])
        key = jax.random.PRNGKey(2)
        grads, inputs, pre = _one_gradient(config, params, x, labels, key)
        keep_in, keep_hidden = head_masks(key, (5,), config)
        assert keep_in.shape == (5, d) and keep_hidden.shape == (5, config.hidden)
        assert not (keep_in.all() and keep_hidden.all())
        head = make_head(config)

        def copy_loss(p, j):
            logits = head.apply({"params": p}, x, (keep_in[j], keep_hidden[j]))
            return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

        want = jax.tree.map(
            lambda *g: sum(g) / 5, *[jax.grad(copy_loss)(params, j) for j in range(5)]
        )
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        # The clip's norm: Gram trick == explicit sum of squares (force a clip to see it).
        tight = EngineConfig(num_models=M, feature_dim=d, head="mlp", n_dup=5, clip_norm=1e-3)
        clipped = clip_gradient(grads, inputs, pre, tight)
        norm = float(optax.tree.norm(grads))
        for a, b in zip(jax.tree.leaves(clipped), jax.tree.leaves(grads), strict=True):
            np.testing.assert_allclose(a, b * 1e-3 / norm, rtol=1e-10, atol=1e-15)
        # Options off: one copy, no masks.
        off = EngineConfig(num_models=M, feature_dim=d, head="mlp", dropout=0, input_dropout=0)
        assert off.copies == 1 and head_masks(key, (1,), off) == (None, None)
        assert EngineConfig(num_models=3, feature_dim=d).copies == 14  # the paper's n_dup
        assert EngineConfig(num_models=4, feature_dim=d).copies == 18
        assert EngineConfig(num_models=3, feature_dim=d, head="linear").copies == 1


def test_input_dropout_and_copies_change_the_predictor():
    """The paper's defaults (input dropout 0.1, 14 copies) against each option off."""
    table, x = _stream(num_requests=120)
    grid = make_grid([1], alpha=0.7, V=1e-3, c=1.0, learning_rate=0.1, epochs=2)
    out = {}
    for name, kw in {
        "paper": {},
        "no_input_dropout": dict(input_dropout=0.0),
        "one_copy": dict(n_dup=1),
    }.items():
        config = EngineConfig(num_models=table.num_models, feature_dim=x.shape[1], **kw)
        out[name] = run_sweep(x, table.labels, table.costs, grid, config).summary
    for name in ("no_input_dropout", "one_copy"):
        assert (out[name].served_counts != out["paper"].served_counts).any(), name
