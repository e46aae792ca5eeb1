"""Baseline routers of the MESS+ paper (MESSPLUS.md section 7) and the hindsight floors.

Every method turns a request stream into per-request outcomes with the same shape as MESS+:
which model's answer is served, its satisfaction and the cost charged, summarised as a
:class:`messjax.core.episode.Summary` per seed (leading axis ``[S]``), so
:mod:`messjax.metrics` treats MESS+ and baselines alike.

Methods (``name``; ``*`` = uses hindsight a deployment does not have):

- ``single-<model>``: every request to one model.
- ``educated-guess`` *: the authors' "random with constraint" baseline (MESSPLUS.md section
  7): a fixed mixture ``p`` over models found from the true mean accuracies without looking at
  cost: start uniform, then up to 5000 times multiply by 1.01 the weight of every model more
  accurate than the current mixture and by 0.99 the others, renormalise, stop as soon as
  ``p . acc >= alpha`` (:func:`educated_guess_mixture`); sampled per request for each seed.
- ``mixture-lp`` *: the cheapest fixed mixture meeting ``alpha`` in expectation,
  ``min_p sum_m p_m cbar_m  s.t.  sum_m p_m acc_m >= alpha, p in simplex`` (exact; at most two
  models mix; :func:`messjax.lp.mixture_lp`): the hindsight floor of context-free routing;
  sampled the same way.
- ``oracle`` *: the per-request LP relaxation with perfect hindsight,
  ``min_z sum_tm z_tm E_tm  s.t.  sum_tm z_tm s_tm >= alpha T, sum_m z_tm = 1, z >= 0``,
  solved exactly through its Lagrangian (:func:`messjax.lp.oracle_lp`; at most one
  fractional request): the floor.
- ``routellm-*``: a binary router between the cheapest and the largest model (RouteLLM): a
  logistic regression on the request embedding predicts ``P(large needed)``, the label being
  "the cheapest model fails and the largest succeeds"; the largest serves when the score
  passes a threshold.
- ``routerdc``: an offline multi-model router (RouterDC-style): the paper's MLP head trained
  offline with BCE on all M models' labels; it serves the model with the highest predicted
  satisfaction (RouterDC's argmax over per-model scores; ties to the cheaper model). No
  threshold: one routing for every alpha, as in the paper.
- ``routerdc-alpha-*``: the same scores with a per-alpha threshold (a stronger baseline than
  the paper's): the cheapest model whose predicted satisfaction is >= the threshold (else the
  largest).

The trained routers are fitted on a training table (by default the other tasks of the zoo,
leave-one-task-out; a held-out ``calibration_fraction`` of it is kept apart). Thresholds are
calibrated two ways: ``-hindsight`` on the test stream itself (the cheapest threshold whose
final satisfaction meets alpha, as the paper reports RouteLLM; searched over every distinct
score, finer than a fixed sweep of thresholds) and ``-train`` on the held-out part of the
training table (what a deployment could do).

Router compute is charged like MESS+'s (:class:`messjax.core.types.Hyperparams`):
``inference_cost`` per request and ``training_cost`` per (example x gradient step).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from messjax.core.episode import Summary
from messjax.core.predictor import bce_loss, init_predictor, predict_logits
from messjax.core.reference import episode_totals
from messjax.core.sweep import SweepResult, request_order
from messjax.core.types import EngineConfig, seed_array
from messjax.data.streams import permutation
from messjax.data.table import RoutingTable
from messjax.errors import ConfigError
from messjax.lp import mixture_lp, oracle_lp


# ------------------------------------------------------------------------------ results
@dataclasses.dataclass
class MethodResult:
    """A method's per-seed summaries on one stream.

    Attributes:
      name: method name (``messplus``, ``single-<model>``, ``oracle``, ...).
      alpha: the SLA target.
      seeds: ``[S]`` seeds (each one's request order is :func:`request_order`).
      summary: :class:`Summary` with leading axis ``[S]`` (NumPy leaves).
      hindsight: the method uses information a deployment does not have.
      info: extras, e.g. ``threshold`` ``[S]``, ``mixture`` ``[M]``, ``expected_cost``,
        ``expected_satisfaction``, ``feasible``.
    """

    name: str
    alpha: float
    seeds: np.ndarray
    summary: Summary
    hindsight: bool = False
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


def from_sweep(result: SweepResult, name: str = "messplus") -> MethodResult:
    """A MESS+ sweep of one (alpha, V, ...) setting over seeds as a :class:`MethodResult`."""
    alphas = np.unique(np.asarray(result.grid.hparams.alpha))
    if len(alphas) != 1:
        raise ConfigError("alpha", f"expected one alpha in the sweep, got {alphas.tolist()}")
    summary = jax.tree.map(np.asarray, result.summary)
    return MethodResult(name, float(alphas[0]), np.asarray(result.grid.seeds), summary)


def _weights(served, num_models: int) -> np.ndarray:
    """Integer model indices ``[..., T]`` as one-hot weights; float ``[..., T, M]`` as is."""
    served = np.asarray(served)
    if np.issubdtype(served.dtype, np.integer):
        return np.eye(num_models)[served]
    return served.astype(np.float64)


def summarize(served, labels, costs, alpha: float, *, explore=None, extra_cost=0.0) -> Summary:
    """Summary of a stream served as ``served`` (requests in arrival order).

    Args:
      served: integer model indices ``[..., T]``, or float weights ``[..., T, M]`` of each
        model's answer (one-hot, or the oracle's fractional split).
      labels, costs: ``[..., T, M]`` in the same arrival order.
      explore: ``[..., T]`` bool, every model was queried and paid for (default: none).
      extra_cost: cost charged on top of the answers, per request (scalar or ``[..., T]``).

    Every request has feedback, so the virtual queue ``Q_t = max(0, Q_{t-1} + alpha - s_t)``
    is computed in closed form ``Q_t = S_t - min(0, min_{k<=t} S_k)``,
    ``S_t = sum_{k<=t} (alpha - s_k)``; the fields are then those of the NumPy loops
    (:func:`messjax.core.reference.episode_totals`): final satisfaction (not a mean of running
    means), ``cumulative_violation = sum_t max(0, alpha - sat_t)`` with ``sat_t`` the running
    satisfaction after request t, and so on.
    """
    labels = np.asarray(labels, np.float64)
    costs = np.asarray(costs, np.float64)
    served = _weights(served, labels.shape[-1])
    explore = np.zeros(served.shape[:-1], bool) if explore is None else np.asarray(explore, bool)
    explore = np.broadcast_to(explore, served.shape[:-1])
    sat = (served * labels).sum(-1)
    cost = np.where(explore, costs.sum(-1), (served * costs).sum(-1)) + extra_cost
    drift = np.cumsum(alpha - sat, -1)
    queue = drift - np.minimum(0.0, np.minimum.accumulate(drift, axis=-1))
    per_request = dict(
        served=served,
        satisfaction=sat,
        cost=cost,
        explore=explore,
        feedback=np.ones(explore.shape, bool),
        virtual_queue=queue,
        ideal_queue=queue,
    )
    return Summary(**episode_totals(per_request, alpha, labels.shape[-1]))


def _orders(T: int, seeds: Sequence[int], orders: Mapping[int, np.ndarray] | None) -> np.ndarray:
    """``[S, T]`` arrival order per seed (default: the engine's :func:`request_order`)."""
    orders = orders or {}
    return np.stack([np.asarray(orders.get(int(s), request_order(T, int(s)))) for s in seeds])


def _stream_summary(served, labels, costs, alpha, order, extra_cost=0.0) -> Summary:
    """Summaries, one per seed, of decisions made per request in table order.

    ``served``: indices ``[T]``/``[S, T]`` or weights ``[T, M]``/``[S, T, M]``; ``order [S, T]``.
    """
    S, M = len(order), labels.shape[-1]
    weights = _weights(served, M)
    weights = np.broadcast_to(weights, (S, *weights.shape[-2:]))
    weights = np.take_along_axis(weights, order[..., None], axis=1)
    return summarize(weights, labels[order], costs[order], alpha, extra_cost=extra_cost)


# ------------------------------------------------------------------------------ single models
def single_model(
    labels, costs, model: int, alpha: float, seeds, *, orders=None, inference_cost=0.0
) -> Summary:
    """Every request served by ``model`` (router cost, if any, still charged)."""
    labels, costs = np.asarray(labels), np.asarray(costs)
    order = _orders(len(labels), seeds, orders)
    served = np.full(labels.shape[0], model, np.int64)
    return _stream_summary(served, labels, costs, alpha, order, inference_cost)


# ------------------------------------------------------------------------------ random mixture
#: The authors' educated-guessing procedure: step factors and iteration cap.
EDUCATED_GUESS_UP, EDUCATED_GUESS_DOWN, EDUCATED_GUESS_ITERATIONS = 1.01, 0.99, 5000


def educated_guess_mixture(accuracy, alpha: float) -> tuple[np.ndarray, int, bool]:
    """The authors' "educated guessing" mixture (MESSPLUS.md section 7), cost-blind.

    ``p`` starts uniform; while ``p . acc < alpha`` (at most 5000 times): ``p_m *= 1.01`` for
    every model with ``acc_m > p . acc``, ``p_m *= 0.99`` for the others, ``p /= sum(p)``.

    Returns ``(p [M], iterations done, p . acc >= alpha)``.
    """
    acc = np.asarray(accuracy, np.float64)
    p = np.full(acc.shape, 1.0 / acc.size)
    it = 0
    while p @ acc < alpha and it < EDUCATED_GUESS_ITERATIONS:
        p = p * np.where(acc > p @ acc, EDUCATED_GUESS_UP, EDUCATED_GUESS_DOWN)
        p = p / p.sum()
        it += 1
    return p, it, bool(p @ acc >= alpha)


def sample_mixture(
    p, labels, costs, alpha: float, seeds, *, orders=None, inference_cost=0.0
) -> tuple[Summary, dict[str, Any]]:
    """A fixed mixture ``p`` sampled per request: request t of seed s is served by ``m ~ p``
    drawn with ``PRNGKey(s)``. Returns the per-seed summaries and ``info`` with the mixture
    and its expectation."""
    labels, costs = np.asarray(labels), np.asarray(costs)
    T, M = labels.shape
    acc, cbar = labels.mean(0, dtype=np.float64), costs.mean(0, dtype=np.float64)
    p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
    p = p / p.sum()
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seed_array(seeds)))
    draws = jax.vmap(lambda k: jax.random.choice(k, M, (T,), p=jnp.asarray(p)))(keys)
    order = _orders(T, seeds, orders)
    # Draws are made in arrival order; the stream summary expects table order.
    served = np.empty_like(np.asarray(draws))
    np.put_along_axis(served, order, np.asarray(draws), axis=1)
    summary = _stream_summary(served, labels, costs, alpha, order, inference_cost)
    info = dict(
        mixture=p,
        expected_cost=float(T * (p @ cbar + inference_cost)),
        expected_satisfaction=float(p @ acc),
    )
    return summary, info


