"""Streams read in chunks (messjax.core.stream) and the synthetic stream source."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messjax.core import policy as messjax_policy
from messjax.core.episode import Stream, run_episode
from messjax.core.step import init_state, step
from messjax.core.stream import POLICIES, Policy, StreamRunner, get_policy, run_stream
from messjax.core.types import EngineConfig, make_hparams
from messjax.data.streams import rechunk
from messjax.data.synthetic import SYNTHETIC_PRESETS
from messjax.data.synthetic_stream import GEN_BLOCK, SyntheticStream
from messjax.errors import ConfigError

T, D = 1000, 16
CONFIG = EngineConfig(num_models=3, feature_dim=D)


@pytest.fixture(scope="module")
def source():
    return SyntheticStream("toy", num_requests=T, feature_dim=D, seed=3)


def _stream(source) -> Stream:
    x, labels, costs = source.materialize()
    return Stream(
        x=jnp.asarray(x),
        labels=jnp.asarray(labels),
        costs=jnp.asarray(costs),
        mask=jnp.ones(T, bool),
    )


def _whole(source, hp, key, trace_every=0):
    run = jax.jit(run_episode, static_argnums=(3, 4))
    return jax.tree.map(np.asarray, run(_stream(source), hp, key, CONFIG, trace_every))


def _same(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def test_generic_chunks_equal_whole_stream_bit_for_bit(source):
    """The chunked generic episode is run_episode's scan, cut: same bits, summary and trace."""
    hp = make_hparams(alpha=0.7, V=1e-3, c=0.5)
    key = jax.random.PRNGKey(7)
    summary, trace = _whole(source, hp, key, trace_every=8)
    for chunk_size, piece in ((1000, 1000), (200, 37), (64, 64)):  # 1000 = 15 x 64 + 40
        got = run_stream(
            source.chunks(piece),
            hp,
            key,
            CONFIG,
            method="generic",
            chunk_size=chunk_size,
            trace_every=8,
        )
        assert got.method == "generic" and got.num_requests == T
        assert got.chunks == -(-T // chunk_size)
        assert _same(got.summary, summary), chunk_size
        assert _same(got.trace, trace), chunk_size


def test_messjax_policy_chunks_equal_whole_stream_bit_for_bit(source):
    """The project's own policy on chunks (uneven last chunk included) is
    core.policy.run_episode on the whole stream: same summary and trace, bit for bit; its
    parameters default to default_policy_params()."""
    hp = messjax_policy.default_hparams(alpha=0.7, feedback_rate=0.5)
    key = jax.random.PRNGKey(5)
    run = jax.jit(messjax_policy.run_episode, static_argnums=(4,))
    for pp in (None, messjax_policy.default_policy_params(ts_temp=0.0, margin=1.0)):
        given = messjax_policy.default_policy_params() if pp is None else pp
        summary, trace = jax.tree.map(np.asarray, run(_stream(source), hp, given, key, 8))
        assert summary.explore_count > 1 and 0 < summary.feedback_count < T
        for chunk_size, piece in ((1000, 1000), (192, 37), (64, 300)):  # 1000 = 5 x 192 + 40
            got = run_stream(
                source.chunks(piece),
                hp,
                key,
                CONFIG,
                policy="messjax",
                chunk_size=chunk_size,
                trace_every=8,
                params=pp,
            )
            assert got.method == "generic" and got.num_requests == T
            assert got.chunks == -(-T // chunk_size)
            assert _same(got.summary, summary), (chunk_size, pp)
            assert _same(got.trace, trace), (chunk_size, pp)
    assert set(POLICIES) >= {"messplus", "messjax"}
    with pytest.raises(ConfigError, match="fast chunk function"):
        StreamRunner(CONFIG, policy="messjax", method="fast")


def test_fast_chunks_do_not_change_results(source):
    """The fast chunk function: any chunk size (a multiple of the block) gives the same bits."""
    hp = make_hparams(alpha=0.7, V=1e-3, c=0.5)
    results = [
        run_stream(
            source.chunks(300),
            hp,
            11,
            CONFIG,
            method="fast",
            chunk_size=cs,
            block=128,
            trace_every=64,
        )
        for cs in (1024, 128, 256, 640)
    ]
    for r in results[1:]:
        assert _same(r.summary, results[0].summary)
        assert _same(r.trace, results[0].trace)
    assert results[0].trace.num_requests.tolist() == list(range(64, T + 1, 64))


def test_fast_stream_makes_the_generic_steps_decisions(source):
    """Fast (factorised, per block) == generic step, request by request, in float64."""
    with jax.enable_x64(True):
        for hp in (
            make_hparams(alpha=0.7, V=1e-3, c=0.5),
            make_hparams(
                alpha=0.6, V=1e-2, c=1.0, feedback_rate=0.5, cost_estimator="running_mean"
            ),
        ):
            fast = run_stream(
                source.chunks(T),
                hp,
                5,
                CONFIG,
                method="fast",
                chunk_size=256,
                block=128,
                trace_every=1,
            )
            generic = run_stream(
                source.chunks(T), hp, 5, CONFIG, method="generic", chunk_size=256, trace_every=1
            )
            np.testing.assert_array_equal(fast.trace.served_counts, generic.trace.served_counts)
            np.testing.assert_array_equal(fast.trace.explore_count, generic.trace.explore_count)
            np.testing.assert_allclose(fast.summary.total_cost, generic.summary.total_cost)
            assert fast.summary.explore_count > 0


def test_policy_is_an_argument(source):
    """Any (init, step) pair runs on the generic chunk function; a wrapped MESS+ step gives
    MESS+'s numbers, and unknown names and fast-without-support are clear errors."""
    calls = []

    def wrapped_init(key, config, hp, params):
        return init_state(key, config)

    def wrapped_step(state, request, hp, params, config):
        calls.append(1)  # traced once per compilation
        return step(state, request, hp, config)

    policy = Policy("wrapped", wrapped_init, wrapped_step)
    hp = make_hparams(alpha=0.7, V=1e-3, c=0.5)
    got = run_stream(source.chunks(T), hp, 2, CONFIG, policy=policy, chunk_size=500)
    ref = run_stream(source.chunks(T), hp, 2, CONFIG, method="generic", chunk_size=500)
    assert got.method == "generic" and calls
    assert _same(got.summary, ref.summary)
    with pytest.raises(ConfigError, match="unknown policy 'nope'; known: messjax, messplus"):
        get_policy("nope")
    with pytest.raises(ConfigError, match="unknown policy"):
        run_stream(source.chunks(T), hp, 2, CONFIG, policy="nope")
    with pytest.raises(ConfigError, match="fast chunk function"):
        StreamRunner(CONFIG, policy=policy, method="fast")
    replay = dataclasses.replace(CONFIG, replay=8)
    assert StreamRunner(replay, chunk_size=512).method == "generic"
    with pytest.raises(ConfigError, match="multiple of the learner block"):
        StreamRunner(CONFIG, chunk_size=1000, block=128)
    with pytest.raises(ConfigError, match="trace_every"):
        StreamRunner(CONFIG, chunk_size=1024, trace_every=100)
    with pytest.raises(ConfigError, match=r"features must be \[rows, 16\]"):
        run_stream([(np.zeros((4, 5)), np.zeros((4, 3)), np.zeros((4, 3)))], hp, 0, CONFIG)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.integers(1, 50))
def test_rechunk_regroups_without_loss(sizes, chunk):
    rows = np.arange(sum(sizes))
    pieces, lo = [], 0
    for n in sizes:
        pieces.append(
            (rows[lo : lo + n, None], rows[lo : lo + n, None] * 2, rows[lo : lo + n, None])
        )
        lo += n
    out = list(rechunk(pieces, chunk))
    assert all(len(c[0]) == chunk for c in out[:-1]) and 0 < len(out[-1][0]) <= chunk
    np.testing.assert_array_equal(np.concatenate([c[0] for c in out])[:, 0], rows)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in out])[:, 0], rows * 2)


