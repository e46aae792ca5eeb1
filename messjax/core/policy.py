"""The ``messjax`` routing policy: messjax's own router, beyond the paper (issue 11).

MESS+ (``messjax/core/step.py``) learns from ~20-60 explorations per stream, starts its queue at
0, clips surplus away and queries every model on each exploration. ``messjax`` keeps the
drift-plus-penalty argmin but changes what feeds it:

* it learns from **every observed label** (the served model's outcome, and the one extra model
  queried on an exploration): per-model Beta posteriors of the base rate plus a per-request
  linear residual on the embedding, trained online with a masked BCE;
* the argmin uses a **Thompson draw** of the base rates (exploration by serving);
* the queue is a **signed deficit** (surplus satisfaction is credit, not thrown away) started
  at a small **margin**, and its price is unit-free (costs relative to the dearest model);
* an exploration queries **one extra model** (the one whose base rate is least certain), and
  every query is charged;
* with sparse feedback the deficit uses a **pessimistic imputation** of the served model's
  satisfaction (posterior mean minus ``impute_z`` posterior std) on requests without feedback.

Notation (request t = 1, 2, ...; models m = 0..M-1 cheapest first; all per episode):

State (:class:`PolicyState`), initial values in brackets:
  ``n[m]``   pseudo-count of labels of model m              [prior]
  ``k[m]``   pseudo-count of successes of model m           [prior * alpha]
  ``W[m,:]`` residual weights, ``[M, d]``                   [0]
  ``cost_sum[m], cost_count[m]`` observed costs of model m   [0, 0]
  ``deficit`` D, signed                                      [margin]
  ``realised_deficit`` D*, sum_t (alpha - s_t), monitoring    [0]
  ``t`` requests processed [0], ``key`` the episode key.

Decide (request t, embedding x), :func:`decide`:
  1. randomness: ``(u_explore, u_feedback, k_t) = request_randomness(key, t)`` (the paper
     step's, so the feedback coins equal MESS+'s); ``k_ts = fold_in(k_t, 1)``.
  2. base rates: posterior mean ``p = k / n``; Thompson draw
     ``theta = clip(Beta(k_ts; k / tau^2, (n - k) / tau^2), eps, 1 - eps)`` with
     ``tau^2 = max(ts_temp, 1e-6)^2``, ``eps = 1e-6`` (``thompson.beta(k_ts, a, b,
     dtype=float_dtype())``: Marsaglia-Tsang with 16 proposals, bounded time, see
     :mod:`messjax.core.thompson`, where ``jax.random.beta`` can loop forever; shape [M]);
     with ``ts_temp = 0`` theta = clip(p) (no draw used).
  3. predicted satisfaction ``s_hat[m] = sigmoid(logit(theta[m]) + W[m] . x)``.
  4. cost estimate ``E_hat[m] = cost_sum[m] / cost_count[m]`` where ``cost_count[m] > 0``,
     else ``max`` of the known ones (1 if none); relative
     ``E_rel = E_hat / max(max_m E_hat, tiny)``.
  5. price ``lambda = min(max(0, D) / V, cap)`` (V in relative-cost units; no unit
     dependence). The cap is ``price_cap`` (``inf``, the default: unbounded), lowered to
     ``min(price_cap, infeasible_cap)`` on a request where the target looks **out of
     reach**: the dearest model (largest ``E_hat``, first on ties) has at least
     ``infeasible_min_labels`` labels (``n - prior``) and every model's draw
     ``p + infeasible_z * (theta - p)`` (the Thompson draw of step 2 itself when z = 1) is
     below alpha. A deficit no model can repay then stops raising the price (the router does
     not escalate to the dearest model for a target none reaches). The test is drawn afresh
     on every request, so a model whose posterior still gives it a chance of reaching alpha
     frees the price on that share of requests and is asked again: a model ruled out by an
     unlucky start is re-examined, one truly below alpha seldom is. Only the dearest model
     needs the labels, because the held price still lets the cheaper ones serve (and be
     examined); the dearest one it stops paying for. ``infeasible_cap = inf`` (the default)
     turns this hold off: it bets that later requests will repay the deficit more cheaply,
     and loses the SLA when they cannot (see the README).
  6. served model ``m* = argmin_m E_rel[m] - lambda * s_hat[m]``, first index on ties.
  7. queries: on t = 1 every model is queried (``boot``: bootstrap of the costs and one label
     each), unless every model's cost is already known (a warm start); otherwise with
     ``explore = u_explore < min(1, c / t^(1/4))`` (reported as True on a bootstrap whatever
     the coin) one extra model ``e = argmax_{m != m*} p[m] (1 - p[m]) / n[m]`` (first index
     on ties) is queried too. ``boot = (t == 1) & any(cost_count == 0)``;
     ``queried = onehot(m*) | explore * onehot(e) | boot``; ``feedback = u_feedback < f``.

Observe (labels y[M], costs E[M]), :func:`observe`:
  8. served satisfaction ``s = y[m*]``; charged cost ``sum_m queried[m] E[m] +
     inference_cost``.
  9. deficit: ``D <- D + alpha - s`` with feedback, else
     ``D <- D + alpha - (p[m*] - impute_z * sqrt(p[m*] (1 - p[m*]) / n[m*]))`` (p, n before
     this request's update); ``D* <- D* + alpha - s`` always.
  10. residual: with ``r = sigmoid(logit(clip(p, eps, 1 - eps)) + W x)`` (posterior mean,
      not the draw) and
      ``obs = queried & feedback``: ``W <- W - lr * (obs * (r - y)) x^T - lr * l2 * W``.
  11. posteriors: ``n <- n + obs``, ``k <- k + obs * y``; costs: ``cost_sum += queried * E``,
      ``cost_count += queried`` (costs are seen whether or not satisfaction feedback comes).

Warm start (:func:`warm_start`, optional, before request 1): labelled history every model
answered (a training split of the stream, a router's own logs) is counted into ``n``, ``k`` and
the cost sums once, and the residual takes ``WARM_EPOCHS`` passes over it at the resulting base
rates; ``D``, ``D*`` and ``t`` stay as in a cold start. ``messjax evaluate`` warm-starts on
split streams; :meth:`messjax.router.Router.warm_start` does it for a live router.

Hyperparameters: from :class:`~messjax.core.types.Hyperparams` ``alpha``, ``V``, ``c``,
``learning_rate`` (= lr of the residual), ``feedback_rate`` (= f), ``inference_cost``; the
policy's own leaves in :class:`PolicyParams` (prior, ts_temp, margin, impute_z, l2,
price_cap, infeasible_cap, infeasible_z, infeasible_min_labels). Every
leaf is an array, so ``jax.vmap`` runs grids of them. The defaults (:data:`DEFAULT_HPARAMS`,
:func:`default_policy_params`) are ONE setting for every task and zoo, chosen on the Llama zoo
(see experiments/messjax_policy_dev.py and the README's ablation).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from messjax.core import thompson
from messjax.core.episode import Stream, Summary, Totals, scan_stream
from messjax.core.step import explore_prob, request_randomness
from messjax.core.sweep import chunk_bounds, concat_cells
from messjax.core.types import (
    Hyperparams,
    check_policy_params,
    float_dtype,
    make_hparams,
    seed_array,
)

#: passes of the residual over a warm start's history (:func:`warm_start`)
WARM_EPOCHS = 3
#: clip of the Thompson draws before the logit
THETA_EPS = 1e-6
#: the out-of-reach hold's rule (step 5), saved with router checkpoints: those saved under the
#: earlier rule (every model judged on ``infeasible_min_labels`` labels, ``p + z std < alpha``)
#: say so when restored with the hold on
HOLD_RULE = "per-request draw, dearest model judged"
#: messjax's settings of the shared hyperparameters (V unit-free; lr of the residual head)
DEFAULT_HPARAMS = dict(V=1.0, c=0.05, learning_rate=0.2, relative_V=1)


@struct.dataclass
class PolicyParams:
    """The policy's own (vmappable) hyperparameters.

    Attributes:
      prior: strength of the Beta prior on each base rate (pseudo-labels), centred on alpha:
        an untried model is presumed just good enough, so models are escalated cheapest first.
      ts_temp: scale of the Thompson draws' posterior std (1 = the posterior, 0 = its mean).
      margin: initial deficit in requests (a safety margin on the final satisfaction).
      impute_z: without feedback the deficit counts p - impute_z * std(p) of the served model.
      l2: weight decay of the residual head (per request).
      price_cap: upper bound of the price lambda (inf = unbounded): a large deficit then buys
        satisfaction only up to ``price_cap`` relative-cost units per unit of satisfaction.
      infeasible_cap: the price's bound while the target looks out of reach (inf, the
        default, = never held; see step 5 of the module docstring).
      infeasible_z: spread of that test's draw around the posterior mean, ``p + z (theta -
        p)`` (1 = the Thompson draw of the argmin, 0 = the posterior mean: no re-examination;
        with ``ts_temp = 0`` theta is the mean, so z has no effect).
      infeasible_min_labels: labels the dearest model needs before the target can be judged
        out of reach (a model after a few unlucky labels is never ruled out).
    """

    prior: jax.Array
    ts_temp: jax.Array
    margin: jax.Array
    impute_z: jax.Array
    l2: jax.Array
    price_cap: jax.Array
    infeasible_cap: jax.Array
    infeasible_z: jax.Array
    infeasible_min_labels: jax.Array


POLICY_PARAM_NAMES = (
    "prior",
    "ts_temp",
    "margin",
    "impute_z",
    "l2",
    "price_cap",
    "infeasible_cap",
    "infeasible_z",
    "infeasible_min_labels",
)
DEFAULT_POLICY = dict(
    prior=2.0,
    ts_temp=0.5,
    margin=3.0,
    impute_z=1.0,
    l2=1e-3,
    price_cap=float("inf"),
    infeasible_cap=float("inf"),
    infeasible_z=1.0,
    infeasible_min_labels=100.0,
)


def default_policy_params(*, validate: bool = True, **overrides: Any) -> PolicyParams:
    """:class:`PolicyParams` with the defaults, any leaf overridden (scalars or arrays);
    values are checked by :func:`check_policy_params` (``validate=False``: as given, for
    values restored from a checkpoint)."""
    values = {**DEFAULT_POLICY, **overrides}
    unknown = set(values) - set(POLICY_PARAM_NAMES)
    if unknown:
        raise ValueError(f"unknown messjax policy parameters: {sorted(unknown)}")
    if validate:
        check_policy_params(overrides)
    fdt = float_dtype()
    return PolicyParams(**{k: jnp.asarray(values[k], fdt) for k in POLICY_PARAM_NAMES})


def default_hparams(**overrides: Any) -> Hyperparams:
    """:class:`Hyperparams` with messjax's defaults (:data:`DEFAULT_HPARAMS`)."""
    return make_hparams(**{**DEFAULT_HPARAMS, **overrides})