def cheapest_mixture(
    labels, costs, alpha: float, seeds, *, orders=None, inference_cost=0.0
) -> tuple[Summary, dict[str, Any]]:
    """``mixture-lp``: :func:`mixture_lp` from the table's accuracies and mean costs, sampled
    per seed (:func:`sample_mixture`)."""
    labels, costs = np.asarray(labels), np.asarray(costs)
    acc, cbar = labels.mean(0, dtype=np.float64), costs.mean(0, dtype=np.float64)
    p, feasible = mixture_lp(jnp.asarray(acc), jnp.asarray(cbar), alpha)
    summary, info = sample_mixture(
        p, labels, costs, alpha, seeds, orders=orders, inference_cost=inference_cost
    )
    return summary, dict(info, feasible=bool(feasible))


def educated_guess(
    labels, costs, alpha: float, seeds, *, orders=None, inference_cost=0.0
) -> tuple[Summary, dict[str, Any]]:
    """``educated-guess``: :func:`educated_guess_mixture` from the table's accuracies, sampled
    per seed (:func:`sample_mixture`)."""
    labels = np.asarray(labels)
    p, iterations, feasible = educated_guess_mixture(labels.mean(0, dtype=np.float64), alpha)
    summary, info = sample_mixture(
        p, labels, costs, alpha, seeds, orders=orders, inference_cost=inference_cost
    )
    return summary, dict(info, feasible=feasible, iterations=iterations)