def test_synthetic_stream_is_the_same_whatever_reads_it():
    s = SyntheticStream("llama3", num_requests=GEN_BLOCK + 1000, feature_dim=8, seed=4)
    whole = s.materialize()
    again = SyntheticStream("llama3", num_requests=GEN_BLOCK + 1000, feature_dim=8, seed=4)
    for chunk in (1000, 4096, 7000):
        parts = list(again.chunks(chunk))
        for a, b in zip(whole, (np.concatenate(p) for p in zip(*parts, strict=True)), strict=True):
            np.testing.assert_array_equal(a, b)
    other = SyntheticStream("llama3", num_requests=GEN_BLOCK + 1000, feature_dim=8, seed=5)
    assert not np.array_equal(other.materialize()[1], whole[1])
    # A longer stream starts with the same full blocks.
    longer = SyntheticStream("llama3", num_requests=3 * GEN_BLOCK, feature_dim=8, seed=4)
    for a, b in zip(longer.block(0), s.block(0), strict=True):
        np.testing.assert_array_equal(a, b)


def test_synthetic_stream_has_the_zoos_statistics():
    """Per task: accuracy per model near the preset's target, mean cost near its energy,
    labels correlated across models, features predictive of the labels; x unit-norm."""
    p = SYNTHETIC_PRESETS["llama3"]
    for task in ("arc_challenge", "boolq"):
        x, labels, costs = SyntheticStream(
            "llama3", tasks=task, num_requests=60_000, feature_dim=32, seed=1
        ).materialize()
        np.testing.assert_allclose(labels.mean(0), p.accuracy[task], atol=0.01)
        np.testing.assert_allclose(costs.mean(0), p.energy[task], rtol=0.02)
        assert x.dtype == np.float32 and x.shape == (60_000, 32)
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
        corr = np.corrcoef(labels.T)[np.triu_indices(3, 1)]
        assert corr.min() > 0.15
        # Least squares on the features predicts the smallest model's label better than chance.
        w, *_ = np.linalg.lstsq(x[:30_000], labels[:30_000, 0] - 0.5, rcond=None)
        score = x[30_000:] @ w
        pos, neg = score[labels[30_000:, 0] == 1], score[labels[30_000:, 0] == 0]
        auc = (pos[:, None] > neg[None, :2000]).mean()
        assert auc > 0.6
    mix = SyntheticStream("llama3", num_requests=40_000, feature_dim=8, seed=2).materialize()[1]
    target = np.mean([p.accuracy[t] for t in p.tasks], axis=0)
    np.testing.assert_allclose(mix.mean(0), target, atol=0.01)


def test_synthetic_stream_errors():
    with pytest.raises(ConfigError, match="preset"):
        SyntheticStream("nope")
    with pytest.raises(ConfigError, match="num_requests"):
        SyntheticStream("toy", num_requests=0)
    with pytest.raises(ConfigError, match="feature_dim"):
        SyntheticStream("toy", feature_dim=2.5)
    with pytest.raises(IndexError):
        SyntheticStream("toy", num_requests=10).block(1)
