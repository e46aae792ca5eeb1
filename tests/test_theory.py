"""messjax.theory: bound expressions, the exact LP, the typed zoo and `messjax theory`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from messjax import theory
from messjax.cli import main as cli_main
from messjax.data.table import RoutingTable
from messjax.errors import ConfigError


# ------------------------------------------------------------------------------ constants
@pytest.mark.parametrize(
    ("alpha", "B"), [(0.7, 0.245), (0.3, 0.245), (0.5, 0.125), (0.9, 0.405), (0.01, 0.49005)]
)
def test_drift_constant(alpha, B):
    assert theory.drift_constant(alpha) == pytest.approx(B)
    assert theory.drift_constant(alpha) <= 0.5


def test_expected_explorations_by_hand():
    # p_t = min(1, c t^(-1/4)): c = 1 explores t = 1 surely; t = 16 with probability 1/2
    assert theory.expected_explorations(1.0, 1) == pytest.approx(1.0)
    assert theory.expected_explorations(1.0, 2) == pytest.approx(1 + 2**-0.25)
    # c = 2: the first 16 requests all explore (2 / t^(1/4) >= 1 for t <= 16)
    assert theory.expected_explorations(2.0, 16) == pytest.approx(16.0)
    assert theory.expected_explorations(2.0, 17) == pytest.approx(16 + 2 * 17**-0.25)
    t = np.arange(1, 1001)
    assert theory.expected_explorations(0.1, 1000) == pytest.approx(np.sum(0.1 * t**-0.25))
    # MESSPLUS.md section 2: c = 0.1, T = 1000 gives about 24
    assert round(theory.expected_explorations(0.1, 1000)) == 24


def test_expected_explorations_vectorised():
    out = theory.expected_explorations([0.1, 1.0], [100, 100])
    assert out.shape == (2,)
    assert out[1] == pytest.approx(10 * out[0])  # linear in c while c <= 1


@pytest.mark.parametrize("c", [0.1, 0.5, 1.0])
def test_explorations_approach_asymptote(c):
    zeta_quarter = -0.8132784052  # zeta(1/4): the sum is c ((4/3) T^(3/4) + zeta(1/4) + ...)
    ratios = []
    for T in (10**2, 10**4, 10**6):
        exact = theory.expected_explorations(c, T)
        ratios.append(exact / theory.explorations_asymptote(c, T))
        assert exact == pytest.approx(c * (4 / 3 * T**0.75 + zeta_quarter), abs=c)
    assert ratios[0] < ratios[1] < ratios[2] < 1.0
    assert ratios[2] == pytest.approx(1.0, abs=1e-3)


def test_lundberg_exponent():
    eta = theory.lundberg_exponent(0.7, 0.85)
    assert eta > 0
    assert math.exp(eta * 0.7) * (0.15 + 0.85 * math.exp(-eta)) == pytest.approx(1.0, abs=1e-9)
    assert theory.lundberg_exponent(0.7, 0.7) == 0.0
    assert theory.lundberg_exponent(0.7, 0.6) == 0.0
    # a larger margin gives a faster-decaying tail
    assert theory.lundberg_exponent(0.7, 0.95) > eta


def test_violation_bounds_by_hand():
    # Theorem 1a: sqrt(2 (B + V dE) / T) with B(0.7) = 0.245
    assert theory.violation_bound(100, 1.0, 0.7, 0.5) == pytest.approx(math.sqrt(2 * 0.745 / 100))
    assert theory.violation_bound(100, 0.0 + 1e-12, 0.7, 0.5) == pytest.approx(
        math.sqrt(0.49 / 100)
    )
    # Theorem 1b: (2 V lam + sqrt(2 B T + 2 V lam (s_L - alpha) N)) / T
    got = theory.violation_bound_dual(
        400, 2.0, 0.7, 3.0, explorations=50.0, largest_satisfaction=0.9
    )
    want = (2 * 2 * 3 + math.sqrt(2 * 0.245 * 400 + 2 * 2 * 3 * 0.2 * 50)) / 400
    assert got == pytest.approx(want)
    # O(V / T + 1 / sqrt(T)): the T^(-1/2) term dominates for T >> V^2
    T = np.array([1e6, 4e6])
    b = theory.violation_bound_dual(T, 1.0, 0.7, 3.0)
    assert b[0] / b[1] == pytest.approx(2.0, rel=0.01)


# ------------------------------------------------------------------------------ the LP
# Two equiprobable types, two models (cheap, expensive):
#   type A: P = (0.6, 1.0), C = (1, 5)  -> upgrade costs 4 / 0.4 = 10 per unit satisfaction
#   type B: P = (0.2, 0.6), C = (1, 3)  -> upgrade costs 2 / 0.4 = 5
# All-cheap: satisfaction 0.4, cost 1. Upgrading B fully adds 0.2 (cost +1), then A adds 0.2
# (cost +2); s_max = 0.8.
TOY = dict(
    type_probs=[0.5, 0.5],
    success=[[0.6, 1.0], [0.2, 0.6]],
    cost=[[1.0, 5.0], [1.0, 3.0]],
)


@pytest.mark.parametrize(
    ("alpha", "cost", "price", "assignment"),
    [
        (0.3, 1.0, 0.0, [[1, 0], [1, 0]]),  # slack: everything cheap
        (0.5, 1.5, 5.0, [[1, 0], [0.5, 0.5]]),  # half of B upgraded
        (0.6, 2.0, 5.0, [[1, 0], [0, 1]]),  # B fully upgraded
        (0.7, 3.0, 10.0, [[0.5, 0.5], [0, 1]]),  # then half of A
        (0.8, 4.0, 10.0, [[0, 1], [0, 1]]),  # s_max: everything expensive
    ],
)
def test_lp_two_type_toy(alpha, cost, price, assignment):
    pol = theory.optimal_static_policy(**TOY, alpha=alpha)
    assert pol.status == "optimal" and pol.feasible
    assert pol.cost == pytest.approx(cost)
    assert pol.price == pytest.approx(price)
    assert pol.satisfaction == pytest.approx(max(alpha, 0.4))
    np.testing.assert_allclose(pol.assignment, assignment, atol=1e-12)


def test_lp_infeasible_reports_status():
    pol = theory.optimal_static_policy(**TOY, alpha=0.85)
    assert pol.status == "infeasible" and not pol.feasible
    assert pol.satisfaction == pytest.approx(0.8)  # the best it can do


def test_lp_skips_dominated_and_non_convex_models():
    # model 1 is dominated (dearer, worse); model 2 lies above the frontier of 0 and 3
    P = [[0.5, 0.4, 0.7, 0.9]]
    C = [[1.0, 2.0, 3.5, 5.0]]
    pol = theory.optimal_static_policy([1.0], P, C, alpha=0.7)
    # frontier 0 -> 3 costs 4 / 0.4 = 10 per unit; reaching 0.7 takes half the upgrade
    np.testing.assert_allclose(pol.assignment, [[0.5, 0, 0, 0.5]])
    assert pol.cost == pytest.approx(3.0) and pol.price == pytest.approx(10.0)


def test_lp_matches_scipy_linprog():
    linprog = pytest.importorskip("scipy.optimize").linprog
    rng = np.random.default_rng(0)
    for _ in range(20):
        K, M = rng.integers(1, 6), rng.integers(1, 5)
        pi = rng.dirichlet(np.ones(K))
        P = rng.random((K, M))
        C = rng.random((K, M)) * 3
        s_max = float(pi @ P.max(axis=1))
        alpha = float(rng.uniform(0.0, s_max))
        pol = theory.optimal_static_policy(pi, P, C, alpha)
        res = linprog(
            (pi[:, None] * C).ravel(),
            A_ub=-(pi[:, None] * P).ravel()[None],
            b_ub=[-alpha],
            A_eq=np.kron(np.eye(K), np.ones(M)),
            b_eq=np.ones(K),
            bounds=(0, None),
            method="highs",
        )
        assert res.status == 0
        assert pol.cost == pytest.approx(res.fun, abs=1e-9)
        assert pol.price == pytest.approx(-res.ineqlin.marginals[0], abs=1e-7)


def test_greedy_satisfaction_is_monotone_and_matches_lp():
    zoo = theory.typed_zoo()
    prices = np.geomspace(1e-3, 1e4, 60)
    s = [theory.greedy_satisfaction(zoo, lam) for lam in prices]
    assert np.all(np.diff(s) >= -1e-12)
    assert s[0] == pytest.approx(zoo.type_probs @ zoo.success[:, 0])
    assert s[-1] == pytest.approx(zoo.best_satisfaction)
    # the LP price is where the greedy policy crosses alpha
    pol = theory.zoo_policy(zoo, 0.7)
    assert theory.greedy_satisfaction(zoo, pol.price * 0.999) <= 0.7
    assert theory.greedy_satisfaction(zoo, pol.price * 1.001) >= 0.7


# ------------------------------------------------------------------------------ bounds on the zoo
def test_queue_bound_properties():
    zoo = theory.typed_zoo()
    b = [theory.queue_bound(zoo, 0.7, V, 10_000)["bound"] for V in (0.1, 1.0, 10.0, 100.0)]
    assert all(math.isfinite(x) for x in b)
    assert b == sorted(b)  # grows with V
    assert b[-1] > 100.0 * theory.zoo_policy(zoo, 0.7).price  # >= V lambda*
    # predictor error and a longer horizon only loosen it
    assert theory.queue_bound(zoo, 0.7, 1.0, 10_000, eps=0.02)["bound"] > b[1]
    assert theory.queue_bound(zoo, 0.7, 1.0, 10**6)["bound"] > b[1]
    # a warm-up queue above the threshold shifts it
    assert theory.queue_bound(zoo, 0.7, 1.0, 10_000, start=500.0)["bound"] > 500.0
    # no slack, or an infeasible alpha: no finite bound
    assert theory.queue_bound(zoo, zoo.best_satisfaction, 1.0, 10_000)["bound"] == math.inf
    assert theory.queue_bound(zoo, 0.95, 1.0, 10_000)["bound"] == math.inf


def test_cost_gap_bound_terms():
    zoo = theory.typed_zoo()
    pol = theory.zoo_policy(zoo, 0.7)
    t = theory.cost_gap_bound(zoo, 0.7, 2.0, 1000, explorations=100.0, eps=0.01)
    assert t["drift_term"] == pytest.approx(0.245 / 2.0)
    assert t["exploration_term"] == pytest.approx(0.1 * (zoo.exploration_cost - pol.cost))
    chord = (theory.zoo_policy(zoo, zoo.best_satisfaction).cost - pol.cost) / (
        zoo.best_satisfaction - 0.7
    )
    assert t["predictor_term"] == pytest.approx(0.02 * chord)
    total = t["drift_term"] + t["exploration_term"] + t["predictor_term"]
    assert t["bound"] == pytest.approx(total)


def test_fits():
    x = np.geomspace(0.5, 100, 12)
    assert theory.loglog_slope(x, 3 * x**-0.5) == pytest.approx(-0.5)
    fit = theory.fit_power_law(x, 2.0 * x**-1.0 + 0.1)
    assert fit["slope"] == pytest.approx(-1.0, abs=0.01)
    assert fit["floor"] == pytest.approx(0.1, abs=1e-3)
    assert math.isnan(theory.loglog_slope([1.0], [1.0]))


# ------------------------------------------------------------------------------ the typed zoo
def test_typed_zoo_sample():
    zoo = theory.typed_zoo()
    assert zoo.num_types == 12 and zoo.num_models == 3 and zoo.feature_dim == 2
    # the largest model is the best on every type, and the costs ascend
    assert np.all(zoo.success.argmax(axis=1) == 2)
    assert np.all(np.diff(zoo.cost, axis=1) > 0)
    assert zoo.largest_satisfaction == pytest.approx(zoo.best_satisfaction)
    a, b = zoo.sample(5000, seed=3), zoo.sample(5000, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.x.shape == (5000, 2) and a.labels.shape == (5000, 3) and a.costs.shape == (5000, 3)
    np.testing.assert_allclose(a.labels.mean(0), zoo.type_probs @ zoo.success, atol=0.03)
    np.testing.assert_allclose(a.costs, zoo.cost[a.types])
    table = zoo.table(a)
    assert isinstance(table, RoutingTable) and len(table) == 5000
    shift = zoo.sample_shift(1000, 0, [1.0] + [0.0] * 11, [0.0] * 11 + [1.0])
    assert set(shift.types[:500]) == {0} and set(shift.types[500:]) == {11}


def test_typed_zoo_onehot_and_validation():
    zoo = theory.typed_zoo(4, features="onehot", feature_noise=0.1)
    assert zoo.feature_dim == 4
    with pytest.raises(ConfigError, match="features"):
        theory.typed_zoo(features="words")
    with pytest.raises(ConfigError, match="type_probs"):
        zoo.with_type_probs([0.5, 0.1, 0.1, 0.1])


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("theory") / "report.json"
    assert cli_main(["theory", "--quick", "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_cli_quick_report_keys(quick_report):
    r = quick_report
    for key in (
        "violation_slope_T",
        "cost_gap_slope_V",
        "queue_V",
        "max_queue",
        "queue_bound",
        "held",
        "guarantee_applies",
        "in_target",
        "targets",
        "checks",
        "runtime_s",
    ):
        assert key in r
    assert r["quick"] is True
    assert set(r["checks"]) == {
        "violation_vs_T",
        "cost_gap_vs_V",
        "queue_vs_V",
        "exploration",
        "infeasible",
        "nonstationary_mild",
        "nonstationary_severe",
    }
    assert set(r["held"]) == set(r["guarantee_applies"])
    assert len(r["max_queue"]) == len(r["queue_bound"]) == len(r["queue_V"])
    assert r["targets"]["violation_slope_T"] == [-0.65, -0.35]
    assert math.isfinite(r["violation_slope_T"]) and math.isfinite(r["cost_gap_slope_V"])


def test_cli_quick_bounds_that_apply_hold(quick_report):
    r = quick_report
    for name in ("violation", "cost_gap", "queue", "exploration"):
        assert r["guarantee_applies"][name] is True
        assert r["held"][name] is True, (name, r["checks"])
    assert all(q <= b for q, b in zip(r["max_queue"], r["queue_bound"], strict=True))


def test_cli_quick_infeasible_alpha_fails_visibly(quick_report):
    inf = quick_report["checks"]["infeasible"]
    assert quick_report["guarantee_applies"]["infeasible"] is False
    assert quick_report["held"]["infeasible"] is False
    assert inf["lp_status"] == "infeasible"
    assert "does not apply" in inf["status"] and "exceeds" in inf["status"]
    # the violation does not decay: it stays near alpha - s_max
    gap = inf["alpha"] - inf["best_satisfaction"]
    for d in inf["per_V"]:
        assert d["final_violation_Q_over_T"] > 0.5 * gap


def test_cli_quick_severe_shift_fails_visibly(quick_report):
    sev = quick_report["checks"]["nonstationary_severe"]
    assert sev["guarantee_applies"] is False and sev["held"] is False
    assert sev["mixture_feasible"] is True and sev["phases_feasible"] == [True, False]
    assert "does not apply" in sev["status"]


def test_cli_strict_flag(quick_report, monkeypatch, capsys):
    # --strict turns a slope off its target into exit code 1 (quick slopes are noisy)
    monkeypatch.setattr(theory, "run_checks", lambda **kw: quick_report)
    code = cli_main(["theory", "--quick", "--strict"])
    out = capsys.readouterr()
    assert "violation_slope_T" in out.out
    ok = all(quick_report["in_target"].values())
    assert code == (0 if ok else 1)


# ------------------------------------------------------------------------------ messjax policy
def test_policy_tracking_identity_and_credit_exponent():
    from messjax.theory.policy import credit_exponent, tracked_satisfaction

    # mean s = alpha + (margin - D_T) / T
    assert tracked_satisfaction(0.7, 3.0, [3.0, 13.0, -7.0], 100) == pytest.approx([0.7, 0.6, 0.8])
    eta = credit_exponent(0.7, 0.43)
    assert eta > 0
    assert 0.43 * math.exp(eta * 0.3) + 0.57 * math.exp(-eta * 0.7) == pytest.approx(1.0)
    assert credit_exponent(0.7, 0.75) == 0.0  # the cheapest model meets alpha: no drift back


def test_cli_quick_messjax_policy_slopes(quick_report):
    """messjax's slopes on the i.i.d. zoo beside MESS+'s, in sensible ranges at quick sizes."""
    r = quick_report
    mj = r["messjax"]
    assert r["messjax_violation_slope_T"] == mj["violation_slope_T"]
    assert r["messjax_cost_gap_slope_V"] == mj["cost_gap_slope_V"]
    assert mj["quick"] is True
    assert mj["in_range"] == {"violation_slope_T": True, "cost_gap_slope_V": True}, mj
    lo, hi = mj["ranges"]["violation_slope_T"]
    assert lo <= mj["violation_slope_T"] <= hi
    checks = mj["checks"]
    assert set(checks) == {"violation_vs_T", "cost_gap_vs_V", "tracking", "sparse_feedback"}
    # the signed deficit: mean s = alpha + (margin - D_T) / T with full feedback (float32)
    tr = checks["tracking"]
    assert tr["identity_max_abs_error"] < 1e-4
    # two-sided tracking where the deficit's ramp is short: |mean s - alpha| < 1 point
    small_V = [
        g
        for V, g in zip(checks["cost_gap_vs_V"]["V"], tr["satisfaction_minus_alpha"], strict=True)
        if V <= 4
    ]
    assert small_V and all(abs(g) < 0.01 for g in small_V)
    # the satisfaction-adjusted cost gap falls with V onto a floor (>= 0 up to noise)
    fit = checks["cost_gap_vs_V"]["fit"]
    assert fit["floor"] > -0.01 and fit["a"] > 0
    assert math.isfinite(checks["sparse_feedback"]["imputation_bias_per_request"])