@struct.dataclass
class PolicyState:
    """Everything the messjax policy carries from one request to the next (see module doc)."""

    n: jax.Array  # [M]
    k: jax.Array  # [M]
    W: jax.Array  # [M, d]
    cost_sum: jax.Array  # [M]
    cost_count: jax.Array  # [M]
    deficit: jax.Array  # D, signed
    realised_deficit: jax.Array  # D*
    t: jax.Array
    key: jax.Array


@struct.dataclass
class PolicyDecision:
    """What :func:`decide` chose for one request."""

    model: jax.Array  # int32 m*, whose answer is served
    queried: jax.Array  # [M] bool, models run (and paid for)
    explore: jax.Array  # bool: an extra model is queried (or t = 1)
    feedback: jax.Array  # bool
    s_hat: jax.Array  # [M] (Thompson draw + residual) used by the argmin
    price: jax.Array  # lambda
    posterior_mean: jax.Array  # [M] p = k / n before the update
    cost_estimate: jax.Array  # [M] E_hat used by the argmin


@struct.dataclass
class PolicyOutput:
    """Per-request outcome."""

    model: jax.Array
    queried: jax.Array
    explore: jax.Array
    feedback: jax.Array
    satisfaction: jax.Array
    cost: jax.Array
    deficit: jax.Array
    realised_deficit: jax.Array


