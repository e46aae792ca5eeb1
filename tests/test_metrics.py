"""Metrics on a toy result whose numbers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from messjax import metrics
from messjax.baselines import MethodResult, summarize


def _toy() -> MethodResult:
    # Two seeds of a 4-request stream over models (small, large); costs in joules.
    served = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])
    labels = np.array([[0, 1], [1, 1], [0, 1], [1, 0]], float)
    costs = np.tile([1e5, 1e6], (4, 1))
    summary = summarize(
        served, np.broadcast_to(labels, (2, 4, 2)), np.broadcast_to(costs, (2, 4, 2)), 0.6
    )
    return MethodResult(
        "toy",
        0.6,
        np.array([42, 43]),
        summary,
        hindsight=False,
        info={"threshold": np.array([0.2, 0.4])},
    )


def test_seed_metrics_by_hand():
    m = metrics.seed_metrics(_toy().summary, 0.6, ("small", "large"), "J")
    np.testing.assert_allclose(m["cost"], [2.2, 4.0])  # MJ
    np.testing.assert_allclose(m["satisfaction"], [0.5, 0.75])  # final, not running means
    np.testing.assert_array_equal(m["sla_met"], [False, True])
    np.testing.assert_allclose(m["share_large"], [0.5, 1.0])
    np.testing.assert_allclose(m["explore_share"], [0.0, 0.0])
    # seed 42: satisfied 0, 1, 1, 0, running 0, 1/2, 2/3, 1/2 -> violation .6 + .1 + 0 + .1
    assert m["cumulative_violation"][0] == pytest.approx(0.8)


def test_aggregate_and_row():
    agg = metrics.aggregate(metrics.seed_metrics(_toy().summary, 0.6, ("small", "large")))
    assert agg["cost"] == pytest.approx(3.1) and agg["cost_std"] == pytest.approx(0.9)
    assert agg["satisfaction"] == pytest.approx(0.625)
    assert agg["satisfaction_std"] == pytest.approx(0.125)
    assert agg["sla_met_seeds"] == pytest.approx(0.5)
    row = metrics.method_row(_toy(), ("small", "large"), "J", task="t")
    assert row["task"] == "t" and row["method"] == "toy" and row["seeds"] == 2
    assert row["cost_mj"] == pytest.approx(3.1) and row["sla_met"]  # mean 0.625 >= 0.6
    assert row["threshold"] == pytest.approx(0.3)
    assert math.isnan(row["expected_cost_mj"])


def test_relative_costs_and_units():
    rows = [
        {"task": "a", "method": "messplus", "cost_mj": 2.0},
        {"task": "a", "method": "oracle", "cost_mj": 0.5},
        {"task": "a", "method": "x", "cost_mj": 1.0},
        {"task": "b", "method": "x", "cost_mj": 1.0},
    ]
    metrics.add_relative_costs(rows)
    assert rows[2]["cost_vs_messplus"] == 0.5 and rows[2]["cost_vs_oracle"] == 2.0
    assert math.isnan(rows[3]["cost_vs_messplus"])
    assert metrics.cost_column("$") == "cost_usd" and metrics.cost_display("$")[0] == 1.0
    assert metrics.cost_column("J") == "cost_mj"
