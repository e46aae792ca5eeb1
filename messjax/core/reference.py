"""A plain NumPy, one-request-at-a-time loop of MESS+ (MESSPLUS.md sections 2 and 4).

The JAX engine (:mod:`messjax.core.step`) is tested against this loop (gymnax style): the same
coins, the same predictor, the same queue, written with none of the engine's code except its
random numbers. Per request t = 1..T:

1. ``p_t = min(1, c / t^(1/4))``; explore iff ``u_explore < p_t``; feedback iff
   ``u_feedback < f``; ``(u_explore, u_feedback, train_key) = request_randomness(key, t)``;
2. ``s_hat = sigmoid(head(x_t))`` (dropout off); on exploration serve model M-1, else
   ``m* = argmin_m V * E_hat[m] + Q * (alpha - s_hat[m])`` (``np.argmin``: ties to the lowest
   index); E_hat is the true ``E[:, t]`` for the ``oracle`` estimator;
3. on exploration with feedback (every exploration with ``sparse_training =
   all_explorations``), ``epochs`` steps of SGD on the BCE of ``(x_t, s[:, t])`` averaged over
   ``n = config.copies`` copies: manual backprop through
   Dropout-Linear-LayerNorm-ReLU-Dropout-Linear (or Linear), the copies' keep-masks of step i
   drawn by the engine's ``head_masks(fold_in(train_key, i), (n,), config)``, then
   ``g <- g if |g| < 1 else g / |g|`` (global norm), ``g <- g + 0.01 p``,
   ``m <- g + momentum m``, ``p <- p - lr m``;
4. ``Q <- max(0, Q + alpha - s_t)`` only with feedback, the ideal queue always; cost charged
   ``sum_m E[m, t]`` on exploration, ``E[m*, t]`` otherwise, plus ``inference_cost`` and
   ``epochs * training_cost`` when it trained; E_hat: ``last_explore`` overwrites with
   ``E[:, t]`` on exploration, ``running_mean`` is the mean of every cost observed per model
   (all models on exploration, the served one otherwise), both 1 before any observation.

The random numbers come from JAX (``request_randomness`` and ``jax.random.bernoulli``, batched
over t up front); they are the same numbers the engine draws, in the same x64 mode as the caller.
The throughput benchmark times this same loop as its "NumPy loop" baseline
(:mod:`messjax.runs.bench_loops`, which owns the timing).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from messjax.core.predictor import LAYERNORM_EPS, head_masks
from messjax.core.step import request_randomness
from messjax.core.types import (
    CHOICE_LEAVES,
    SPARSE_TRAINING,
    EngineConfig,
    Hyperparams,
    make_hparams,
)

__all__ = ["Coins", "draw_coins", "reference_episode"]

#: make_hparams' defaults, used for keys missing from an ``hp`` dict.
_DEFAULTS = {
    k: p.default for k, p in inspect.signature(make_hparams).parameters.items() if k != "validate"
}
#: Parameter leaves in ``jax.tree.leaves`` order (sorted keys): optax sums the global norm so.
_MLP_LEAVES = (
    ("hidden", "bias"),
    ("hidden", "kernel"),
    ("norm", "bias"),
    ("norm", "scale"),
    ("out", "bias"),
    ("out", "kernel"),
)
_LINEAR_LEAVES = (("out", "bias"), ("out", "kernel"))


class Coins(NamedTuple):
    """The per-request randomness of an episode, drawn up front.

    Attributes:
      u_explore, u_feedback: ``[T]`` uniforms of ``request_randomness(key, t)``, t = 1..T.
      train_keys: ``[T]`` (typed or raw) keys, the third output of ``request_randomness``.
      dropout_masks: ``{t_index: (input [epochs, n, d], hidden [epochs, n, h])}`` keep-masks
        (bool, ``None`` for a rate of 0) of the ``n = config.copies`` copies, for the requests
        that train.
    """

    u_explore: np.ndarray
    u_feedback: np.ndarray
    train_keys: Any
    dropout_masks: dict


def _hp_values(hp: Mapping | Hyperparams) -> dict:
    """Plain Python scalars for every hyperparameter (names or indices for cost_estimator)."""
    if isinstance(hp, Hyperparams):
        hp = {f.name: np.asarray(getattr(hp, f.name)).item() for f in dataclasses.fields(hp)}
    unknown = set(hp) - set(_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown hyperparameters {sorted(unknown)}")
    v = {**_DEFAULTS, **hp}
    for key, choices in CHOICE_LEAVES.items():
        val = v[key]
        v[key] = choices.index(val) if isinstance(val, str) else int(val)
    v["epochs"] = int(v["epochs"])
    v["relative_V"] = int(v["relative_V"])
    for k in (
        "alpha",
        "V",
        "c",
        "learning_rate",
        "feedback_rate",
        "inference_cost",
        "training_cost",
        "momentum",
    ):
        v[k] = float(np.asarray(v[k]))
    return v


@functools.partial(jax.jit, static_argnums=1)
def _batched_randomness(key, T: int):
    """``request_randomness(key, t)`` for t = 1..T."""
    t = jnp.arange(1, T + 1, dtype=jnp.int32)
    return jax.vmap(request_randomness, in_axes=(None, 0))(key, t)


#: Masks are drawn in chunks of this many (request, step) pairs: one compilation per shape.
_MASK_CHUNK = 1024


@functools.partial(jax.jit, static_argnums=3)
def _batched_masks(train_keys, request, step, config: EngineConfig):
    """Masks of gradient step ``step[j]`` of request ``request[j]``, as ``train_on_example``
    draws them: ``head_masks(fold_in(train_key, step), (config.copies,), config)``."""

    def one(k, i):
        return head_masks(jax.random.fold_in(k, i), (config.copies,), config)

    return jax.vmap(one)(train_keys[request], step)


def draw_coins(key, T: int, hp: Mapping | Hyperparams, config: EngineConfig) -> Coins:
    """Every random number of a T-request episode (jitted, batched over t and steps)."""
    v = _hp_values(hp)
    u_e, u_f, train_keys = _batched_randomness(key, T)
    u_e, u_f = np.asarray(u_e), np.asarray(u_f)
    masks = {}
    if config.has_dropout and v["epochs"] > 0:
        explore, feedback = _flags(u_e, u_f, v)
        trains = np.flatnonzero(_trains(explore, feedback, v))
        epochs = v["epochs"]
        request = np.repeat(trains, epochs).astype(np.int32)
        step = np.tile(np.arange(epochs, dtype=np.int32), trains.size)
        n = -(-request.size // _MASK_CHUNK) * _MASK_CHUNK
        request, step = (np.pad(a, (0, n - a.size)) for a in (request, step))
        chunks = [
            _batched_masks(
                train_keys, request[j : j + _MASK_CHUNK], step[j : j + _MASK_CHUNK], config
            )
            for j in range(0, n, _MASK_CHUNK)
        ]

        def gather(part):
            if not chunks or chunks[0][part] is None:
                return None
            return np.concatenate([np.asarray(c[part]) for c in chunks])

        keep_in, keep_hidden = gather(0), gather(1)
        for j, i in enumerate(trains):
            rows = slice(j * epochs, (j + 1) * epochs)
            masks[int(i)] = (
                None if keep_in is None else keep_in[rows],
                None if keep_hidden is None else keep_hidden[rows],
            )
    return Coins(u_explore=u_e, u_feedback=u_f, train_keys=train_keys, dropout_masks=masks)


def _trains(explore, feedback, v: dict) -> np.ndarray:
    """The requests the predictor trains on (``sparse_training``)."""
    every = v["sparse_training"] == SPARSE_TRAINING.index("all_explorations")
    return explore & (feedback | every)


def _flags(u_explore, u_feedback, v: dict) -> tuple[np.ndarray, np.ndarray]:
    """Exploration (u < min(1, c / t^(1/4)), t from 1) and feedback (u < f) flags."""
    t = np.arange(1, len(u_explore) + 1, dtype=np.float64)
    explore = u_explore.astype(np.float64) < np.minimum(1.0, v["c"] / t**0.25)
    return explore, u_feedback.astype(np.float64) < v["feedback_rate"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_episode(
    x,
    labels,
    costs,
    hp: Mapping | Hyperparams,
    key,
    init_params,
    config: EngineConfig,
    *,
    coins: Coins | None = None,
) -> dict:
    """MESS+ over one stream, one request at a time, in NumPy float64.

    Args:
      x, labels, costs: ``[T, d]``, ``[T, M]``, ``[T, M]`` arrays of the stream.
      hp: hyperparameters by name (missing ones take :func:`make_hparams`' defaults;
        ``cost_estimator`` a name or index), or a scalar :class:`Hyperparams`.
      key: the episode key (as given to ``init_state`` / ``run_episode``).
      init_params: the head's initial parameters (``init_predictor(fold_in(key, 0), config)``).
      config: the static :class:`EngineConfig`.
      coins: the episode's randomness from :func:`draw_coins` (drawn here if ``None``).

    Returns:
      A dict of per-request arrays ``explore, feedback`` [T] bool, ``model`` [T] int32,
      ``satisfaction, cost, virtual_queue, ideal_queue`` [T] (queues after the update),
      ``s_hat, cost_estimate`` [T, M] (what the argmin saw), and ``totals``: a dict with the
      fields of :class:`messjax.core.episode.Summary`.
    """
    dtype = np.float64
    v = _hp_values(hp)
    x = np.asarray(x, dtype)
    labels = np.asarray(labels, dtype)
    costs = np.asarray(costs, dtype)
    T, M = labels.shape
    if coins is None:
        coins = draw_coins(key, T, v, config)
    alpha, V, lr, epochs = v["alpha"], v["V"], v["learning_rate"], v["epochs"]
    estimator = CHOICE_LEAVES["cost_estimator"][v["cost_estimator"]]
    mlp = config.head == "mlp"
    keep_prob = 1.0 - config.dropout
    keep_in_prob = 1.0 - config.input_dropout
    copies = config.copies
    mom, wd, clip = v["momentum"], config.weight_decay, config.clip_norm

    # ---------------------------------------------------------------- coins (no loop needed)
    explore, feedback = _flags(coins.u_explore, coins.u_feedback, v)
    steps = np.where(_trains(explore, feedback, v), epochs, 0)
    inference_cost = v["inference_cost"]
    training_cost = steps * v["training_cost"]  # charged per gradient step

    # ---------------------------------------------------------------- parameters (copies)
    names = _MLP_LEAVES if mlp else _LINEAR_LEAVES
    P = [np.array(init_params[a][b], dtype=dtype) for a, b in names]
    G = [np.zeros_like(p) for p in P]  # gradient buffers
    TR = [np.zeros_like(p) for p in P]  # momentum trace
    H = config.hidden
    if mlp:
        b1, W1, nb, ns, b2, W2 = P
        gb1, gW1, gnb, gns, gb2, gW2 = G
        h, mul = np.empty(H, dtype), np.empty(H, dtype)  # eval-mode buffers
    else:
        b2, W2 = P
        gb2, gW2 = G

    def predict(xt, out):
        """out <- s_hat = sigmoid(head(x_t)), evaluation mode (no dropout), in place."""
        if mlp:
            np.dot(xt, W1, out=h)
            np.add(h, b1, out=h)
            np.subtract(h, np.add.reduce(h) / H, out=h)
            rstd = 1.0 / math.sqrt(float(np.dot(h, h)) / H + LAYERNORM_EPS)
            np.multiply(ns, rstd, out=mul)
            np.multiply(h, mul, out=h)
            np.add(h, nb, out=h)
            np.maximum(h, 0.0, out=h)
            np.dot(h, W2, out=out)
        else:
            np.dot(xt, W2, out=out)
        out += b2
        np.negative(out, out=out)
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)

    def sgd_step(xt, yt, keep_in, keep_hidden):
        """One step of clip -> decayed weights -> momentum SGD on the mean over ``copies``
        copies and the M models of BCE(head(x_t), s_t); ``keep_*``: the copies' masks."""
        # Forward, training mode, every copy at once ([n, .] rows).
        A = np.broadcast_to(xt, (copies, xt.shape[0]))
        if keep_in is not None:
            A = np.where(keep_in, A / keep_in_prob, 0.0)
        if mlp:
            hc = A @ W1 + b1
            hc = hc - hc.mean(1, keepdims=True)
            rstd = 1.0 / np.sqrt((hc * hc).mean(1, keepdims=True) + LAYERNORM_EPS)
            y = hc * (ns * rstd) + nb  # flax: (x - mean) * (rsqrt(var + eps) * scale) + bias
            active = y > 0 if keep_hidden is None else keep_hidden & (y > 0)  # ReLU, dropout
            a = np.where(active, y / keep_prob, 0.0)
            logits = a @ W2 + b2
        else:
            logits = A @ W2 + b2
        # Backward: d mean_{j,m} BCE(z_jm, s_m) / dz_jm = (sigmoid(z_jm) - s_m) / (n M).
        dz = (_sigmoid(logits) - yt) / (M * copies)
        gb2[...] = dz.sum(0)
        if mlp:
            np.matmul(a.T, dz, out=gW2)
            dy = np.where(active, (dz @ W2.T) / keep_prob, 0.0)
            xhat = hc * rstd
            gns[...] = (dy * xhat).sum(0)
            gnb[...] = dy.sum(0)
            dxhat = dy * ns
            dh = rstd * (
                dxhat - dxhat.mean(1, keepdims=True) - xhat * (dxhat * xhat).mean(1, keepdims=True)
            )
            gb1[...] = dh.sum(0)
            np.matmul(A.T, dh, out=gW1)
        else:
            np.matmul(A.T, dz, out=gW2)
        # clip_by_global_norm (norm over the leaves in tree order) -> add_decayed_weights -> sgd.
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in G))
        for p, g, tr in zip(P, G, TR, strict=True):
            if not norm < clip:
                g /= norm
                g *= clip
            g += wd * p
            tr *= mom
            tr += g
            p -= lr * tr

    # ---------------------------------------------------------------- outputs and queue state
    model = np.empty(T, np.int32)
    satisfaction = np.empty(T, dtype)
    cost = np.empty(T, dtype)
    vq = np.empty(T, dtype)
    iq = np.empty(T, dtype)
    s_hat = np.empty((T, M), dtype)
    used_estimate = np.empty((T, M), dtype)
    score = np.empty(M, dtype)
    Q = 0.0  # virtual queue (decisions)
    Qi = 0.0  # ideal queue (every request)
    estimate = np.ones(M, dtype)  # E_hat of last_explore / running_mean
    V_estimate = V * estimate
    V_costs = V * costs  # the oracle's V * E_hat, every request at once
    cost_sum = np.zeros(M, dtype)
    cost_count = np.zeros(M, dtype)
    masks = coins.dropout_masks if config.has_dropout else None
    oracle = estimator == "oracle"
    relative_V = bool(v["relative_V"])
    running_mean = estimator == "running_mean"
    last_explore = estimator == "last_explore"
    largest = M - 1
    label_rows, cost_rows = labels.tolist(), costs.tolist()
    train_cost = training_cost.tolist()

    # ---------------------------------------------------------------- the loop
    for i, (exp_i, fb_i, steps_i) in enumerate(
        zip(explore.tolist(), feedback.tolist(), steps.tolist(), strict=True)
    ):
        # 1. predict
        sh = s_hat[i]
        predict(x[i], sh)
        # 2. decide: argmin_m V E_hat[m] + Q (alpha - s_hat[m]); ties to the lowest index
        used_estimate[i] = costs[i] if oracle else estimate
        if exp_i:
            m = largest
        else:
            np.subtract(alpha, sh, out=score)
            score *= Q
            if relative_V:  # V * E_hat / max_m E_hat (1 if that is 0)
                e = costs[i] if oracle else estimate
                dearest = e.max()
                score += V * (e / (dearest if dearest > 0 else 1.0))
            else:
                score += V_costs[i] if oracle else V_estimate
            m = int(score.argmin())
        model[i] = m
        # 3. train on explorations with feedback
        for k in range(steps_i):
            if masks is None:
                sgd_step(x[i], labels[i], None, None)
            else:
                keep_in, keep_hidden = masks[i]
                sgd_step(
                    x[i],
                    labels[i],
                    None if keep_in is None else keep_in[k],
                    None if keep_hidden is None else keep_hidden[k],
                )
        # 4. queues, cost, E_hat
        s = label_rows[i][m]
        satisfaction[i] = s
        if fb_i:
            Q = max(0.0, Q + alpha - s)
        Qi = max(0.0, Qi + alpha - s)
        vq[i] = Q
        iq[i] = Qi
        if exp_i:
            cost[i] = costs[i].sum() + inference_cost + train_cost[i]
            cost_sum += costs[i]
            cost_count += 1.0
            if running_mean:
                np.divide(cost_sum, cost_count, out=estimate)
            elif last_explore:
                estimate[:] = costs[i]
            np.multiply(V, estimate, out=V_estimate)
        else:
            e = cost_rows[i][m]
            cost[i] = e + inference_cost + train_cost[i]
            cost_sum[m] += e
            cost_count[m] += 1.0
            if running_mean:
                estimate[m] = cost_sum[m] / cost_count[m]
                V_estimate[m] = V * estimate[m]

    out = dict(
        explore=explore,
        feedback=feedback,
        model=model,
        satisfaction=satisfaction,
        cost=cost,
        virtual_queue=vq,
        ideal_queue=iq,
        s_hat=s_hat,
        cost_estimate=used_estimate,
    )
    out["totals"] = episode_totals(out, alpha, M)
    return out


