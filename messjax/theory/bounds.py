r"""The drift-plus-penalty guarantees of MESS+ with explicit constants, and slope fits.

MESSPLUS.md section 5 quotes the paper's theorems only as rates. This module derives them with
constants for the rule of section 2 (exploration coin, ``m* = argmin V E[m] + Q (alpha -
s_hat[m])``, ``Q <- max(0, Q + alpha - s_t)``) on a synthetic i.i.d. zoo whose optimal policy
is known exactly (:class:`messjax.theory.zoo.TypedZoo`,
:func:`messjax.lp.optimal_static_policy`); :mod:`messjax.theory.checks` measures every bound
with the engine.

Setting and assumptions
-----------------------
Requests are i.i.d. draws of a *type* ``k ~ pi`` (K types). Model ``m`` satisfies a request of
type ``k`` with probability ``P[k, m]`` and costs ``C[k, m]`` (known at decision time: the
``oracle`` cost estimator). Labels ``s in {0, 1}``. Write

- ``s_max = sum_k pi_k max_m P[k, m]`` (best attainable satisfaction), ``s_L`` the largest
  model's mean satisfaction (served on explorations), ``delta = s_max - alpha`` (slack);
- ``c*(beta)`` the optimal static cost at target ``beta`` (the LP of
  :func:`messjax.lp.optimal_static_policy`) and ``lambda(beta)`` its dual price (cost per unit of
  satisfaction); ``c* = c*(alpha)``, ``lambda* = lambda(alpha)``;
- ``E_sum = sum_k pi_k sum_m C[k, m]`` (an exploration's cost), ``dE = sum_k pi_k (C[k, b_k] -
  min_m C[k, m])`` with ``b_k`` the type's best model;
- ``eps`` the predictor's error ``E_k max_m |s_hat[k, m] - P[k, m]|`` (type-averaged; 0 for an
  exact predictor); ``N_T`` the number of explorations in T requests.

Assumptions: (A1) i.i.d. types; (A2) costs known and bounded; (A3) feasibility
``alpha <= s_max`` (slack ``delta > 0`` where stated); (A4) ``s_L >= alpha`` (explorations
do not hurt the queue); (A5) ``alpha + 2 eps <= s_max`` on every exploitation step.

Lyapunov drift (Theorem 0)
--------------------------
With ``L(Q) = Q^2 / 2`` and ``Q' = max(0, Q + alpha - s)``,
``Q'^2 <= (Q + alpha - s)^2``, so

    L(Q') - L(Q) <= B + Q (alpha - s),
    B = max_s (alpha - s)^2 / 2 = max(alpha, 1 - alpha)^2 / 2 <= 1/2.

Exploitation steps minimise ``V E[m] + Q (alpha - s_hat[m])``; comparing with any per-type
randomised policy ``w`` and using ``|s_hat - P| <= eps``::

    V cost_t + Q (alpha - E s_t) <= V c(w) + Q (alpha - s(w)) + 2 Q eps.        (DPP)

Theorem 1 (queue and time-average violation)
--------------------------------------------
Because ``Q_{t+1} >= Q_t + alpha - s_t``, ``sum_t (alpha - s_t) <= Q_T``: the time-average
violation ``(alpha - mean_t s_t)^+ <= Q_T / T``. Bounds on ``E[Q_T]``:

(1a) *generic* (:func:`violation_bound`): take ``w`` = each type's best model in (DPP). With
(A4, A5): ``E[dL] <= B + V dE``, so ``E[Q_T^2] <= 2 (B + V dE) T`` and

    E[Q_T] / T <= sqrt(2 (B + V dE) / T).

It needs no slack: at ``alpha = s_max`` the queue is a driftless reflected walk and the
``T^(-1/2)`` rate is attained (the check below measures slope -1/2 there).

(1b) *dual* (:func:`violation_bound_dual`): take ``w`` = the LP optimum at ``alpha + 2 eps``,
whose price ``lambda_eps`` gives ``c(w) - E cost_t <= lambda_eps (alpha + 2 eps - E s_t)`` for
any decision rule. Summing (DPP) over exploitation steps and (A4) over explorations,
``E[Q_T^2] / 2 <= B T + V lambda_eps (E[Q_T] + (s_L - alpha) E[N_T] + 2 eps T)``, hence

    E[Q_T] <= 2 V lambda_eps + sqrt(2 B T + 2 V lambda_eps ((s_L - alpha) E[N_T] + 2 eps T)),

the paper's ``O(V / T + 1 / sqrt(T))`` with constants ``2 lambda_eps`` and ``sqrt(2 B)``.

(1c) *maximum queue, high probability* (:func:`queue_bound`), with slack. Let ``s(lam)`` be
the satisfaction of the greedy policy ``argmin_m C[k, m] - lam P[k, m]`` (cheapest on ties;
nondecreasing in ``lam``). At queue ``Q`` an exploitation step is a ``2 lam eps``-approximate
minimiser at price ``lam = Q / V``; concavity of ``h(lam) = E_k min_m (C - lam P)`` gives
``E s_t >= s(beta lam) - 2 eps / (1 - beta)`` for every ``beta in [0, 1)``. So above
``theta = max(V lam0, 1 - alpha)`` each step is Bernoulli with mean at least

    p(lam0) = min(s_L, max_beta s(beta lam0) - 2 eps / (1 - beta)) > alpha,

and ``exp(eta Q_t)`` is a supermartingale there for the Lundberg exponent ``eta``
(``exp(eta alpha) (1 - p + p exp(-eta)) = 1``, :func:`lundberg_exponent`). An excursion above
``theta`` starts below ``theta + alpha`` and reaches ``x`` higher with probability at most
``exp(-eta x)``; with at most T excursions,

    P(max_t Q_t >= max(Q_start, theta + alpha) + log(T / fail_prob) / eta) <= fail_prob,

minimised over ``lam0``. ``Q_start`` is the largest queue of a warm-up (before (A5) holds),
0 for an exact predictor. The bound grows linearly in V with slope ~ ``lambda(alpha)``.
The ``eps`` route to ``p(lam0)`` is loose; all the argument needs is the router's
type-averaged satisfaction probability at prices ``>= lam0``, which
:func:`messjax.theory.checks.run_checks` measures from the engine's own predictor.

Theorem 2 (cost)
----------------
Summing (DPP) with ``w`` = the LP optimum at ``alpha + 2 eps`` on exploitation steps and
``E[dL] <= B`` with cost ``E_sum`` on explorations (:func:`cost_gap_bound`)::

    E[mean cost] - c* <= B / V + (E[N_T] / T) (E_sum - c*) + 2 eps lambda_chord,

``lambda_chord = (c*(s_max) - c*(alpha)) / (s_max - alpha)`` (convexity of ``c*``). With
``E[N_T] ~ (4/3) c T^(3/4)`` (:func:`expected_explorations`) and ``E_sum <= M E_max`` this is
the paper's ``O(M / T^(1/4) + 1 / V + M F_min)``.

The realised gap ``mean cost - c*`` also contains ``-lambda* (alpha - mean s)``, a discount of
order ``V / T`` bought with the allowed violation; :func:`messjax.theory.checks.run_checks`
therefore fits the 1/V law on the *satisfaction-adjusted* gap
``R = mean cost + lambda* (alpha - mean s) - c*`` (``>= 0`` in expectation for any policy, and
``<= B / V + V lambda*^2 / (2 T) + ...`` by the same sums), with a V-independent floor
(explorations, predictor error) fitted jointly.
"""

