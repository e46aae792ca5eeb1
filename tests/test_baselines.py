"""Baselines on tiny tables whose answers are known by hand (and against scipy's LP solver)."""

from __future__ import annotations

import numpy as np
import pytest

from messjax import baselines as B
from messjax import lp
from messjax.data import RoutingTable

linprog = pytest.importorskip("scipy.optimize").linprog


def _table(labels, costs, tasks=None, models=None, texts=None) -> RoutingTable:
    labels, costs = np.asarray(labels, float), np.asarray(costs, float)
    T, M = labels.shape
    return RoutingTable(
        texts=texts if texts is not None else [f"q{i}" for i in range(T)],
        labels=labels,
        costs=costs,
        models=models or tuple(f"m{m}" for m in range(M)),
        tasks=tasks if tasks is not None else ["toy"] * T,
        ids=[str(i) for i in range(T)],
    )


# Four requests, two models (cheap, expensive):
#   t0 both right (1 | 10); t1 only the large (1 | 10): +1 for 9;
#   t2 only the large (2 | 5): +1 for 3; t3 nobody (1 | 10).
ORACLE_S = np.array([[1, 1], [0, 1], [0, 1], [0, 0]], float)
ORACLE_E = np.array([[1, 10], [1, 10], [2, 5], [1, 10]], float)


@pytest.mark.parametrize(
    ("alpha", "cost", "z_large", "feasible"),
    [
        (0.2, 5.0, [0, 0, 0, 0], True),  # the cheapest models already give 1/4
        (0.5, 8.0, [0, 0, 1, 0], True),  # upgrade t2 (+3)
        (0.625, 12.5, [0, 0.5, 1, 0], True),  # and half of t1 (+9 / 2): one fractional row
        (0.8, 17.0, [0, 1, 1, 0], False),  # 3.2 > 3 satisfiable: max satisfaction, cheapest
    ],
)
def test_oracle_by_hand(alpha, cost, z_large, feasible):
    sol = lp.oracle_lp(ORACLE_S, ORACLE_E, alpha)
    assert sol.feasible == feasible
    assert sol.cost == pytest.approx(cost)
    np.testing.assert_allclose(sol.z[:, 1], z_large, atol=1e-12)
    np.testing.assert_allclose(sol.z.sum(1), 1.0)
    if feasible:
        assert sol.satisfaction == pytest.approx(max(alpha, 0.25))


def _oracle_linprog(s, E, alpha):
    T, M = s.shape
    a_eq = np.kron(np.eye(T), np.ones(M))
    res = linprog(
        E.ravel(),
        A_ub=-s.ravel()[None],
        b_ub=[-alpha * T],
        A_eq=a_eq,
        b_eq=np.ones(T),
        bounds=(0, None),
        method="highs",
    )
    return res.fun if res.status == 0 else None


@pytest.mark.parametrize("binary", [True, False])
def test_oracle_matches_linprog(binary):
    rng = np.random.default_rng(0)
    for trial in range(25):
        T, M = rng.integers(3, 15), rng.integers(1, 5)
        s = rng.random((T, M))
        s = (s < 0.5).astype(float) if binary else np.round(s, 2)
        E = np.round(rng.gamma(2.0, 50.0, (T, M)) * np.arange(1, M + 1), 1)
        if trial % 5 == 0:
            E[:, -1] = E[:, 0]  # ties between models
        for alpha in (0.1, 0.35, 0.6, 0.9):
            sol = lp.oracle_lp(s, E, alpha)
            ref = _oracle_linprog(s, E, alpha)
            assert sol.feasible == (ref is not None)
            if ref is not None:
                assert sol.cost == pytest.approx(ref, rel=1e-7, abs=1e-7)
                assert (sol.z * s).sum() >= alpha * T - 1e-9
                assert np.sum((sol.z > 1e-12) & (sol.z < 1 - 1e-12)) <= 2  # one split row
                np.testing.assert_allclose(sol.z.sum(1), 1.0)


def test_mixture_two_models_by_hand():
    acc, cost = np.array([0.6, 0.9]), np.array([1.0, 10.0])
    p, ok = lp.mixture_lp(acc, cost, 0.7)
    np.testing.assert_allclose(p, [2 / 3, 1 / 3], rtol=1e-6)  # 0.6 + 0.3 p = 0.7
    assert bool(ok) and float(p @ cost) == pytest.approx(4.0, rel=1e-6)
    p, ok = lp.mixture_lp(acc, cost, 0.5)
    np.testing.assert_allclose(p, [1, 0])
    p, ok = lp.mixture_lp(acc, cost, 0.95)  # infeasible: the most accurate model
    np.testing.assert_allclose(p, [0, 1])
    assert not bool(ok)