# ------------------------------------------------------------------------------ oracle
def oracle(labels, costs, alpha: float, seeds, *, orders=None) -> tuple[Summary, dict[str, Any]]:
    """:func:`oracle_lp` as a stream per seed (the fractional request served fractionally)."""
    labels, costs = np.asarray(labels), np.asarray(costs)
    sol = oracle_lp(labels, costs, alpha)
    order = _orders(len(labels), seeds, orders)
    summary = _stream_summary(sol.z, labels, costs, alpha, order)
    return summary, dict(lam=sol.lam, feasible=sol.feasible)


# ------------------------------------------------------------------------------ trained routers
@dataclasses.dataclass(frozen=True)
class RouterTraining:
    """How the offline routers are fitted (full-batch AdamW on BCE) and calibrated.

    Attributes:
      steps, learning_rate, weight_decay: full-batch AdamW, early-stopped on the held-out
        calibration part's BCE (the MLP overfits the other tasks after ~30-40 steps).
      hidden_dim: width of RouterDC's MLP head (``None``: the feature width, the paper's
        predictor). 128 is ~3x cheaper on CPU and reached the same held-out BCE as 384 on
        MiniLM features (leave-ARC-Challenge-out: 0.535 vs 0.538).
      dropout: dropout of the MLP head while training.
      calibration_fraction: share of the training table held out for ``-train`` calibration.
      inference_cost: router compute charged per request (cost units).
      training_cost: router compute charged per example and gradient step (cost units).
    """

    steps: int = 100
    learning_rate: float = 1e-2
    weight_decay: float = 1e-4
    hidden_dim: int | None = 128
    dropout: float = 0.1
    calibration_fraction: float = 0.2
    inference_cost: float = 0.0
    training_cost: float = 0.0