def init_policy(
    key: jax.Array, num_models: int, feature_dim: int, hp: Hyperparams, pp: PolicyParams
) -> PolicyState:
    dt = float_dtype()
    M = num_models
    return PolicyState(
        n=jnp.full((M,), pp.prior, dt),
        k=jnp.full((M,), pp.prior * hp.alpha, dt),
        W=jnp.zeros((M, feature_dim), dt),
        cost_sum=jnp.zeros((M,), dt),
        cost_count=jnp.zeros((M,), dt),
        deficit=jnp.asarray(pp.margin, dt),
        realised_deficit=jnp.zeros((), dt),
        t=jnp.zeros((), jnp.int32),
        key=key,
    )


def _logit(p):
    return jnp.log(p) - jnp.log1p(-p)


def cost_estimate(state: PolicyState) -> jax.Array:
    """E_hat: mean observed cost per model; unseen models get the dearest known mean."""
    known = state.cost_count > 0
    mean = state.cost_sum / jnp.maximum(state.cost_count, 1.0)
    dearest = jnp.where(jnp.any(known), jnp.max(jnp.where(known, mean, -jnp.inf)), 1.0)
    return jnp.where(known, mean, dearest)


def price_bound(
    state: PolicyState,
    p: jax.Array,
    theta: jax.Array,
    E_hat: jax.Array,
    hp: Hyperparams,
    pp: PolicyParams,
) -> jax.Array:
    """The price's cap (step 5): ``price_cap``, lowered to ``infeasible_cap`` on a request
    whose draws say the target is out of reach: the dearest model (``argmax E_hat``) has
    enough labels and every draw ``p + z (theta - p)`` is below alpha."""
    judged = state.n[jnp.argmax(E_hat)] - pp.prior >= pp.infeasible_min_labels
    out_of_reach = judged & jnp.all(p + pp.infeasible_z * (theta - p) < hp.alpha)
    return jnp.where(out_of_reach, jnp.minimum(pp.price_cap, pp.infeasible_cap), pp.price_cap)