def test_mixture_matches_linprog():
    rng = np.random.default_rng(1)
    for trial in range(40):
        M = (2, 5)[trial % 2]  # two compiled shapes
        acc, cost = rng.random(M), rng.gamma(2.0, 100.0, M)
        alpha = rng.uniform(0.0, acc.max())
        p, ok = lp.mixture_lp(acc, cost, alpha)
        p = np.asarray(p, float)
        res = linprog(
            cost,
            A_ub=-acc[None],
            b_ub=[-alpha],
            A_eq=np.ones((1, M)),
            b_eq=[1],
            bounds=(0, None),
            method="highs",
        )
        assert bool(ok) and res.status == 0
        assert p @ cost == pytest.approx(res.fun, rel=1e-4)
        assert p @ acc >= alpha - 1e-5 and (p > 1e-7).sum() <= 2


def test_single_model_and_summary():
    s, E = ORACLE_S, ORACLE_E
    summary = B.single_model(s, E, 1, 0.5, [42, 43])
    np.testing.assert_allclose(summary.total_cost, [35.0, 35.0])
    np.testing.assert_allclose(summary.satisfaction, [0.75, 0.75])
    np.testing.assert_allclose(summary.served_counts, [[0, 4], [0, 4]])
    assert summary.sla_met.all()
    # Running satisfaction 0, 1/2, 2/3 and queue 1/2, 0, 0: by hand for one fixed order.
    one = B.summarize(
        np.array([1, 0, 1]),
        np.array([[0, 0], [1, 1], [0, 1]]),
        np.array([[1, 2], [1, 2], [1, 2]]),
        0.5,
    )
    assert one.cumulative_violation == pytest.approx(0.5)
    assert one.max_queue == pytest.approx(0.5) and one.final_queue == pytest.approx(0.0)
    assert one.total_cost == pytest.approx(5.0) and one.satisfaction == pytest.approx(2 / 3)


def test_mixture_lp_samples_its_mixture():
    rng = np.random.default_rng(2)
    T = 4000
    s = np.stack([rng.random(T) < 0.6, rng.random(T) < 0.9], 1).astype(float)
    E = np.tile([1.0, 10.0], (T, 1))
    summary, info = B.cheapest_mixture(s, E, 0.7, [42, 43])
    acc = s.mean(0)
    w = (0.7 - acc[0]) / (acc[1] - acc[0])
    np.testing.assert_allclose(info["mixture"], [1 - w, w], rtol=1e-5)
    assert info["expected_satisfaction"] == pytest.approx(0.7, abs=1e-6)
    np.testing.assert_allclose(summary.served_counts[:, 1] / T, w, atol=0.03)
    assert summary.total_cost[0] != summary.total_cost[1]  # a different draw per seed


def test_educated_guess_is_the_authors_procedure():
    """By hand: uniform start, x1.01 / x0.99 steps, stop at p . acc >= alpha."""
    acc = np.array([0.4, 0.55, 0.6])
    p, it, ok = B.educated_guess_mixture(acc, 0.5)
    assert it == 0 and ok and np.allclose(p, 1 / 3)  # uniform already meets 0.5
    p, it, ok = B.educated_guess_mixture(acc, 0.56)
    q = np.full(3, 1 / 3)
    for _ in range(it):
        q = q * np.where(acc > q @ acc, 1.01, 0.99)
        q = q / q.sum()
    np.testing.assert_allclose(p, q, rtol=0, atol=0)
    assert ok and p @ acc >= 0.56
    # One step fewer would not have met alpha: it stops as soon as it can.
    q = np.full(3, 1 / 3)
    for _ in range(it - 1):
        q = q * np.where(acc > q @ acc, 1.01, 0.99)
        q = q / q.sum()
    assert q @ acc < 0.56
    # Infeasible: stops after 5000 steps, flagged.
    p, it, ok = B.educated_guess_mixture(acc, 0.7)
    assert it == 5000 and not ok


def test_educated_guess_ignores_cost_and_costs_more_than_the_lp():
    rng = np.random.default_rng(6)
    T = 3000
    s = np.stack([rng.random(T) < 0.4, rng.random(T) < 0.55, rng.random(T) < 0.6], 1)
    s = s.astype(float)
    E = np.tile([1.0, 5.0, 30.0], (T, 1))
    _, eg_info = B.educated_guess(s, E, 0.53, [42])
    _, lp_info = B.cheapest_mixture(s, E, 0.53, [42])
    assert eg_info["iterations"] > 0
    assert eg_info["expected_satisfaction"] >= 0.53
    assert lp_info["expected_satisfaction"] >= 0.53 - 1e-6
    assert eg_info["expected_cost"] > 1.5 * lp_info["expected_cost"]
    # Costs scaled per model do not change the authors' mixture; they change the LP's.
    _, eg2 = B.educated_guess(s, E * [1.0, 100.0, 1.0], 0.53, [42])
    np.testing.assert_array_equal(eg2["mixture"], eg_info["mixture"])


