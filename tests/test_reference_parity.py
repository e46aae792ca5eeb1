"""The JAX engine against the plain NumPy loop (messjax.core.reference), gymnax style.

In float64 (``jax.enable_x64``) the two must agree request by request on 24 configurations of
2,000 requests of the real Llama logs covering every variant (the MLP head with the paper's
input and hidden dropout and n_dup = 14 copies per step, their keep-masks drawn on both sides
by the engine's ``head_masks`` from the same keys; per-task momentum; both sparse-feedback
training rules): identical exploration, feedback
and model sequences, queue trajectories and costs to rounding, s_hat to 1e-9, and
``run_episode``'s Summary equal to the loop's totals. In float32 the engine's decisions must
still match the (float64) loop on >= 99.5% of requests. The data-free version (synthetic zoo,
default run) is test_parity_synthetic.py.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from messjax.core.episode import Stream, run_episode
from messjax.core.reference import reference_episode
from messjax.core.step import decide, init_state, observe
from messjax.core.types import HPARAM_NAMES, EngineConfig, Request, make_hparams

T = 2000  # requests per episode
D = 32  # feature width: small, the features are not what is under test
CONFIGS_PER_HEAD = 12
MODELS = ("small", "medium", "large")


# ------------------------------------------------------------------------------ data
def _read_llama(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """texts, labels [N, 3], energy costs [N, 3] of the Llama zoo (cheapest model first)."""
    try:
        from messjax.data import load_zoo

        table = load_zoo("llama3", folder.parent)
        assert table.models == MODELS
        return list(table.texts), np.asarray(table.labels), np.asarray(table.costs)
    except ImportError:
        pass
    texts, labels, costs = [], [], []
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                texts.append(row["input_text"])
                labels.append([float(row[f"label_{m}"]) for m in MODELS])
                costs.append([float(row[f"energy_consumption_{m}"]) for m in MODELS])
    return texts, np.asarray(labels, np.float32), np.asarray(costs, np.float32)


def _hashed_features(texts: list[str], d: int) -> np.ndarray:
    """Signed hashed bag of words, unit norm: deterministic, cheap, weakly informative."""
    x = np.zeros((len(texts), d), np.float64)
    for i, text in enumerate(texts):
        for w in text.lower().split():
            h = zlib.crc32(w.encode())
            x[i, h % d] += 1.0 if (h >> 16) & 1 else -1.0
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def llama(data_dir):
    texts, labels, costs = _read_llama(data_dir / "messplus-llama3")
    return _hashed_features(texts, D), labels.astype(np.float64), costs.astype(np.float64)


def _configs(head: str, n: int, seed: int) -> list[dict]:
    """n episodes: every cost estimator x epochs {0, 1, 3}, feedback < 1, c >= 1, costs > 0."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        hp = dict(
            alpha=float(rng.uniform(0.5, 0.85)),
            V=(1e-5, 1e-4, 1e-3, 1e-2)[i % 4],
            c=(0.05, 0.1, 1.0, 0.5, 3.0)[i % 5],
            learning_rate=float(rng.uniform(0.01, 0.2)),
            epochs=(0, 1, 3)[(i // 3) % 3],
            feedback_rate=(1.0, 0.5, 0.25, 0.8)[(i // 2) % 4],
            cost_estimator=i % 3,
            inference_cost=float(rng.uniform(1.0, 50.0)) if i % 2 else 0.0,
            training_cost=float(rng.uniform(5.0, 100.0)) if (i // 2) % 2 else 0.0,
            relative_V=(i // 2) % 2,
            momentum=(0.9, 0.95, 0.0)[i % 3 if i % 4 else 1],
            sparse_training=(i // 4) % 2,
        )
        out.append(
            dict(
                hp=hp,
                key_seed=int(rng.integers(2**31)),
                chain=i % 4 == 3,
                stream_seed=int(rng.integers(2**31)),
            )
        )
    return out


def _streams(llama, configs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[B, T, ...] request streams: shuffled zoo, or (chain) a run of benchmarks in file order."""
    x, labels, costs = llama
    idx = []
    for cfg in configs:
        rng = np.random.default_rng(cfg["stream_seed"])
        if cfg["chain"]:
            start = int(rng.integers(len(labels) - T))
            idx.append(np.arange(start, start + T))
        else:
            idx.append(rng.permutation(len(labels))[:T])
    idx = np.stack(idx)
    return x[idx], labels[idx], costs[idx]


def _stack_hparams(configs):
    return make_hparams(**{k: [c["hp"][k] for c in configs] for k in HPARAM_NAMES})


# ------------------------------------------------------------------------------ the engine
def _per_request(x, labels, costs, hp, key, config):
    """The step (decide then observe) scanned over a stream, keeping every StepOutput."""

    def body(state, request):
        decision = decide(state, request.x, hp, config, costs=request.costs)
        state, out = observe(state, decision, request, hp, config)
        return state, (out, decision.s_hat)

    state = init_state(key, config)
    _, (outs, s_hat) = jax.lax.scan(body, state, Request(x=x, labels=labels, costs=costs))
    return state.learner.params, outs, s_hat


_engine = jax.jit(jax.vmap(_per_request, in_axes=(0, 0, 0, 0, 0, None)), static_argnums=5)
_episode = jax.jit(jax.vmap(run_episode, in_axes=(0, 0, 0, None)), static_argnums=3)


def _run_engine(x, labels, costs, configs, config, *, summary: bool = True):
    hp = _stack_hparams(configs)
    keys = jnp.stack([jax.random.PRNGKey(c["key_seed"]) for c in configs])
    params, outs, s_hat = _engine(x, labels, costs, hp, keys, config)
    if summary:
        stream = Stream(x=x, labels=labels, costs=costs, mask=jnp.ones(labels.shape[:2], bool))
        summary, _ = _episode(stream, hp, keys, config)
    return keys, jax.tree.map(np.asarray, (params, outs, s_hat, summary))


def _reference(x, labels, costs, configs, keys, params, config, b):
    init_params = jax.tree.map(lambda a: a[b], params)
    return reference_episode(
        x[b], labels[b], costs[b], configs[b]["hp"], keys[b], init_params, config
    )


# ------------------------------------------------------------------------------ tests
@pytest.mark.data
@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_float64_parity_real_logs(llama, head):
    configs = _configs(head, CONFIGS_PER_HEAD, seed=1 if head == "mlp" else 2)
    config = EngineConfig(num_models=3, feature_dim=D, head=head)
    with jax.enable_x64(True):
        x, labels, costs = _streams(llama, configs)
        keys, (params, outs, s_hat, summary) = _run_engine(x, labels, costs, configs, config)
        assert s_hat.dtype == np.float64 and outs.virtual_queue.dtype == np.float64
        for b, cfg in enumerate(configs):
            ref = _reference(x, labels, costs, configs, keys, params, config, b)
            msg = f"{head} config {b}: {cfg}"
            for name in ("explore", "feedback", "model"):
                np.testing.assert_array_equal(getattr(outs, name)[b], ref[name], err_msg=msg)
            for name in ("satisfaction", "cost", "virtual_queue", "ideal_queue"):
                np.testing.assert_allclose(
                    getattr(outs, name)[b],
                    ref[name],
                    rtol=1e-12,
                    atol=1e-12,
                    err_msg=f"{name}, {msg}",
                )
            np.testing.assert_allclose(s_hat[b], ref["s_hat"], rtol=0, atol=1e-9, err_msg=msg)
            tot = ref["totals"]
            for name, want in tot.items():
                got = getattr(summary, name)[b]
                if np.issubdtype(np.asarray(got).dtype, np.floating):
                    np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{name}, {msg}")
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{name}, {msg}")

    # The configurations really exercise what they claim to.
    hps = [c["hp"] for c in configs]
    assert {h["cost_estimator"] for h in hps} == {0, 1, 2}
    assert {h["epochs"] for h in hps} == {0, 1, 3}
    assert {h["momentum"] for h in hps} == {0.0, 0.9, 0.95}
    # Both sparse-feedback rules, each with feedback < 1 and training epochs.
    for rule in (0, 1):
        assert any(
            h["sparse_training"] == rule and h["feedback_rate"] < 1 and h["epochs"] > 0 for h in hps
        )
    assert min(h["feedback_rate"] for h in hps) < 1 and max(h["c"] for h in hps) >= 1
    assert any(h["inference_cost"] > 0 for h in hps) and any(h["training_cost"] > 0 for h in hps)
    explore = outs.explore
    assert explore[[h["c"] >= 1 for h in hps], 0].all()  # c >= 1: request 1 explores
    assert (outs.ideal_queue != outs.virtual_queue).any()  # sparse feedback matters
    assert all(len(np.unique(m)) == 3 for m in outs.model)  # every model gets served


@pytest.mark.data
def test_float32_decisions_close(llama):
    """The float32 engine against the float64 loop (same float32 coins and hyperparameters)."""
    configs = _configs("mlp", 4, seed=3)
    for c in configs:
        c["hp"].update(epochs=1, c=0.5)
    config = EngineConfig(num_models=3, feature_dim=D, head="mlp")
    with jax.enable_x64(False):  # also under JAX_ENABLE_X64=1
        x, labels, costs = (np.asarray(a, np.float32) for a in _streams(llama, configs))
        keys, (params, outs, s_hat, _) = _run_engine(
            x, labels, costs, configs, config, summary=False
        )
        assert s_hat.dtype == np.float32
        hp32 = _stack_hparams(configs)  # the float32 values the engine saw
        for b, cfg in enumerate(configs):
            cfg["hp"] = {k: np.asarray(getattr(hp32, k))[b].item() for k in HPARAM_NAMES}
            ref = _reference(x, labels, costs, configs, keys, params, config, b)
            assert (outs.explore[b] == ref["explore"]).mean() >= 0.999
            agree = (outs.model[b] == ref["model"]).mean()
            assert agree >= 0.995, f"config {b}: decisions agree on {agree:.2%} only"
            np.testing.assert_allclose(s_hat[b][:100], ref["s_hat"][:100], atol=1e-4)