def decide(
    state: PolicyState, x: jax.Array, hp: Hyperparams, pp: PolicyParams, t=None
) -> PolicyDecision:
    """Steps 1-7 of the module docstring.

    ``t`` is the request's number (default ``state.t + 1``, the next one in an episode); the
    live router passes its own numbering, which runs ahead of ``state.t`` while requests are
    in flight, so the coins stay ``fold_in(key, t)`` of routing order.
    """
    dt = float_dtype()
    M = state.n.shape[0]
    t = state.t + 1 if t is None else jnp.asarray(t, jnp.int32)
    u_explore, u_feedback, k_t = request_randomness(state.key, t)
    k_ts = jax.random.fold_in(k_t, 1)
    p = state.k / state.n
    tau2 = jnp.maximum(pp.ts_temp, 1e-6) ** 2
    draw = thompson.beta(k_ts, state.k / tau2, (state.n - state.k) / tau2, dtype=dt)
    theta = jnp.where(pp.ts_temp > 0, draw, p)
    theta = jnp.clip(theta, THETA_EPS, 1.0 - THETA_EPS)
    s_hat = jax.nn.sigmoid(_logit(theta) + state.W @ x)
    E_hat = cost_estimate(state)
    E_rel = E_hat / jnp.maximum(jnp.max(E_hat), jnp.finfo(dt).tiny)
    bound = price_bound(state, p, theta, E_hat, hp, pp)
    price = jnp.minimum(jnp.maximum(state.deficit, 0.0) / hp.V, bound)
    model = jnp.argmin(E_rel - price * s_hat).astype(jnp.int32)
    served = jnp.arange(M) == model
    uncertainty = jnp.where(served, -1.0, p * (1.0 - p) / state.n)
    extra = jnp.argmax(uncertainty)
    boot = (t == 1) & jnp.any(state.cost_count == 0)
    explore = (u_explore < explore_prob(t, hp.c)) | boot
    queried = served | (explore & (jnp.arange(M) == extra)) | boot
    return PolicyDecision(
        model=model,
        queried=queried,
        explore=explore,
        feedback=u_feedback < hp.feedback_rate,
        s_hat=s_hat,
        price=price,
        posterior_mean=p,
        cost_estimate=E_hat,
    )