def calibration_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit rows, calibration rows)`` of a training table, sorted; the rule of
    :func:`messjax.data.train_test_split` (the first ``round(fraction n)`` rows of
    ``permutation(n, seed)`` are held out)."""
    n_cal = min(max(round(fraction * n), 1), n - 1)
    perm = permutation(n, int(seed))
    return np.sort(perm[n_cal:]), np.sort(perm[:n_cal])


@functools.partial(jax.jit, static_argnames=("config", "steps"))
def _fit(x, y, x_val, y_val, key, learning_rate, weight_decay, *, config: EngineConfig, steps: int):
    params, _ = init_predictor(key, config)
    opt = optax.adamw(learning_rate, weight_decay=weight_decay)
    grad = jax.grad(bce_loss)
    best = (params, bce_loss(params, x_val, y_val, None, config), jnp.zeros((), jnp.int32))

    def body(carry, i):
        p, s, best = carry
        g = grad(p, x, y, jax.random.fold_in(key, i + 1), config)
        updates, s = opt.update(g, s, p)
        p = optax.apply_updates(p, updates)
        loss = bce_loss(p, x_val, y_val, None, config)
        better = loss < best[1]
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), (p, loss, i + 1), best)
        return (p, s, best), None

    (_, _, best), _ = jax.lax.scan(body, (params, opt.init(params), best), jnp.arange(steps))
    return best


def fit_router(x, y, x_val, y_val, config: EngineConfig, key: jax.Array, training: RouterTraining):
    """The head ``config`` fitted to multi-label targets ``y [N, K]`` on embeddings
    ``x [N, d]`` by ``steps`` full-batch AdamW steps on the mean BCE, early-stopped: the
    parameters after the step with the lowest BCE on ``(x_val, y_val)``.

    Returns ``(params, validation BCE, best step)``.
    """
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    params, loss, step = _fit(
        f32(x),
        f32(y),
        f32(x_val),
        f32(y_val),
        key,
        training.learning_rate,
        training.weight_decay,
        config=config,
        steps=training.steps,
    )
    return params, float(loss), int(step)


@functools.partial(jax.jit, static_argnames=("config",))
def router_scores(params, x, config: EngineConfig) -> jax.Array:
    """``sigmoid(head(x))``, ``[N, K]``."""
    return jax.nn.sigmoid(predict_logits(params, x, config))


def route_binary(score: jax.Array, tau) -> jax.Array:
    """RouteLLM: the largest model (index -1 encoded as 1) when ``score >= tau``, else the
    cheapest (0). Returns 0/1; :func:`threshold_curve` maps 1 to model M-1."""
    return (score >= tau).astype(jnp.int32)


def route_cascade(probs: jax.Array, tau) -> jax.Array:
    """RouterDC rule: the cheapest model with ``probs[m] >= tau``, else the largest."""
    ok = probs >= tau
    M = probs.shape[-1]
    return jnp.where(ok.any(-1), jnp.argmax(ok, -1), M - 1).astype(jnp.int32)


RULES = {"binary": route_binary, "cascade": route_cascade}


def route(rule: str, scores, tau, num_models: int) -> np.ndarray:
    """Model index per request of a threshold rule (``binary``: cheapest vs largest)."""
    m = np.asarray(RULES[rule](jnp.asarray(scores), tau))
    return np.where(m == 1, num_models - 1, 0) if rule == "binary" else m


@functools.partial(jax.jit, static_argnames=("rule",))
def _curve(scores, thresholds, labels, costs, rule: str):
    M = labels.shape[-1]
    rows = jnp.arange(labels.shape[0])

    def one(tau):
        m = RULES[rule](scores, tau)
        m = jnp.where(m == 1, M - 1, 0) if rule == "binary" else m
        return costs[rows, m].sum(), labels[rows, m].sum()

    return jax.lax.map(one, thresholds, batch_size=64)


def candidate_thresholds(scores) -> np.ndarray:
    """Every threshold that gives a distinct routing: the distinct scores, and +inf."""
    return np.concatenate([np.unique(np.asarray(scores, np.float32)), [np.inf]]).astype(np.float32)


def threshold_curve(rule: str, scores, thresholds, labels, costs) -> tuple[np.ndarray, np.ndarray]:
    """``(total cost [K], final satisfaction [K])`` of the rule at each threshold."""
    thresholds = np.asarray(thresholds, np.float32)
    K = len(thresholds)
    pad = max(64, 1 << int(np.ceil(np.log2(max(K, 1))))) - K  # few compiled shapes
    th = np.concatenate([thresholds, np.full(pad, np.inf, np.float32)])
    cost, sat = _curve(
        jnp.asarray(scores, jnp.float32),
        jnp.asarray(th),
        jnp.asarray(labels, jnp.float32),
        jnp.asarray(costs, jnp.float32),
        rule,
    )
    return np.asarray(cost, np.float64)[:K], np.asarray(sat, np.float64)[:K] / len(labels)


def pick_threshold(thresholds, cost, satisfaction, alpha: float) -> tuple[float, bool]:
    """The cheapest threshold whose final satisfaction meets alpha (first on cost ties); if
    none does, the one with the highest satisfaction (cheapest among those). Returns
    ``(threshold, feasible)``."""
    cost, sat = np.asarray(cost), np.asarray(satisfaction)
    ok = sat >= alpha - 1e-9
    if ok.any():
        return float(thresholds[np.argmin(np.where(ok, cost, np.inf))]), True
    i = np.lexsort((cost, -sat))[0]
    return float(thresholds[i]), False


def calibrate(rule: str, scores, labels, costs, alpha: float) -> tuple[float, bool]:
    """:func:`pick_threshold` over every distinct threshold on (scores, labels, costs)."""
    th = candidate_thresholds(scores)
    cost, sat = threshold_curve(rule, scores, th, labels, costs)
    return pick_threshold(th, cost, sat, alpha)


#: The two trained routers: (rule, head, target labels from s[:, :]).
ROUTERS = {
    "routellm": ("binary", "linear", lambda s: (1 - s[:, :1]) * s[:, -1:]),
    "routerdc": ("cascade", "mlp", lambda s: s),
}


def trained_router(
    kind: str,
    test: RoutingTable,
    x_test,
    train: RoutingTable,
    x_train,
    alpha: float,
    seeds,
    *,
    orders=None,
    training: RouterTraining = RouterTraining(),
) -> dict[str, MethodResult]:
    """The rows of one trained router (``kind`` in :data:`ROUTERS`) on ``test``.

    ``routellm``: ``routellm-hindsight`` and ``routellm-train`` (a per-alpha threshold).
    ``routerdc``: ``routerdc`` (argmax of the predicted satisfactions, the same routing for
    every alpha, as in the paper) and ``routerdc-alpha-hindsight`` / ``routerdc-alpha-train``
    (a per-alpha threshold of the cascade rule).

    Per seed: the training table is split (seed) into a fit part and a held-out calibration
    part; the head is fitted on the fit part from ``PRNGKey(seed)``; a threshold is calibrated
    on the test stream (hindsight) or on the calibration part (train).
    """
    if kind not in ROUTERS:
        raise ConfigError("router", f"unknown router {kind!r}; choose from {list(ROUTERS)}")
    rule, head, target = ROUTERS[kind]
    x_test, x_train = np.asarray(x_test, np.float32), np.asarray(x_train, np.float32)
    M = test.num_models
    K = 1 if rule == "binary" else M
    config = EngineConfig(
        num_models=K,
        feature_dim=x_train.shape[1],
        head=head,
        hidden_dim=training.hidden_dim,
        dropout=training.dropout,
    )
    order = _orders(len(test), seeds, orders)
    served = {"hindsight": [], "train": []}
    thresholds = {"hindsight": [], "train": []}
    feasible = {"hindsight": [], "train": []}
    argmax_served = []
    steps = []
    for seed in seeds:
        fit_idx, cal_idx = calibration_split(len(train), training.calibration_fraction, seed)
        y = target(train.labels)
        params, _, step = fit_router(
            x_train[fit_idx],
            y[fit_idx],
            x_train[cal_idx],
            y[cal_idx],
            config,
            jax.random.PRNGKey(int(seed)),
            training,
        )
        steps.append(step)
        squeeze = (lambda a: a[:, 0]) if rule == "binary" else (lambda a: a)
        score_test = squeeze(np.asarray(router_scores(params, x_test, config)))
        score_cal = squeeze(np.asarray(router_scores(params, x_train[cal_idx], config)))
        if rule == "cascade":  # first maximum: ties go to the cheaper model
            argmax_served.append(np.argmax(score_test, -1))
        for how, (sc, lab, cst) in {
            "hindsight": (score_test, test.labels, test.costs),
            "train": (score_cal, train.labels[cal_idx], train.costs[cal_idx]),
        }.items():
            tau, ok = calibrate(rule, sc, lab, cst, alpha)
            served[how].append(route(rule, score_test, tau, M))
            thresholds[how].append(tau)
            feasible[how].append(ok)
    n_fit = len(train) - round(training.calibration_fraction * len(train))
    train_charge = training.training_cost * training.steps * n_fit / len(test)
    extra_cost = training.inference_cost + train_charge
    out = {}
    if argmax_served:
        out[kind] = MethodResult(
            kind,
            alpha,
            np.asarray(seeds),
            _stream_summary(
                np.stack(argmax_served), test.labels, test.costs, alpha, order, extra_cost
            ),
            info=dict(best_step=np.asarray(steps)),
        )
    prefix = f"{kind}-alpha" if rule == "cascade" else kind
    for how in ("hindsight", "train"):
        summary = _stream_summary(
            np.stack(served[how]), test.labels, test.costs, alpha, order, extra_cost
        )
        out[f"{prefix}-{how}"] = MethodResult(
            f"{prefix}-{how}",
            alpha,
            np.asarray(seeds),
            summary,
            hindsight=how == "hindsight",
            info=dict(
                threshold=np.asarray(thresholds[how]),
                feasible=np.asarray(feasible[how]),
                best_step=np.asarray(steps),
            ),
        )
    return out


# ------------------------------------------------------------------------------ all baselines
def run_baselines(
    test: RoutingTable,
    alpha: float,
    seeds: Sequence[int],
    *,
    x_test=None,
    train: RoutingTable | None = None,
    x_train=None,
    orders: Mapping[int, np.ndarray] | None = None,
    training: RouterTraining = RouterTraining(),
    routers: Sequence[str] = ("routellm", "routerdc"),
) -> dict[str, MethodResult]:
    """Every baseline on the stream ``test`` (each seed shuffles it, as MESS+'s sweep does).

    The trained routers need ``x_test``, ``train`` and ``x_train`` (skipped when ``train`` is
    None). ``orders`` overrides the per-seed arrival order (e.g. a chain of tasks).
    """
    seeds = np.asarray(seeds, np.int64)
    labels, costs = test.labels, test.costs
    out: dict[str, MethodResult] = {}
    for m, name in enumerate(test.models):
        out[f"single-{name}"] = MethodResult(
            f"single-{name}",
            alpha,
            seeds,
            single_model(labels, costs, m, alpha, seeds, orders=orders, inference_cost=0.0),
        )
    summary, info = educated_guess(labels, costs, alpha, seeds, orders=orders)
    out["educated-guess"] = MethodResult("educated-guess", alpha, seeds, summary, True, info)
    summary, info = cheapest_mixture(labels, costs, alpha, seeds, orders=orders)
    out["mixture-lp"] = MethodResult("mixture-lp", alpha, seeds, summary, True, info)
    summary, info = oracle(labels, costs, alpha, seeds, orders=orders)
    out["oracle"] = MethodResult("oracle", alpha, seeds, summary, True, info)
    if train is not None:
        for kind in routers:
            out.update(
                trained_router(
                    kind,
                    test,
                    x_test,
                    train,
                    x_train,
                    alpha,
                    seeds,
                    orders=orders,
                    training=training,
                )
            )
    return out
