"""One family of linear programs, three solvers: the cheapest way to meet a satisfaction target.

Every LP here is ``min sum_k w_k sum_m x[k, m] C[k, m]  s.t.  sum_k w_k sum_m x[k, m] P[k, m] >=
target, sum_m x[k, m] = 1, x >= 0``: rows ``k`` (a whole stream, one request, or one request
type) with weight ``w_k``, each served by a randomised choice ``x[k]`` over the M models, with
cost ``C`` and satisfaction ``P``. Its dual price ``lambda`` (cost per unit of satisfaction) is
the multiplier of the satisfaction constraint; every optimum mixes at most two models in at
most one row (a multiple-choice knapsack relaxation). The three uses differ in the rows, so
each gets the exact solver that suits its shape (kept apart so that every committed number
reproduces bit for bit: the first runs in JAX's default precision, the others in float64 with
different but exact pivoting rules):

- :func:`mixture_lp`: one row, the table's mean accuracy and cost per model (the baselines'
  ``mixture-lp``, the hindsight floor of context-free routing); all candidate pairs
  enumerated, jitted.
- :func:`oracle_lp`: one row per request with weight 1, target ``alpha T`` (the baselines'
  ``oracle``, the per-request floor); Lagrangian bisection over the breakpoints.
- :func:`optimal_static_policy`: one row per request type with weight ``pi_k`` (the theory's
  optimal static policy ``c*(alpha)`` and its price ``lambda*``); greedy upgrades along each
  type's convex (satisfaction, cost) frontier.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "OracleSolution",
    "StaticPolicy",
    "mixture_lp",
    "optimal_static_policy",
    "oracle_lp",
]

#: Relative tolerance for ties in the oracle's Lagrangian (costs are float32 joules).
_TIE_RTOL = 1e-9


# ---------------------------------------------------------------- one row: a mixture
@jax.jit
def mixture_lp(accuracy: jax.Array, mean_cost: jax.Array, alpha) -> tuple[jax.Array, jax.Array]:
    """The cheapest model mixture meeting alpha in expectation (``mixture-lp``).

    Solves ``min_p sum_m p_m cbar_m  s.t.  sum_m p_m acc_m >= alpha, sum_m p_m = 1, p >= 0``.
    A basic optimal solution has at most two non-zeros (two equality-or-active constraints), so
    enumerating every single model with ``acc_m >= alpha`` and every pair ``(i, j)`` with
    ``acc_i < alpha <= acc_j`` mixed at ``p_j = (alpha - acc_i) / (acc_j - acc_i)`` is exact.
    Infeasible (``max acc < alpha``): the most accurate model (cheapest among ties).

    Returns ``(p [M], feasible)``.
    """
    acc = jnp.asarray(accuracy)
    cbar = jnp.asarray(mean_cost, acc.dtype)
    M = acc.shape[0]
    a_i, a_j = acc[:, None], acc[None, :]
    span = jnp.where(a_j > a_i, a_j - a_i, 1.0)
    w = jnp.clip((alpha - a_i) / span, 0.0, 1.0)  # weight on j
    pair_ok = (a_i < alpha) & (a_j >= alpha)
    single_ok = acc >= alpha
    pair_cost = jnp.where(pair_ok, (1 - w) * cbar[:, None] + w * cbar[None, :], jnp.inf)
    pair_cost = jnp.where(
        jnp.eye(M, dtype=bool), jnp.where(single_ok, cbar, jnp.inf)[:, None], pair_cost
    )
    flat = jnp.argmin(pair_cost)
    i, j = flat // M, flat % M
    feasible = jnp.isfinite(pair_cost.ravel()[flat])
    p = jnp.where(
        i == j,
        jax.nn.one_hot(i, M),
        (1 - w[i, j]) * jax.nn.one_hot(i, M) + w[i, j] * jax.nn.one_hot(j, M),
    )
    best = jnp.lexsort((cbar, -acc))[0]  # most accurate, then cheapest
    return jnp.where(feasible, p, jax.nn.one_hot(best, M)).astype(acc.dtype), feasible


# ---------------------------------------------------------------- a row per request: the oracle
@dataclasses.dataclass(frozen=True)
class OracleSolution:
    """The per-request LP relaxation's optimum.

    Attributes:
      z: ``[T, M]`` assignment (rows sum to 1; at most one fractional row).
      lam: the optimal multiplier lambda* of the satisfaction constraint.
      cost, satisfaction: ``sum z E`` and ``sum z s / T``.
      feasible: ``sum_t max_m s_tm >= alpha T``; if not, z is the cheapest max-satisfaction
        assignment.
    """

    z: np.ndarray
    lam: float
    cost: float
    satisfaction: float
    feasible: bool


def _lagrangian_choice(E, s, lam, high: bool) -> np.ndarray:
    """argmin_m E - lam * s per request; ties go to the largest (``high``) or smallest s."""
    value = E - lam * s
    vmin = value.min(1, keepdims=True)
    tol = _TIE_RTOL * (np.abs(E).max() + lam * np.abs(s).max() + 1.0)
    tied = value <= vmin + tol
    key = np.where(tied, s if high else -s, -np.inf)
    # Among ties with equal s, the cheapest.
    key = key - np.where(tied, E, 0.0) * 1e-12 / (np.abs(E).max() + 1.0)
    return key.argmax(1)


def oracle_lp(labels, costs, alpha: float) -> OracleSolution:
    """Exact optimum of the per-request LP relaxation (MESSPLUS.md section 6's floor).

    For a multiplier ``lam >= 0`` each request picks ``argmin_m E_tm - lam s_tm``; the total
    satisfaction of that choice is non-decreasing in ``lam`` and changes only at the breakpoints
    ``lam = (E_tj - E_ti) / (s_tj - s_ti)``. Bisection over the sorted breakpoints finds the
    smallest ``lam*`` whose choice (ties to more satisfaction) reaches ``alpha T``; requests
    tied at ``lam*`` then move from their low-satisfaction to their high-satisfaction choice one
    by one until the constraint holds with equality, the last one fractionally. Any such mix of
    Lagrangian minimisers meeting the constraint with equality is LP-optimal (complementary
    slackness). ``O(T M^2 log(T M^2))``, float64.
    """
    s = np.asarray(labels, np.float64)
    E = np.asarray(costs, np.float64)
    T, M = s.shape
    rows = np.arange(T)
    target = alpha * T
    best_s = s.max(1)
    if best_s.sum() < target - 1e-9:
        hi = _lagrangian_choice(E, s, 1e18, high=True)
        z = np.eye(M)[hi]
        return OracleSolution(z, np.inf, float(E[rows, hi].sum()), float(s[rows, hi].mean()), False)
    ds = s[:, None, :] - s[:, :, None]  # s_j - s_i
    dE = E[:, None, :] - E[:, :, None]
    breaks = np.unique(np.concatenate([[0.0], (dE / np.where(ds > 0, ds, 1.0))[ds > 0]]))
    breaks = breaks[breaks >= 0]

    def total_high(lam):
        return s[rows, _lagrangian_choice(E, s, lam, high=True)].sum()

    lo, hi_i = 0, len(breaks) - 1  # smallest index with total_high >= target
    while lo < hi_i:
        mid = (lo + hi_i) // 2
        if total_high(breaks[mid]) >= target - 1e-9:
            hi_i = mid
        else:
            lo = mid + 1
    lam = float(breaks[lo])
    low = _lagrangian_choice(E, s, lam, high=False)
    high = _lagrangian_choice(E, s, lam, high=True)
    z = np.eye(M)[low]
    need = target - s[rows, low].sum()
    if need > 0:
        gain = s[rows, high] - s[rows, low]
        for t in np.flatnonzero(gain > 0):
            frac = min(1.0, need / gain[t])
            z[t, low[t]] -= frac
            z[t, high[t]] += frac
            need -= frac * gain[t]
            if need <= 1e-12:
                break
    cost = float((z * E).sum())
    return OracleSolution(z, lam, cost, float((z * s).sum() / T), True)


# ---------------------------------------------------------------- a row per type: static optimum
@dataclasses.dataclass(frozen=True)
class StaticPolicy:
    """The optimal static (stationary, randomised per type) policy at one SLA target.

    Attributes:
      status: ``"optimal"`` or ``"infeasible"`` (alpha above s_max; then the other fields
        describe the best-satisfaction policy).
      cost: c*(alpha), expected cost per request.
      satisfaction: its expected satisfaction (= alpha when the constraint binds).
      price: the dual price lambda* (d c* / d alpha; 0 when the constraint is slack).
      assignment: ``[K, M]`` probability of serving type k with model m.
    """

    status: str
    cost: float
    satisfaction: float
    price: float
    assignment: np.ndarray

    @property
    def feasible(self) -> bool:
        return self.status == "optimal"


def _hull(P_k: np.ndarray, C_k: np.ndarray) -> list[int]:
    """Models on the lower-right convex frontier of (satisfaction, cost), cheapest first."""
    order = np.lexsort((-P_k, C_k))  # by cost, ties: most accurate first
    hull: list[int] = []
    for m in order:
        if hull and P_k[m] <= P_k[hull[-1]]:
            continue  # dominated: costs at least as much, satisfies no more
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b if the slope a->b is not below the slope b->m (not convex)
            if (C_k[b] - C_k[a]) * (P_k[m] - P_k[b]) >= (C_k[m] - C_k[b]) * (P_k[b] - P_k[a]):
                hull.pop()
            else:
                break
        hull.append(int(m))
    return hull


def optimal_static_policy(type_probs, success, cost, alpha: float) -> StaticPolicy:
    """Solve  min sum_k pi_k sum_m x[k,m] C[k,m]  s.t.  sum_k pi_k sum_m x[k,m] P[k,m] >= alpha,
    sum_m x[k,m] = 1, x >= 0  exactly.

    This LP (a multiple-choice knapsack relaxation) is solved by the greedy rule: every type
    starts at its cheapest model; the upgrades along each type's convex (satisfaction, cost)
    frontier are taken in increasing order of cost per unit of satisfaction
    ``(C[k,j] - C[k,i]) / (P[k,j] - P[k,i])`` until the constraint holds, the last one
    fractionally. Its slope is the dual price lambda*. No LP library is needed (the tests
    check it against ``scipy.optimize.linprog``).
    """
    pi = np.asarray(type_probs, float)
    P = np.asarray(success, float)
    C = np.asarray(cost, float)
    K, M = P.shape
    x = np.zeros((K, M))
    steps = []
    for k in range(K):
        hull = _hull(P[k], C[k])
        x[k, hull[0]] = 1.0
        for i, j in itertools.pairwise(hull):
            slope = (C[k, j] - C[k, i]) / (P[k, j] - P[k, i])
            steps.append((slope, k, i, j, pi[k] * (P[k, j] - P[k, i])))
    steps.sort(key=lambda s: s[0])
    sat = float(np.sum(pi[:, None] * x * P))
    price = 0.0
    tol = 1e-12
    for slope, k, i, j, gain in steps:
        if sat >= alpha - tol:
            break
        frac = min(1.0, (alpha - sat) / gain) if gain > 0 else 1.0
        x[k, i] -= frac
        x[k, j] += frac
        sat += frac * gain
        price = slope
    status = "optimal" if sat >= alpha - 1e-9 else "infeasible"
    if status == "infeasible" and steps:
        price = steps[-1][0]
    return StaticPolicy(
        status=status,
        cost=float(np.sum(pi[:, None] * x * C)),
        satisfaction=float(np.sum(pi[:, None] * x * P)),
        price=float(price),
        assignment=x,
    )