def residual_step(W, p, x, labels, obs, lr, l2):
    """Step 10: one SGD step of the residual on the observed labels (decay on every call)."""
    r = jax.nn.sigmoid(_logit(jnp.clip(p, THETA_EPS, 1 - THETA_EPS)) + W @ x)
    g = jnp.where(obs, r - labels, 0.0)
    return W - lr * (jnp.outer(g, x) + l2 * W)


def warm_start(
    state: PolicyState,
    x: jax.Array,
    labels: jax.Array,
    costs: jax.Array,
    mask: jax.Array,
    hp: Hyperparams,
    pp: PolicyParams,
    epochs: int = WARM_EPOCHS,
    rows=None,
) -> PolicyState:
    """Start from labelled history answered by every model (a training split of the stream).

    Rows ``x [N, d]``, ``labels [N, M]``, ``costs [N, M]`` with ``mask [N]`` (False = padding):
    the labels and costs are counted once (``n += 1``, ``k += y``, ``cost_sum += E``,
    ``cost_count += 1`` per row and model), then the residual takes ``epochs`` passes of
    :func:`residual_step` over the rows in order, every model observed, at the base rates
    ``p = k / n`` after the counts. The deficits and ``t`` are untouched: history counts
    toward no SLA, and the coins of request t stay those of a cold start. With ``rows``
    (indices) the history is those rows of the arrays, gathered one at a time inside the scan
    (a vmapped grid never copies the embeddings per cell).
    """
    x, labels, costs, mask = (jnp.asarray(a) for a in (x, labels, costs, mask))
    rows = jnp.arange(x.shape[0]) if rows is None else rows
    w = mask[rows].astype(state.n.dtype)
    n = state.n + jnp.sum(w)
    k = state.k + w @ labels[rows]
    p = k / n
    every = jnp.ones(labels.shape[1], bool)

    def one(W, i):
        W_new = residual_step(W, p, x[i], labels[i], every, hp.learning_rate, pp.l2)
        return jnp.where(mask[i], W_new, W), None

    W, _ = jax.lax.scan(one, state.W, jnp.tile(rows, epochs))
    return state.replace(
        n=n,
        k=k,
        W=W,
        cost_sum=state.cost_sum + w @ costs[rows],
        cost_count=state.cost_count + jnp.sum(w),
    )


