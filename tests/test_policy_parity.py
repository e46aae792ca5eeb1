"""The ``messjax`` policy (messjax.core.policy) against its plain NumPy loop
(messjax.core.reference_policy), as the MESS+ step is against messjax.core.reference.

In float64 (``jax.enable_x64``) the two must agree request by request: identical served models,
queried sets, explorations and feedback; deficits, prices and costs to rounding; s_hat to 1e-9;
and ``run_cells``' Summary (the production path: stacked, padded, chunked) equal to the loop's
totals. Configurations cover feedback < 1, ts_temp = 0 and > 0, several V, c and margins,
inference_cost > 0, on the synthetic zoo (data-free, default run) and on the real Llama logs
(``data``). A deliberately broken loop must fail the same comparison. (The cost-unit
invariance of the decisions is tested in test_messjax_policy.py.)
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from messjax.core import policy, reference_policy
from messjax.core.reference_policy import draw_policy_coins, reference_policy_episode

MODELS = ("small", "medium", "large")


# ------------------------------------------------------------------------------ data
def _hashed(texts, d: int) -> np.ndarray:
    """Signed hashed bag of words, unit norm (cheap, deterministic, weakly informative)."""
    x = np.zeros((len(texts), d))
    for i, text in enumerate(texts):
        for w in str(text).lower().split():
            h = zlib.crc32(w.encode())
            x[i, h % d] += 1.0 if (h >> 16) & 1 else -1.0
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def synthetic():
    from messjax.data import synthetic_zoo

    table = synthetic_zoo("llama3", tasks=["arc_challenge", "winogrande"], num_requests=400)
    return _hashed(table.texts, 16), np.asarray(table.labels, float), np.asarray(table.costs, float)


@pytest.fixture(scope="module")
def llama(data_dir):
    from messjax.data import load_zoo

    table = load_zoo("llama3", data_dir)
    assert table.models == MODELS
    return _hashed(table.texts, 32), np.asarray(table.labels, float), np.asarray(table.costs, float)


def _configs(n: int, seed: int, T: int, N: int) -> list[dict]:
    """n episodes: feedback < 1, ts_temp 0 and > 0, several V, c, margins, priors, costs."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        hp = dict(
            alpha=float(rng.uniform(0.5, 0.85)),
            V=(0.3, 1.0, 3.0, 0.1)[i % 4],
            c=(0.1, 1.0, 0.5, 3.0, 0.05)[i % 5],
            learning_rate=float(rng.uniform(0.05, 0.4)),
            feedback_rate=(1.0, 0.5, 0.2, 0.8)[(i // 2) % 4],
            inference_cost=float(rng.uniform(1.0, 50.0)) if i % 2 else 0.0,
            relative_V=1,
        )
        pp = dict(
            prior=(2.0, 1.0, 5.0)[i % 3],
            ts_temp=(0.5, 0.0, 1.0, 0.25)[(i // 3) % 4],
            margin=(3.0, 0.0, 10.0)[(i // 2) % 3],
            impute_z=(0.5, 0.0, 1.0)[i % 3],
            l2=(1e-3, 0.0)[i % 2],
            price_cap=(float("inf"), 2.0, 0.5)[(i // 4) % 3],
            infeasible_cap=(2.0, float("inf"), 0.5)[(i // 2) % 3],
            infeasible_z=(1.0, 0.0, 2.0)[i % 3],
            infeasible_min_labels=(20.0, 0.0, 5.0, 100.0)[(i // 3) % 4],
        )
        order = rng.permutation(N)[:T]
        out.append(dict(hp=hp, pp=pp, key_seed=int(rng.integers(2**31)), order=order))
    return out


# ------------------------------------------------------------------------------ the engine
def _per_request(x, labels, costs, hp, pp, key):
    """decide then observe scanned over a stream, keeping every output."""
    M, d = labels.shape[1], x.shape[1]

    def body(state, inp):
        xt, y, e = inp
        dec = policy.decide(state, xt, hp, pp)
        state, out = policy.observe(state, dec, xt, y, e, hp, pp)
        return state, (out, dec.s_hat, dec.price)

    state = policy.init_policy(key, M, d, hp, pp)
    _, outs = jax.lax.scan(body, state, (x, labels, costs))
    return outs


_engine = jax.jit(jax.vmap(_per_request))


def _stack(trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _run_engine(data, configs):
    x, labels, costs = data
    xs = jnp.asarray(np.stack([x[c["order"]] for c in configs]))
    ys = jnp.asarray(np.stack([labels[c["order"]] for c in configs]))
    es = jnp.asarray(np.stack([costs[c["order"]] for c in configs]))
    hp = _stack([policy.default_hparams(**c["hp"]) for c in configs])
    pp = _stack([policy.default_policy_params(**c["pp"]) for c in configs])
    keys = jnp.stack([jax.random.PRNGKey(c["key_seed"]) for c in configs])
    outs, s_hat, price = jax.tree.map(np.asarray, _engine(xs, ys, es, hp, pp, keys))
    # the production path: every cell in one run_cells call (stacked, padded, one jit)
    cells = [
        dict(
            stream=0,
            seed=c["key_seed"],
            order=c["order"],
            hp=policy.default_hparams(**c["hp"]),
            pp=policy.default_policy_params(**c["pp"]),
        )
        for c in configs
    ]
    summary, _ = policy.run_cells([data], cells)
    return outs, s_hat, price, summary


def _reference(data, cfg, **kw):
    x, labels, costs = data
    o = cfg["order"]
    key = jax.random.PRNGKey(cfg["key_seed"])
    return reference_policy_episode(x[o], labels[o], costs[o], cfg["hp"], cfg["pp"], key, **kw)


def _compare(outs, s_hat, price, summary, b: int, ref: dict, msg: str) -> None:
    for name in ("model", "queried", "explore", "feedback"):
        np.testing.assert_array_equal(getattr(outs, name)[b], ref[name], err_msg=f"{name}, {msg}")
    for name in ("satisfaction", "cost", "deficit", "realised_deficit"):
        np.testing.assert_allclose(
            getattr(outs, name)[b], ref[name], rtol=1e-12, atol=1e-10, err_msg=f"{name}, {msg}"
        )
    np.testing.assert_allclose(price[b], ref["price"], rtol=1e-12, atol=1e-12, err_msg=msg)
    np.testing.assert_allclose(s_hat[b], ref["s_hat"], rtol=0, atol=1e-9, err_msg=msg)
    for name, want in ref["totals"].items():
        got = getattr(summary, name)[b]
        if np.issubdtype(np.asarray(got).dtype, np.floating):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=f"{name}, {msg}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{name}, {msg}")


def _check_parity(data, configs):
    with jax.enable_x64(True):
        outs, s_hat, price, summary = _run_engine(data, configs)
        assert s_hat.dtype == np.float64 and outs.deficit.dtype == np.float64
        for b, cfg in enumerate(configs):
            ref = _reference(data, cfg)
            _compare(outs, s_hat, price, summary, b, ref, f"config {b}: {cfg['hp']} {cfg['pp']}")
    return outs, price


def _held(configs, outs, price) -> bool:
    """Whether the out-of-reach hold bound the price somewhere (price_cap off there)."""
    for b, c in enumerate(configs):
        if c["pp"]["price_cap"] != float("inf") or c["pp"]["infeasible_cap"] == float("inf"):
            continue
        before = np.concatenate([[c["pp"]["margin"]], outs.deficit[b][:-1]])
        free = np.maximum(before, 0.0) / c["hp"]["V"]
        if (price[b] < free - 1e-9).any():
            assert np.allclose(price[b][price[b] < free - 1e-9], c["pp"]["infeasible_cap"])
            return True
    return False


def _check_coverage(configs, outs, price) -> None:
    """The configurations exercise what they claim to."""
    assert _held(configs, outs, price)  # the out-of-reach hold binds in some episode
    hps, pps = [c["hp"] for c in configs], [c["pp"] for c in configs]
    assert min(h["feedback_rate"] for h in hps) < 1 and max(h["c"] for h in hps) >= 1
    assert any(h["inference_cost"] > 0 for h in hps)
    assert {p["ts_temp"] == 0 for p in pps} == {True, False}
    assert len({p["margin"] for p in pps}) > 1 and len({h["V"] for h in hps}) > 1
    assert all(len(np.unique(m)) >= 2 for m in outs.model)  # routing really happens
    assert (outs.model != 0).any() and (outs.model != 2).any()
    assert (outs.queried.sum(-1) == 2).any()  # one extra model on explorations
    assert (outs.deficit < 0).any()  # the signed deficit goes into credit
    assert not outs.feedback.all() and (outs.deficit != outs.realised_deficit).any()


# ------------------------------------------------------------------------------ tests
def test_float64_parity_synthetic(synthetic):
    configs = _configs(8, seed=11, T=500, N=len(synthetic[1]))
    outs, price = _check_parity(synthetic, configs)
    _check_coverage(configs, outs, price)


@pytest.mark.data
def test_float64_parity_real_logs(llama):
    configs = _configs(12, seed=12, T=2000, N=len(llama[1]))
    for c in configs[:2]:  # a target no model of the zoo reaches: the hold must bind
        c["hp"]["alpha"] = 0.95
    outs, price = _check_parity(llama, configs)
    _check_coverage(configs, outs, price)


@pytest.mark.parametrize(
    "mutation",
    ["deficit_sign", "imputation_sign"],
)
def test_broken_reference_is_caught(synthetic, monkeypatch, mutation):
    """A sign flip in the loop must fail the very comparison the parity tests make."""
    configs = _configs(4, seed=13, T=300, N=len(synthetic[1]))
    for c in configs:  # sparse feedback, so that the imputation is used
        c["hp"]["feedback_rate"] = 0.5
        c["pp"]["impute_z"] = 1.0
    with jax.enable_x64(True):
        outs, s_hat, price, summary = _run_engine(synthetic, configs)
        for b, cfg in enumerate(configs):  # the intact loop agrees ...
            _compare(outs, s_hat, price, summary, b, _reference(synthetic, cfg), f"config {b}")
        if mutation == "deficit_sign":
            monkeypatch.setattr(reference_policy, "_next_deficit", lambda D, a, s: D - a + s)
        else:
            monkeypatch.setattr(
                reference_policy, "_imputed", lambda p, n, z: p + z * np.sqrt(p * (1 - p) / n)
            )
        failures = 0
        for b, cfg in enumerate(configs):  # ... the broken one does not
            try:
                _compare(outs, s_hat, price, summary, b, _reference(synthetic, cfg), "")
            except AssertionError:
                failures += 1
        assert failures == len(configs)


def test_reference_api(synthetic):
    """Hyperparams or dicts, coins drawn or given: the same episode; NumPy Beta draws run."""
    x, labels, costs = (a[:200] for a in synthetic)
    key = jax.random.PRNGKey(3)
    hp = dict(alpha=0.7, feedback_rate=0.6, c=1.0)
    pp = dict(ts_temp=0.5)
    with jax.enable_x64(True):
        a = reference_policy_episode(x, labels, costs, hp, pp, key)
        b = reference_policy_episode(
            x,
            labels,
            costs,
            policy.default_hparams(**hp),
            policy.default_policy_params(**pp),
            key,
            coins=draw_policy_coins(key, len(labels)),
        )
        c = reference_policy_episode(x, labels, costs, hp, pp, key, beta="numpy")
    for name in ("model", "queried", "explore", "feedback", "cost", "deficit", "s_hat"):
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(a["feedback"], c["feedback"])  # same coins ...
    assert (a["model"] != c["model"]).any()  # ... other Thompson draws
    assert a["totals"]["num_requests"] == 200 and a["explore"][0] and a["queried"][0].all()
    with pytest.raises(KeyError, match="unknown"):
        reference_policy_episode(x, labels, costs, dict(bogus=1.0), pp, key)
    with pytest.raises(ValueError, match="beta"):
        reference_policy_episode(x, labels, costs, hp, pp, key, beta="scipy")


def test_float64_parity_warm_start(synthetic):
    """A warm start (labelled history every model answered) gives the same episodes in the
    engine (decide/observe after ``warm_start``, and ``run_cells`` with the history as the
    stream's fourth item) as in the NumPy loop; and it changes the episode."""
    x, labels, costs = synthetic
    N = len(labels)
    configs = _configs(4, seed=14, T=300, N=N)
    rng = np.random.default_rng(15)
    hist = rng.permutation(N)[:120]
    warm = (x[hist], labels[hist], costs[hist])
    with jax.enable_x64(True):
        for cfg in configs:
            o = cfg["order"]
            hp = policy.default_hparams(**cfg["hp"])
            pp = policy.default_policy_params(**cfg["pp"])
            key = jax.random.PRNGKey(cfg["key_seed"])
            M, d = labels.shape[1], x.shape[1]
            state = policy.init_policy(key, M, d, hp, pp)
            state = policy.warm_start(
                state, *(jnp.asarray(a) for a in warm), jnp.ones(len(hist), bool), hp, pp
            )

            def body(state, inp, hp=hp, pp=pp):
                xt, y, e = inp
                dec = policy.decide(state, xt, hp, pp)
                state, out = policy.observe(state, dec, xt, y, e, hp, pp)
                return state, (out, dec.s_hat, dec.price)

            _, (outs, s_hat, price) = jax.lax.scan(
                body, state, (jnp.asarray(x[o]), jnp.asarray(labels[o]), jnp.asarray(costs[o]))
            )
            ref = _reference(synthetic, cfg, warm=warm)
            cold = _reference(synthetic, cfg)
            assert (ref["model"] != cold["model"]).any()  # the history matters
            np.testing.assert_array_equal(np.asarray(outs.model), ref["model"])
            np.testing.assert_array_equal(np.asarray(outs.queried), ref["queried"])
            np.testing.assert_allclose(np.asarray(outs.deficit), ref["deficit"], atol=1e-10)
            np.testing.assert_allclose(np.asarray(s_hat), ref["s_hat"], rtol=0, atol=1e-9)
            np.testing.assert_allclose(np.asarray(price), ref["price"], rtol=1e-12, atol=1e-12)
            cell = dict(stream=0, seed=cfg["key_seed"], order=np.arange(len(o)), hp=hp, pp=pp)
            summary, _ = policy.run_cells([(x[o], labels[o], costs[o], warm)], [cell])
            for name, want in ref["totals"].items():
                got = np.asarray(getattr(summary, name))[0]
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=name)