from __future__ import annotations

import math

import numpy as np

from messjax.theory.zoo import TypedZoo, zoo_policy

__all__ = [
    "cost_gap_bound",
    "drift_constant",
    "drift_table",
    "expected_explorations",
    "explorations_asymptote",
    "fit_common_slope",
    "fit_power_law",
    "greedy_satisfaction",
    "loglog_slope",
    "lundberg_exponent",
    "queue_bound",
    "queue_bounds",
    "violation_bound",
    "violation_bound_dual",
]


# ------------------------------------------------------------------------------ constants
def drift_constant(alpha: float) -> float:
    """B = max_{s in {0,1}} (alpha - s)^2 / 2 = max(alpha, 1 - alpha)^2 / 2 (<= 1/2)."""
    return max(alpha, 1.0 - alpha) ** 2 / 2.0


def expected_explorations(c, T):
    """E[N_T] = sum_{t=1..T} min(1, c / t^(1/4)), exactly (vectorised over c and T).

    The sum over the first ``floor(c^4)`` requests (where p_t = 1) is counted as ones; the
    rest in closed form would need the Hurwitz zeta function, so it is summed (T up to a few
    million is instant).
    """
    c_arr, T_arr = np.broadcast_arrays(np.asarray(c, float), np.asarray(T, np.int64))
    out = np.empty(c_arr.shape, float)
    t_max = int(T_arr.max()) if T_arr.size else 0
    csum = np.concatenate([[0.0], np.cumsum(np.arange(1, t_max + 1, dtype=float) ** -0.25)])
    for idx in np.ndindex(c_arr.shape):
        cv, Tv = float(c_arr[idx]), int(T_arr[idx])
        ones = min(Tv, math.floor(cv**4)) if cv >= 1 else 0
        out[idx] = ones + cv * (csum[Tv] - csum[ones])
    return out if out.shape else float(out)