def observe(
    state: PolicyState,
    decision: PolicyDecision,
    x: jax.Array,
    labels: jax.Array,
    costs: jax.Array,
    hp: Hyperparams,
    pp: PolicyParams,
) -> tuple[PolicyState, PolicyOutput]:
    """Steps 8-11 of the module docstring."""
    m, queried, feedback = decision.model, decision.queried, decision.feedback
    s = labels[m]
    cost = jnp.sum(jnp.where(queried, costs, 0.0)) + hp.inference_cost
    p = state.k / state.n
    imputed = p[m] - pp.impute_z * jnp.sqrt(p[m] * (1.0 - p[m]) / state.n[m])
    deficit = state.deficit + hp.alpha - jnp.where(feedback, s, imputed)
    obs = queried & feedback
    W = residual_step(state.W, p, x, labels, obs, hp.learning_rate, pp.l2)
    new = PolicyState(
        n=state.n + obs,
        k=state.k + jnp.where(obs, labels, 0.0),
        W=W,
        cost_sum=state.cost_sum + jnp.where(queried, costs, 0.0),
        cost_count=state.cost_count + queried,
        deficit=deficit,
        realised_deficit=state.realised_deficit + hp.alpha - s,
        t=state.t + 1,
        key=state.key,
    )
    out = PolicyOutput(
        model=m,
        queried=queried,
        explore=decision.explore,
        feedback=feedback,
        satisfaction=s,
        cost=cost,
        deficit=deficit,
        realised_deficit=new.realised_deficit,
    )
    return new, out


def step(state: PolicyState, x, labels, costs, hp: Hyperparams, pp: PolicyParams):
    """One request: :func:`decide` then :func:`observe`."""
    decision = decide(state, x, hp, pp)
    return observe(state, decision, x, labels, costs, hp, pp)


def add_totals(totals: Totals, out: PolicyOutput, alpha) -> Totals:
    """Fold one request in; the decision queue is the signed deficit D, the ideal one D*."""
    return totals.add(
        model=out.model,
        queried=out.queried,
        explore=out.explore,
        feedback=out.feedback,
        satisfaction=out.satisfaction,
        cost=out.cost,
        queue=out.deficit,
        ideal_queue=out.realised_deficit,
        alpha=alpha,
    )


def run_indexed(
    x,
    labels,
    costs,
    mask,
    order,
    hp: Hyperparams,
    pp: PolicyParams,
    key,
    trace_every: int = 0,
    warm_order=None,
):
    """The messjax policy over the rows ``order`` of a table (generic ``lax.scan``).

    Request t is row ``order[t]`` of ``x``, ``labels``, ``costs``; rows whose ``mask`` is False
    (padding) leave the state untouched. Rows are gathered inside the scan, so a vmapped grid
    never materialises a [cells, T, d] copy of the embeddings. ``warm_order`` (optional): rows
    of the same arrays the policy starts from (:func:`warm_start`; padding masked). Returns
    ``(Summary, trace)`` like :func:`messjax.core.episode.run_episode`; ``final_queue`` is the
    signed deficit D and ``final_ideal_queue`` the realised deficit D*.
    """
    M, d = labels.shape[1], x.shape[1]

    def body(carry, row):
        state, totals = carry
        state, out = step(state, x[row], labels[row], costs[row], hp, pp)
        return (state, add_totals(totals, out, hp.alpha)), None

    state = init_policy(key, M, d, hp, pp)
    if warm_order is not None:
        state = warm_start(state, x, labels, costs, mask, hp, pp, rows=warm_order)
    carry = (state, Totals.zeros(M))
    (_, totals), trace = scan_stream(body, carry, order, mask[order], trace_every)
    trace = None if trace is None else trace[1]
    return Summary.from_totals(totals, hp.alpha), trace


def run_episode(stream: Stream, hp: Hyperparams, pp: PolicyParams, key, trace_every: int = 0):
    """The messjax policy over one stream in arrival order (see :func:`run_indexed`)."""
    order = jnp.arange(stream.x.shape[0])
    return run_indexed(
        stream.x, stream.labels, stream.costs, stream.mask, order, hp, pp, key, trace_every
    )


@functools.partial(jax.jit, static_argnames=("trace_every",))
def _batch(x, labels, costs, mask, orders, hp, pp, keys, trace_every=0, warm_orders=None):
    def one(order, hp, pp, key, warm_order):
        return run_indexed(x, labels, costs, mask, order, hp, pp, key, trace_every, warm_order)

    return jax.vmap(one)(orders, hp, pp, keys, warm_orders)


