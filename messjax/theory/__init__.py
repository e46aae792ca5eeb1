"""The drift-plus-penalty guarantees of MESS+ with explicit constants, and checks against them
(``messjax theory``).

- :mod:`~messjax.theory.bounds`: the derivation (setting, assumptions, Theorems 0-2 with their
  constants), the bound formulas and the slope fits;
- :mod:`~messjax.theory.zoo`: the typed i.i.d. zoo whose optimal static policy is an exact LP
  (:func:`messjax.lp.optimal_static_policy`);
- :mod:`~messjax.theory.engine` and :mod:`~messjax.theory.checks`: every bound measured with the
  vmapped engine (:func:`run_checks`);
- :mod:`~messjax.theory.policy`: what the guarantees still give for the ``messjax`` policy, and
  its slopes on the same streams (:func:`run_policy_checks`).

The names below are re-exported so that ``from messjax import theory; theory.run_checks(...)``
reads as one module.
"""

from messjax.lp import StaticPolicy, optimal_static_policy
from messjax.theory.bounds import (
    cost_gap_bound,
    drift_constant,
    expected_explorations,
    explorations_asymptote,
    fit_power_law,
    greedy_satisfaction,
    loglog_slope,
    lundberg_exponent,
    queue_bound,
    violation_bound,
    violation_bound_dual,
)
from messjax.theory.checks import CHECK_TARGETS, run_checks
from messjax.theory.engine import FULL, QUICK, TheorySizes, theory_engine_config
from messjax.theory.policy import (
    POLICY_CHECK_RANGES,
    POLICY_FULL,
    POLICY_QUICK,
    PolicyTheorySizes,
    credit_exponent,
    run_policy_checks,
    tracked_satisfaction,
)
from messjax.theory.zoo import TypedStream, TypedZoo, typed_zoo, zoo_policy

__all__ = [
    "CHECK_TARGETS",
    "FULL",
    "POLICY_CHECK_RANGES",
    "POLICY_FULL",
    "POLICY_QUICK",
    "QUICK",
    "PolicyTheorySizes",
    "StaticPolicy",
    "TheorySizes",
    "TypedStream",
    "TypedZoo",
    "cost_gap_bound",
    "credit_exponent",
    "drift_constant",
    "expected_explorations",
    "explorations_asymptote",
    "fit_power_law",
    "greedy_satisfaction",
    "loglog_slope",
    "lundberg_exponent",
    "optimal_static_policy",
    "queue_bound",
    "run_checks",
    "run_policy_checks",
    "theory_engine_config",
    "tracked_satisfaction",
    "typed_zoo",
    "violation_bound",
    "violation_bound_dual",
    "zoo_policy",
]