def explorations_asymptote(c, T):
    """(4/3) c T^(3/4), the leading term of :func:`expected_explorations` (c <= 1).

    The exact sum is ``c ((4/3) T^(3/4) + zeta(1/4) + O(T^(-1/4)))`` with
    ``zeta(1/4) = -0.8132...`` for c <= 1, and ``(4/3) c T^(3/4) - c^4 / 3 + O(c)`` for c > 1.
    """
    return 4.0 / 3.0 * np.asarray(c, float) * np.asarray(T, float) ** 0.75


def lundberg_exponent(alpha: float, p: float) -> float:
    """eta > 0 with E[exp(eta (alpha - s))] = 1 for s ~ Bernoulli(p), p > alpha (else 0).

    ``exp(eta Q)`` is then a supermartingale while the queue's steps have mean satisfaction
    >= p, which gives the exponential tail of Theorem 1c.
    """
    if not 0.0 < alpha < 1.0 or p <= alpha:
        return 0.0
    if p >= 1.0:
        return math.inf

    def f(eta):  # log E[exp(eta (alpha - s))], convex, f(0) = 0, f'(0) = alpha - p < 0
        return eta * alpha + math.log1p(-p + p * math.exp(-eta))

    hi = 1.0
    while f(hi) < 0:
        hi *= 2.0
    lo = max(hi / 2.0, 1e-12) if hi > 1.0 else 1e-12
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return lo


def greedy_satisfaction(zoo: TypedZoo, price: float) -> float:
    """s(lam): satisfaction of ``argmin_m C[k, m] - lam P[k, m]`` per type, cheapest on ties
    (the exact-predictor router at ``Q / V = lam``)."""
    score = zoo.cost - price * zoo.success
    best = score.min(axis=1, keepdims=True)
    tie = score <= best + 1e-12 * (1.0 + np.abs(best))
    # among tied models the router's argmin takes the first (cheapest) one
    m = np.argmax(tie, axis=1)
    return float(zoo.type_probs @ zoo.success[np.arange(zoo.num_types), m])