def run_cells(
    streams,
    cells: list[dict[str, Any]],
    *,
    trace_every: int = 0,
    chunk_size: int = 2048,
):
    """Run the messjax policy on many (stream, seed, order, hyperparameters) cells at once.

    Args:
      streams: list of ``(x [T_i, d], labels [T_i, M], costs [T_i, M])``, or of
        ``(x, labels, costs, (x_w, labels_w, costs_w))`` whose last item is labelled history
        every cell of that stream starts from (:func:`warm_start`: a training split).
      cells: dicts with ``stream`` (index), ``seed``, ``order`` (a permutation of that
        stream's rows), ``hp`` (:class:`Hyperparams` of scalars) and ``pp``
        (:class:`PolicyParams` of scalars).

    All cells share one jitted, vmapped call per chunk (streams stacked and padded with masked
    rows), so a cell's numbers do not depend on what else runs beside it. Returns the
    :class:`Summary` with a leading axis over cells (NumPy), and the trace if asked.
    """
    fdt = float_dtype()
    lengths = [np.asarray(s[0]).shape[0] for s in streams]
    warms = [s[3] if len(s) > 3 and s[3] is not None else None for s in streams]
    warm_lengths = [0 if w is None else np.asarray(w[0]).shape[0] for w in warms]
    # rows: each stream's requests, then every stream's warm-start history, then one pad row
    offsets = np.cumsum([0, *lengths[:-1]])
    warm_offsets = sum(lengths) + np.cumsum([0, *warm_lengths[:-1]])
    pad_row = int(sum(lengths) + sum(warm_lengths))
    T = max(lengths)
    if trace_every > 0:
        T = -(-T // trace_every) * trace_every

    def stack(i):
        rows = [np.asarray(s[i]) for s in streams]
        rows += [np.asarray(w[i]) for w in warms if w is not None]
        return jnp.asarray(np.concatenate([*rows, np.zeros((1, *rows[0].shape[1:]))]), fdt)

    x, labels, costs = stack(0), stack(1), stack(2)
    mask = jnp.asarray(np.arange(pad_row + 1) < pad_row)
    warm_orders = None
    if any(warm_lengths):
        W_len = max(warm_lengths)
        warm_orders = np.stack(
            [
                np.concatenate(
                    [
                        warm_offsets[c["stream"]] + np.arange(warm_lengths[c["stream"]]),
                        np.full(W_len - warm_lengths[c["stream"]], pad_row),
                    ]
                )
                for c in cells
            ]
        )
    orders = np.stack(
        [
            np.concatenate(
                [
                    offsets[c["stream"]] + np.asarray(c["order"]),
                    np.full(T - lengths[c["stream"]], pad_row),
                ]
            )
            for c in cells
        ]
    )
    hp = jax.tree.map(lambda *a: jnp.stack(a), *[c["hp"] for c in cells])
    pp = jax.tree.map(lambda *a: jnp.stack(a).astype(fdt), *[c["pp"] for c in cells])
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seed_array([c["seed"] for c in cells])))
    parts = []
    n = len(cells)
    for lo, hi in chunk_bounds(n, chunk_size):
        idx = np.arange(lo, hi)
        pad = (
            np.concatenate([idx, np.full(chunk_size - len(idx), idx[0])]) if n > chunk_size else idx
        )
        take = lambda a, pad=pad: a[pad]  # noqa: E731
        out = _batch(
            x,
            labels,
            costs,
            mask,
            jnp.asarray(orders[pad]),
            jax.tree.map(take, hp),
            jax.tree.map(take, pp),
            keys[pad],
            trace_every=trace_every,
            warm_orders=None if warm_orders is None else jnp.asarray(warm_orders[pad]),
        )
        keep = len(idx)
        parts.append(jax.tree.map(lambda a, keep=keep: np.asarray(a)[:keep], out))
    summary, trace = concat_cells(parts)
    return summary, (trace if trace_every > 0 else None)