def episode_totals(out: dict, alpha: float, M: int) -> dict:
    """The fields of :class:`messjax.core.episode.Summary` from per-request arrays, in NumPy.

    The one NumPy summary: of both NumPy loops (this module and
    :mod:`messjax.core.reference_policy`) and of the baselines
    (:func:`messjax.baselines.summarize`). ``out`` holds ``[..., T]`` arrays (any leading axes,
    e.g. seeds) ``satisfaction``, ``cost``, ``explore``, ``feedback``, ``virtual_queue`` and
    ``ideal_queue`` (queues after each request), the served answers as ``model`` (indices) or
    ``served`` (``[..., T, M]`` weights, e.g. an LP's fractional split), and optionally
    ``queried`` (``[..., T, M]``; default: every model on an exploration, else the served one).

    The engine computes the same fields in JAX, one request at a time
    (:meth:`messjax.core.episode.Totals.add`, :meth:`~messjax.core.episode.Summary.from_totals`).
    The two are kept apart on purpose: the parity tests check the engine against the NumPy
    loops, which needs two independent implementations of the summary as well.
    """
    sat = np.asarray(out["satisfaction"])
    T = sat.shape[-1]
    shape = sat.shape[:-1]
    if "served" in out:
        served = np.asarray(out["served"])
    else:
        served = np.asarray(out["model"])[..., None] == np.arange(M)  # one-hot [..., T, M]
    explore = np.asarray(out["explore"], bool)
    if "queried" in out:
        queried = np.asarray(out["queried"]).sum(axis=-2)
    else:
        queried = np.where(explore[..., None], np.ones((), served.dtype), served).sum(axis=-2)
    queue = np.asarray(out["virtual_queue"])
    running = np.cumsum(sat, axis=-1) / np.arange(1, T + 1)
    satisfaction = sat.sum(axis=-1) / max(T, 1)
    return dict(
        num_requests=np.full(shape, T, np.int64),
        total_cost=np.asarray(out["cost"]).sum(axis=-1),
        satisfaction=satisfaction,
        sla_met=satisfaction >= alpha,
        explore_count=explore.sum(axis=-1),
        feedback_count=np.asarray(out["feedback"], bool).sum(axis=-1),
        served_counts=served.sum(axis=-2),
        query_counts=queried,
        cumulative_violation=np.maximum(0.0, alpha - running).sum(axis=-1),
        max_queue=np.maximum(0.0, queue.max(axis=-1, initial=0.0)),
        final_queue=queue[..., -1] if T else np.zeros(shape),
        final_ideal_queue=np.asarray(out["ideal_queue"])[..., -1] if T else np.zeros(shape),
    )