def _breakpoints(zoo: TypedZoo) -> np.ndarray:
    P, C = zoo.success, zoo.cost
    dP = P[:, :, None] - P[:, None, :]
    dC = C[:, :, None] - C[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = dC / dP
    lam = lam[np.isfinite(lam) & (lam > 0)]
    return np.unique(lam)


# ------------------------------------------------------------------------------ bounds
def violation_bound(T, V: float, alpha: float, cost_spread: float):
    """Theorem 1a: E[Q_T] / T <= sqrt(2 (B + V dE) / T) (no slack needed; exact predictor or
    ``alpha + 2 eps <= s_max``). Bounds the time-average violation ``(alpha - mean s)^+``."""
    B = drift_constant(alpha)
    return np.sqrt(2.0 * (B + V * cost_spread) / np.asarray(T, float))


def violation_bound_dual(
    T,
    V: float,
    alpha: float,
    price: float,
    *,
    explorations=0.0,
    largest_satisfaction=None,
    eps: float = 0.0,
):
    """Theorem 1b: E[Q_T] / T <= (2 V lam + sqrt(2 B T + 2 V lam ((s_L - alpha) E[N_T] +
    2 eps T))) / T, with ``lam`` the LP price at ``alpha + 2 eps`` — the O(V/T + 1/sqrt(T))
    form. ``explorations`` is E[N_T] (same shape as T or scalar)."""
    T = np.asarray(T, float)
    B = drift_constant(alpha)
    extra = 0.0
    if largest_satisfaction is not None:
        extra = max(largest_satisfaction - alpha, 0.0) * np.asarray(explorations, float)
    return (2 * V * price + np.sqrt(2 * B * T + 2 * V * price * (extra + 2 * eps * T))) / T


def queue_bound(
    zoo: TypedZoo,
    alpha: float,
    V: float,
    T: int,
    *,
    eps: float = 0.0,
    fail_prob: float = 0.05,
    start: float = 0.0,
) -> dict[str, float]:
    """Theorem 1c: with probability >= 1 - fail_prob, max_{t<=T} Q_t <= ``bound``.

    ``start`` is the largest queue reached before the predictor met (A5) (0 for an exact
    predictor from the first request). Returns ``bound`` (``inf`` when no price level gives
    a negative drift, e.g. alpha >= s_max - 2 eps), the minimising ``threshold`` (theta),
    ``price`` (lam0), ``drift_satisfaction`` (p) and ``exponent`` (eta).
    """
    cands, ps, etas = drift_table(zoo, alpha, eps)
    ok = etas > 0
    if not ok.any():
        return {
            "bound": math.inf,
            "threshold": math.inf,
            "price": math.inf,
            "drift_satisfaction": float("nan"),
            "exponent": 0.0,
        }
    theta = np.maximum(V * cands[ok], 1.0 - alpha)
    bounds = np.maximum(start, theta + alpha) + math.log(max(T, 1) / fail_prob) / etas[ok]
    i = int(np.argmin(bounds))
    return {
        "bound": float(bounds[i]),
        "threshold": float(theta[i]),
        "price": float(cands[ok][i]),
        "drift_satisfaction": float(ps[ok][i]),
        "exponent": float(etas[ok][i]),
    }


def cost_gap_bound(
    zoo: TypedZoo, alpha: float, V: float, T: int, *, explorations: float, eps: float = 0.0
) -> dict[str, float]:
    """Theorem 2: E[mean cost] - c* <= B / V + (E[N_T] / T)(E_sum - c*) + 2 eps lambda_chord.

    Returns the three terms and their sum (``bound``); ``explorations`` is E[N_T] (e.g.
    :func:`expected_explorations`).
    """
    pol = zoo_policy(zoo, alpha)
    s_max = zoo.best_satisfaction
    if s_max - alpha > 1e-12:
        chord = (zoo_policy(zoo, s_max).cost - pol.cost) / (s_max - alpha)
    else:
        chord = pol.price
    terms = {
        "drift_term": drift_constant(alpha) / V,
        "exploration_term": explorations / T * (zoo.exploration_cost - pol.cost),
        "predictor_term": 2 * eps * chord,
    }
    terms["bound"] = sum(terms.values())
    return terms


def drift_table(zoo: TypedZoo, alpha: float, eps: float):
    """For each candidate price lam0: the drift satisfaction p(lam0) and its exponent eta."""
    lams = _breakpoints(zoo)
    cands = np.unique(np.concatenate([lams * (1 + 1e-9), lams * 1.5, lams * 3.0, lams * 10.0]))
    betas = np.linspace(0.0, 0.95, 20)
    s_L = zoo.largest_satisfaction
    ps, etas = [], []
    for lam0 in cands:
        if eps > 0:
            p = max(greedy_satisfaction(zoo, b * lam0) - 2 * eps / (1 - b) for b in betas)
        else:
            p = greedy_satisfaction(zoo, lam0)
        p = min(s_L, p)
        ps.append(p)
        etas.append(lundberg_exponent(alpha, p))
    return cands, np.array(ps), np.array(etas)


def queue_bounds(table, alpha: float, V, T: int, start, fail_prob: float) -> np.ndarray:
    """Theorem 1c bound for every V at once (``start``: scalar or per V), from a
    :func:`drift_table`."""
    cands, _, etas = table
    ok = etas > 0
    if not ok.any():
        return np.full(len(V), np.inf)
    theta = np.maximum(np.asarray(V, float)[:, None] * cands[None, ok], 1.0 - alpha)
    start = np.broadcast_to(np.asarray(start, float), (len(V),))[:, None]
    b = np.maximum(start, theta + alpha) + math.log(T / fail_prob) / etas[None, ok]
    return b.min(axis=1)


# ------------------------------------------------------------------------------ fits
def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (NaN where fewer than 2 positive points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def fit_power_law(x, y, weights=None, slopes=None) -> dict[str, float]:
    """Fit ``y = a x^s + b`` (b: a floor that does not depend on x) by least squares.

    Profile fit: for each slope s on a grid (default -3..0 by 0.005) ``(a, b)`` are linear;
    the s with the least weighted squared error wins. Returns ``a``, ``slope`` and ``floor``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, float)
    slopes = np.arange(-3.0, 0.0, 0.005) if slopes is None else np.asarray(slopes)
    best = (math.inf, float("nan"), float("nan"), float("nan"))
    sw = np.sqrt(w)
    for s in slopes:
        A = np.stack([x**s, np.ones_like(x)], axis=1) * sw[:, None]
        coef, *_ = np.linalg.lstsq(A, y * sw, rcond=None)
        if coef[0] <= 0:
            continue
        err = float(np.sum((A @ coef - y * sw) ** 2))
        if err < best[0]:
            best = (err, float(coef[0]), float(s), float(coef[1]))
    return {"a": best[1], "slope": best[2], "floor": best[3]}


def fit_common_slope(x, ys) -> tuple[float, list[float]]:
    """Slope of log y on log x shared by several curves (own intercepts), and each's own."""
    lx = np.log(np.asarray(x, float))
    rows, targets, own = [], [], []
    for i, y in enumerate(ys):
        y = np.asarray(y, float)
        own.append(loglog_slope(x, y))
        for j in np.flatnonzero(y > 0):
            r = np.zeros(1 + len(ys))
            r[0], r[1 + i] = lx[j], 1.0
            rows.append(r)
            targets.append(math.log(y[j]))
    if len(rows) < 2:
        return float("nan"), own
    coef, *_ = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)
    return float(coef[0]), own