def test_pick_threshold_is_the_cheapest_meeting_alpha():
    th = np.array([0.1, 0.5, 0.7, 0.9])
    cost = np.array([10.0, 5.0, 6.0, 1.0])
    sat = np.array([0.9, 0.8, 0.85, 0.6])
    assert B.pick_threshold(th, cost, sat, 0.75) == (0.5, True)
    assert B.pick_threshold(th, cost, sat, 0.85) == (0.7, True)
    assert B.pick_threshold(th, cost, sat, 0.95) == (0.1, False)  # best effort


def test_calibrate_binary_by_hand():
    scores = np.array([0.9, 0.2, 0.6, 0.1])
    s = np.array([[0, 1], [1, 1], [0, 1], [1, 1]], float)
    E = np.tile([1.0, 10.0], (4, 1))
    # alpha 0.75 needs one upgrade: the top score (request 0) suffices -> threshold 0.9.
    assert B.calibrate("binary", scores, s, E, 0.75) == (pytest.approx(0.9), True)
    # alpha 1 needs requests 0 and 2 -> threshold 0.6.
    assert B.calibrate("binary", scores, s, E, 1.0) == (pytest.approx(0.6), True)
    # alpha 0.5 is met by the cheapest model alone -> +inf (nobody routed up).
    assert B.calibrate("binary", scores, s, E, 0.5) == (np.inf, True)


def test_threshold_curve_matches_brute_force():
    rng = np.random.default_rng(3)
    T, M = 50, 3
    probs = rng.random((T, M)).astype(np.float32)
    s = (rng.random((T, M)) < 0.6).astype(float)
    E = rng.gamma(2.0, 10.0, (T, M)) * np.arange(1, M + 1)
    th = B.candidate_thresholds(probs)
    cost, sat = B.threshold_curve("cascade", probs, th, s, E)
    for k in (0, 7, len(th) // 2, len(th) - 1):
        m = np.array([next((j for j in range(M) if p[j] >= th[k]), M - 1) for p in probs])
        assert cost[k] == pytest.approx(E[np.arange(T), m].sum(), rel=1e-5)
        assert sat[k] == pytest.approx(s[np.arange(T), m].mean())


def _separable(n, rng, num_models):
    """Groups g = 0..M-1: models >= g satisfy a request of group g; x reveals g."""
    g = rng.integers(0, num_models, n)
    x = np.eye(num_models)[g] * 3.0 + rng.normal(0, 0.1, (n, num_models))
    s = (np.arange(num_models)[None] >= g[:, None]).astype(float)
    E = np.tile(10.0 ** np.arange(num_models), (n, 1))
    return x.astype(np.float32), s, E


@pytest.mark.parametrize(("kind", "M"), [("routellm", 2), ("routerdc", 3)])
def test_trained_routers_on_separable_data(kind, M):
    rng = np.random.default_rng(4)
    x_tr, s_tr, E_tr = _separable(400, rng, M)
    x_te, s_te, E_te = _separable(100, rng, M)
    train, test = _table(s_tr, E_tr), _table(s_te, E_te)
    training = B.RouterTraining(steps=150, learning_rate=0.05, hidden_dim=16)
    out = B.trained_router(kind, test, x_te, train, x_tr, 1.0, [42], training=training)
    prefix = "routerdc-alpha" if kind == "routerdc" else kind
    names = {f"{prefix}-hindsight", f"{prefix}-train"}
    assert set(out) == (names | {"routerdc"} if kind == "routerdc" else names)
    floor = lp.oracle_lp(s_te, E_te, 1.0).cost
    # Hindsight: every request to its cheapest satisfying model, the oracle's cost.
    r = out[f"{prefix}-hindsight"]
    assert r.hindsight and float(r.summary.satisfaction[0]) == 1.0
    assert float(r.summary.total_cost[0]) == pytest.approx(floor)
    # Train: the cheapest threshold on held-out training rows sits at the edge of their
    # positive scores, so a test request may fall just below it.
    r = out[f"{prefix}-train"]
    assert not r.hindsight and float(r.summary.satisfaction[0]) >= 0.97
    if kind == "routerdc":
        # One routing for every alpha: the argmax of the predicted satisfactions.
        r = out["routerdc"]
        again = B.trained_router(kind, test, x_te, train, x_tr, 0.3, [42], training=training)
        np.testing.assert_array_equal(
            r.summary.served_counts, again["routerdc"].summary.served_counts
        )
        assert not r.hindsight and float(r.summary.satisfaction[0]) >= 0.97


def test_run_baselines_names():
    rng = np.random.default_rng(5)
    _, s, E = _separable(30, rng, 3)
    test = _table(s, E, models=("small", "medium", "large"))
    out = B.run_baselines(test, 0.7, [42, 43])  # no training table: no trained routers
    assert list(out) == [
        "single-small",
        "single-medium",
        "single-large",
        "educated-guess",
        "mixture-lp",
        "oracle",
    ]
    assert [r.hindsight for r in out.values()] == [False, False, False, True, True, True]
    for r in out.values():
        assert r.summary.total_cost.shape == (2,)
        np.testing.assert_allclose(r.summary.served_counts.sum(-1), 30)
