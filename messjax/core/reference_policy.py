"""A plain NumPy, one-request-at-a-time loop of the ``messjax`` policy (issue 11).

The JAX policy (:mod:`messjax.core.policy`) is tested against this loop, as the MESS+ step is
against :mod:`messjax.core.reference`: written from the policy's docstring with none of its
code, only its random numbers. Per request t = 1..T (models m = 0..M-1, cheapest first):

1. ``(u_explore, u_feedback, k_t) = request_randomness(key, t)``, ``k_ts = fold_in(k_t, 1)``;
2. ``p = k / n``; ``theta = clip(Beta(k_ts; k / tau^2, (n - k) / tau^2), eps, 1 - eps)`` with
   ``tau = max(ts_temp, 1e-6)`` when ``ts_temp > 0``, else ``clip(p, eps, 1 - eps)``;
3. ``s_hat = sigmoid(logit(theta) + W x)``;
4. ``E_hat[m] = cost_sum[m] / cost_count[m]`` for models with a cost seen, the dearest of
   those for the others (1 if none); ``E_rel = E_hat / max(max_m E_hat, tiny)``;
5. ``lambda = min(max(0, D) / V, cap)``: ``cap = price_cap`` (``inf``: unbounded), or
   ``min(price_cap, infeasible_cap)`` when the dearest model (``argmax E_hat``, lowest index
   on ties) has ``n - prior >= infeasible_min_labels`` and for every model
   ``p + infeasible_z (theta - p) < alpha``;
   ``m* = argmin_m E_rel[m] - lambda s_hat[m]`` (lowest index on ties);
6. ``explore = u_explore < min(1, c / t^(1/4))`` or ``boot`` (``t = 1`` while some model's
   cost is unknown, i.e. not after a warm start); the extra model
   ``e = argmax_{m != m*} p (1 - p) / n`` (lowest index on ties); queried: ``m*``, ``e`` on
   explorations, every model on ``boot``; ``feedback = u_feedback < f``;
7. ``s = y[m*]``; cost ``sum_{m queried} E[m] + inference_cost``;
8. ``D <- D + alpha - s`` with feedback, else ``D <- D + alpha - (p[m*] - z sqrt(p[m*] (1 -
   p[m*]) / n[m*]))``; ``D* <- D* + alpha - s``;
9. on observed labels (``queried & feedback``): ``r = sigmoid(logit(clip(p)) + W x)``,
   ``W <- W - lr ((r - y) x^T on observed rows + l2 W)`` (the decay on every request);
   ``n += 1``, ``k += y``; costs: ``cost_sum += E``, ``cost_count += 1`` on queried models.

Warm start (``warm=(x_w, labels_w, costs_w)``, a training split every model answered): before
request 1, ``n += N``, ``k += sum_i y_i``, ``cost_sum += sum_i E_i``, ``cost_count += N``; then
``warm_epochs`` passes over the rows in order of ``W <- W - lr ((r - y_i) x_i^T + l2 W)`` with
``r = sigmoid(logit(clip(p)) + W x_i)`` and ``p = k / n`` after the counts. D, D* and t stay.

Randomness. The uniforms and the Thompson keys ``k_ts`` come from JAX up front (batched over
t, :func:`draw_policy_coins`): the engine's own numbers. The Beta draw depends on the state, so
it cannot be drawn up front: with ``beta="jax"`` (the default, what parity needs) each request
calls the engine's ``thompson.beta(k_ts, a, b)`` (jitted once per shape) on the loop's own float64
parameters ``a = k / tau^2``, ``b = (n - k) / tau^2``; with ``beta="numpy"`` it draws from
``numpy.random.Generator.beta`` instead (same distribution, other numbers: the decisions then
differ from the engine's), which is the loop a NumPy user would write and what the benchmark
times. Nothing else in the loop calls JAX.

Four details were in the policy's code but not its docstring when this loop was written
(the docstring now states them); the loop follows the code: ``tau`` is floored at 1e-6, ``p``
is clipped to ``[eps, 1 - eps]`` before the residual's logit, ``E_rel`` divides by
``max(max E_hat, tiny)``, and the reported ``explore`` flag is set on the bootstrap whatever the
coin.
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

from messjax.core import policy, thompson
from messjax.core.reference import episode_totals
from messjax.core.step import request_randomness
from messjax.core.types import Hyperparams, make_hparams

__all__ = [
    "PolicyCoins",
    "draw_policy_coins",
    "reference_policy_episode",
]

#: the hyperparameters the policy reads, with messjax's defaults for missing keys
_HP_DEFAULTS = {
    **{
        k: p.default
        for k, p in inspect.signature(make_hparams).parameters.items()
        if k != "validate"
    },
    **policy.DEFAULT_HPARAMS,
}
#: the shared hyperparameters the policy reads (the others are ignored)
_HP_READ = ("alpha", "V", "c", "learning_rate", "feedback_rate", "inference_cost")
#: floor of the Thompson temperature (the code's ``max(ts_temp, 1e-6)``)
TS_TEMP_FLOOR = 1e-6
EPS = policy.THETA_EPS


class PolicyCoins(NamedTuple):
    """The per-request randomness of an episode that does not depend on the state.

    Attributes:
      u_explore, u_feedback: ``[T]`` uniforms of ``request_randomness(key, t)``, t = 1..T.
      ts_keys: ``[T]`` keys ``fold_in(k_t, 1)`` of the Thompson draws.
    """

    u_explore: np.ndarray
    u_feedback: np.ndarray
    ts_keys: Any


@functools.partial(jax.jit, static_argnums=1)
def _batched_coins(key, T: int):
    def one(t):
        u_e, u_f, k_t = request_randomness(key, t)
        return u_e, u_f, jax.random.fold_in(k_t, 1)

    return jax.vmap(one)(jnp.arange(1, T + 1, dtype=jnp.int32))


def draw_policy_coins(key, T: int) -> PolicyCoins:
    """Every state-free random number of a T-request episode (jitted, batched over t)."""
    u_e, u_f, keys = _batched_coins(key, T)
    return PolicyCoins(u_explore=np.asarray(u_e), u_feedback=np.asarray(u_f), ts_keys=keys)


@jax.jit
def _jax_beta(key, a, b):
    """The engine's Thompson draw (:func:`messjax.core.thompson.beta`) in the inputs' dtype."""
    return thompson.beta(key, a, b, dtype=a.dtype)


def _values(hp, pp) -> tuple[dict, dict]:
    """Plain Python floats of the hyperparameters the policy reads."""
    if isinstance(hp, Hyperparams):
        hp = {f.name: np.asarray(getattr(hp, f.name)).item() for f in dataclasses.fields(hp)}
    if isinstance(pp, policy.PolicyParams):
        pp = {k: np.asarray(getattr(pp, k)).item() for k in policy.POLICY_PARAM_NAMES}
    hp, pp = dict(hp), dict(pp or {})
    unknown = (set(hp) - set(_HP_DEFAULTS)) | (set(pp) - set(policy.POLICY_PARAM_NAMES))
    if unknown:
        raise KeyError(f"unknown hyperparameters {sorted(unknown)}")
    h = {**_HP_DEFAULTS, **hp}
    h = {k: float(np.asarray(h[k])) for k in _HP_READ}
    p = {k: float(np.asarray(v)) for k, v in {**policy.DEFAULT_POLICY, **pp}.items()}
    return h, p


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p):
    return np.log(p) - np.log1p(-p)


# Small steps of the loop kept as module functions so that a test can break one on purpose.
def _next_deficit(deficit: float, alpha: float, satisfaction: float) -> float:
    """D <- D + alpha - s (the signed deficit: surplus is credit)."""
    return deficit + alpha - satisfaction


def _imputed(p: float, n: float, z: float) -> float:
    """Pessimistic satisfaction of the served model without feedback: p - z sqrt(p(1-p)/n)."""
    return p - z * math.sqrt(p * (1.0 - p) / n)


def reference_policy_episode(
    x,
    labels,
    costs,
    hp: Mapping | Hyperparams,
    pp: Mapping | policy.PolicyParams | None,
    key,
    *,
    coins: PolicyCoins | None = None,
    beta: str = "jax",
    beta_seed: int = 0,
    warm=None,
    warm_epochs: int = policy.WARM_EPOCHS,
) -> dict:
    """The messjax policy over one stream, one request at a time, in NumPy float64.

    Args:
      x, labels, costs: ``[T, d]``, ``[T, M]``, ``[T, M]`` arrays of the stream.
      hp: shared hyperparameters by name (missing ones take messjax's defaults,
        :data:`messjax.core.policy.DEFAULT_HPARAMS` over :func:`make_hparams`'), or a scalar
        :class:`Hyperparams`.
      pp: the policy's own parameters by name (missing: :data:`policy.DEFAULT_POLICY`) or a
        scalar :class:`~messjax.core.policy.PolicyParams`.
      key: the episode key (as given to ``init_policy`` / ``run_episode``).
      coins: from :func:`draw_policy_coins` (drawn here if ``None``).
      beta: ``"jax"`` (the engine's Thompson draws; parity) or ``"numpy"`` (NumPy's sampler
        seeded with ``beta_seed``; timing).
      warm: ``(x_w [N, d], labels_w [N, M], costs_w [N, M])`` labelled history to start from
        (see the module docstring), or ``None``; ``warm_epochs`` passes of the residual.

    Returns:
      A dict of per-request arrays ``model`` [T] int32, ``queried`` [T, M] bool, ``explore``,
      ``feedback`` [T] bool, ``satisfaction``, ``cost``, ``deficit``, ``realised_deficit``,
      ``price`` [T] (deficits after the update), ``s_hat``, ``posterior_mean``,
      ``cost_estimate`` [T, M] (what the argmin saw), and ``totals``: a dict with the fields
      of :class:`messjax.core.episode.Summary`.
    """
    if beta not in ("jax", "numpy"):
        raise ValueError(f"beta must be 'jax' or 'numpy', got {beta!r}")
    dtype = np.float64
    h, q = _values(hp, pp)
    x = np.asarray(x, dtype)
    labels = np.asarray(labels, dtype)
    costs = np.asarray(costs, dtype)
    T, M = labels.shape
    d = x.shape[1]
    if coins is None:
        coins = draw_policy_coins(key, T)
    alpha, V, c, lr, f = h["alpha"], h["V"], h["c"], h["learning_rate"], h["feedback_rate"]
    inference_cost = h["inference_cost"]
    prior, ts_temp, z, l2 = q["prior"], q["ts_temp"], q["impute_z"], q["l2"]
    tau2 = max(ts_temp, TS_TEMP_FLOOR) ** 2
    rng = np.random.default_rng(beta_seed) if beta == "numpy" else None
    tiny = np.finfo(dtype).tiny

    # state
    n = np.full(M, prior, dtype)
    k = np.full(M, prior * alpha, dtype)
    W = np.zeros((M, d), dtype)
    cost_sum = np.zeros(M, dtype)
    cost_count = np.zeros(M, dtype)
    D = q["margin"]
    D_real = 0.0
    if warm is not None:
        xw, yw, ew = (np.asarray(a, dtype) for a in warm)
        n = n + len(yw)
        k = k + yw.sum(0)
        cost_sum = cost_sum + ew.sum(0)
        cost_count = cost_count + len(yw)
        logit_p = _logit(np.clip(k / n, EPS, 1.0 - EPS))
        for _ in range(warm_epochs):
            for xi, yi in zip(xw, yw, strict=True):
                r = _sigmoid(logit_p + W @ xi)
                W = W - lr * (np.outer(r - yi, xi) + l2 * W)

    # outputs
    model = np.empty(T, np.int32)
    queried = np.zeros((T, M), bool)
    explore = np.empty(T, bool)
    feedback = np.asarray(coins.u_feedback, dtype) < f
    satisfaction = np.empty(T, dtype)
    cost = np.empty(T, dtype)
    deficit = np.empty(T, dtype)
    realised = np.empty(T, dtype)
    price_out = np.empty(T, dtype)
    s_hat_out = np.empty((T, M), dtype)
    p_out = np.empty((T, M), dtype)
    e_out = np.empty((T, M), dtype)
    u_explore = np.asarray(coins.u_explore, dtype)
    idx = np.arange(M)

    for i in range(T):
        t = i + 1
        xt, y = x[i], labels[i]
        # decide -----------------------------------------------------------------
        p = k / n
        if ts_temp > 0:
            if rng is None:
                theta = np.asarray(_jax_beta(coins.ts_keys[i], k / tau2, (n - k) / tau2), dtype)
            else:
                theta = rng.beta(k / tau2, (n - k) / tau2)
        else:
            theta = p
        theta = np.clip(theta, EPS, 1.0 - EPS)
        Wx = W @ xt
        s_hat = _sigmoid(_logit(theta) + Wx)
        known = cost_count > 0
        if known.any():
            mean = cost_sum / np.maximum(cost_count, 1.0)
            E_hat = np.where(known, mean, mean[known].max())
        else:
            E_hat = np.ones(M, dtype)
        E_rel = E_hat / max(E_hat.max(), tiny)
        # the out-of-reach hold: this request's draws, the dearest model judged
        draw = p + q["infeasible_z"] * (theta - p)
        judged = n[int(np.argmax(E_hat))] - prior >= q["infeasible_min_labels"]
        out_of_reach = bool(judged and np.all(draw < alpha))
        cap = min(q["price_cap"], q["infeasible_cap"]) if out_of_reach else q["price_cap"]
        price = min(max(D, 0.0) / V, cap)
        m = int(np.argmin(E_rel - price * s_hat))
        boot = t == 1 and bool(np.any(cost_count == 0))  # not after a warm start
        exp_t = bool(u_explore[i] < min(1.0, c / t**0.25)) or boot
        q_t = idx == m
        if boot:
            q_t[:] = True
        elif exp_t:
            unc = p * (1.0 - p) / n
            unc[m] = -np.inf
            q_t[int(np.argmax(unc))] = True
        # observe ----------------------------------------------------------------
        s = float(y[m])
        fb = bool(feedback[i])
        model[i], explore[i], queried[i] = m, exp_t, q_t
        satisfaction[i] = s
        cost[i] = np.where(q_t, costs[i], 0.0).sum() + inference_cost
        D = _next_deficit(D, alpha, s if fb else _imputed(float(p[m]), float(n[m]), z))
        D_real = D_real + alpha - s
        deficit[i], realised[i], price_out[i] = D, D_real, price
        s_hat_out[i], p_out[i], e_out[i] = s_hat, p, E_hat
        obs = q_t & fb
        r = _sigmoid(_logit(np.clip(p, EPS, 1.0 - EPS)) + Wx)
        g = np.where(obs, r - y, 0.0)
        W = W - lr * (np.outer(g, xt) + l2 * W)
        n = n + obs
        k = k + np.where(obs, y, 0.0)
        cost_sum = cost_sum + np.where(q_t, costs[i], 0.0)
        cost_count = cost_count + q_t

    out = dict(
        model=model,
        queried=queried,
        explore=explore,
        feedback=feedback,
        satisfaction=satisfaction,
        cost=cost,
        deficit=deficit,
        realised_deficit=realised,
        price=price_out,
        s_hat=s_hat_out,
        posterior_mean=p_out,
        cost_estimate=e_out,
    )
    # the signed deficit is the decision queue, the realised deficit the ideal one
    queues = dict(virtual_queue=deficit, ideal_queue=realised)
    out["totals"] = episode_totals({**out, **queues}, alpha, M)
    return out
