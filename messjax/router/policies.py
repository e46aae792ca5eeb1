"""The routing policies behind one interface: ``messplus`` (the paper's MESS+,
:mod:`messjax.core.step`) and ``messjax`` (:mod:`messjax.core.policy`). An adapter holds what
differs: state init, decide (one and vmapped), observe (with the no-feedback path), the query
set, queues and cost estimate."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from messjax.core import policy as mj_policy
from messjax.core.step import decide, init_state, observe
from messjax.core.types import (
    Decision,
    EngineConfig,
    Request,
    float_dtype,
    make_hparams,
)
from messjax.data.table import validate_arrays
from messjax.errors import MessjaxError
from messjax.router.tickets import Ticket


def _keep(cond, new, old):
    """``new`` where ``cond`` holds, else ``old`` (leaf by leaf)."""
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _observe_live(state, decision, request, hp, config, t, known, cost_known):
    """:func:`messjax.core.step.observe` for request ``t``; ``known`` False = no outcome,
    ``cost_known[m]`` False = model m's cost was not observed (charged as 0).

    Without an outcome the feedback flag is cleared (the decision queue stays, the cost is
    charged), the predictor's parameters and optimiser state stay (nothing is trained, even
    under ``all_explorations``, which trains on explorations without feedback: here there
    are no labels at all), and the ideal queue, a simulator's monitor of "every outcome
    known", stays too. A cost not observed leaves that model's cost estimate as it was.
    """
    decision = decision.replace(feedback=decision.feedback & known)
    new, out = observe(state, decision, request, hp, config, t)
    old_l, new_l = state.learner, new.learner
    learner = new_l.replace(
        params=_keep(known, new_l.params, old_l.params),
        opt_state=_keep(known, new_l.opt_state, old_l.opt_state),
    )
    if old_l.replay is not None:
        learner = learner.replace(replay=_keep(known, new_l.replay, old_l.replay))
    q_old, q_new = state.queue, new.queue
    queue = q_new.replace(
        ideal_queue=jnp.where(known, q_new.ideal_queue, q_old.ideal_queue),
        cost_estimate=jnp.where(cost_known, q_new.cost_estimate, q_old.cost_estimate),
        cost_sum=jnp.where(cost_known, q_new.cost_sum, q_old.cost_sum),
        cost_count=jnp.where(cost_known, q_new.cost_count, q_old.cost_count),
    )
    return new.replace(learner=learner, queue=queue), out


def _decide_batch(state, xs, hp, config, costs, ts):
    if costs is None:
        costs = jnp.broadcast_to(state.queue.cost_estimate, (xs.shape[0], config.num_models))
    return jax.vmap(lambda x, c, t: decide(state, x, hp, config, c, t))(xs, costs, ts)


def _host(decision: Decision) -> dict[str, np.ndarray]:
    host = jax.device_get(decision)
    return {f.name: np.asarray(getattr(host, f.name)) for f in dataclasses.fields(host)}


def _observe_messjax(state, decision, x, labels, costs, hp, pp, known, cost_known):
    """:func:`messjax.core.policy.observe`; ``known`` False = no outcome, ``cost_known[m]``
    False = model m's cost was not observed (charged as 0).

    Without an outcome the feedback flag is cleared, so the deficit takes the policy's
    pessimistic imputation and nothing trains (the cost is still charged); the realised
    deficit, a monitor of the true outcomes, stays. A cost not observed leaves that model's
    cost estimate (its sum and count) as it was.
    """
    decision = decision.replace(feedback=decision.feedback & known)
    new, out = mj_policy.observe(state, decision, x, labels, costs, hp, pp)
    return new.replace(
        realised_deficit=jnp.where(known, new.realised_deficit, state.realised_deficit),
        cost_sum=jnp.where(cost_known, new.cost_sum, state.cost_sum),
        cost_count=jnp.where(cost_known, new.cost_count, state.cost_count),
    ), out


def _decide_batch_messjax(state, xs, hp, pp, ts):
    return jax.vmap(lambda x, t: mj_policy.decide(state, x, hp, pp, t))(xs, ts)


class _MessPlusPolicy:
    """The paper's MESS+ (:mod:`messjax.core.step`) behind the router's policy interface."""

    name = "messplus"

    def __init__(self, config: EngineConfig):
        self.config = config
        self._decide = jax.jit(decide, static_argnames="config")
        self._decide_batch = jax.jit(_decide_batch, static_argnames="config")
        self._observe = jax.jit(_observe_live, static_argnames="config")

    def init(self, key, hp, pp):
        return init_state(key, self.config)

    def make_params(self, hparams: dict[str, Any]):
        unknown = set(hparams) & set(mj_policy.POLICY_PARAM_NAMES)
        if unknown:
            raise MessjaxError(
                f"{sorted(unknown)} are messjax policy parameters, not messplus ones"
            )
        return make_hparams(**hparams), None

    def decide(self, state, x, hp, pp, costs, t):
        return self._decide(state, x, hp, self.config, costs, t)

    def decide_batch(self, state, xs, hp, pp, costs, ts):
        return self._decide_batch(state, xs, hp, self.config, costs, ts)

    def queried(self, d: dict[str, np.ndarray]) -> tuple[int, ...]:
        return tuple(range(self.config.num_models)) if bool(d["explore"]) else (int(d["model"]),)

    def observe(self, state, ticket: Ticket, request: Request, hp, pp, known, cost_known):
        new, out = self._observe(
            state,
            ticket.decision(),
            request,
            hp,
            self.config,
            np.int32(ticket.index),
            known,
            cost_known,
        )
        return new, out, out.virtual_queue

    def num_observed(self, state) -> int:
        return int(state.learner.t)

    def queues(self, state) -> tuple[float, float]:
        return float(state.queue.virtual_queue), float(state.queue.ideal_queue)

    def cost_estimate(self, state) -> np.ndarray:
        return np.asarray(state.queue.cost_estimate, np.float64)


class _MessjaxPolicy:
    """The ``messjax`` policy (:mod:`messjax.core.policy`) behind the same interface.

    Its ``queried`` mask replaces "explore = query every model"; its request numbers are the
    router's (``decide(..., t=n)``), so a router fed a stream one request at a time decides
    exactly like :func:`messjax.core.policy.run_episode`.
    """

    name = "messjax"

    def __init__(self, config: EngineConfig):
        self.config = config
        self._decide = jax.jit(mj_policy.decide)
        self._decide_batch = jax.jit(_decide_batch_messjax)
        self._observe = jax.jit(_observe_messjax)

    def init(self, key, hp, pp):
        return mj_policy.init_policy(key, self.config.num_models, self.config.feature_dim, hp, pp)

    def make_params(self, hparams: dict[str, Any]):
        pp = {k: hparams.pop(k) for k in list(hparams) if k in mj_policy.POLICY_PARAM_NAMES}
        return mj_policy.default_hparams(**hparams), mj_policy.default_policy_params(**pp)

    def decide(self, state, x, hp, pp, costs, t):
        if costs is not None:
            raise MessjaxError("the messjax policy takes no costs in route()")
        return self._decide(state, x, hp, pp, t)

    def decide_batch(self, state, xs, hp, pp, costs, ts):
        if costs is not None:
            raise MessjaxError("the messjax policy takes no costs in route_batch()")
        return self._decide_batch(state, xs, hp, pp, ts)

    def queried(self, d: dict[str, np.ndarray]) -> tuple[int, ...]:
        return tuple(int(m) for m in np.flatnonzero(d["queried"]))

    def observe(self, state, ticket: Ticket, request: Request, hp, pp, known, cost_known):
        dt = float_dtype()
        M = self.config.num_models
        mask = np.zeros(M, bool)
        mask[list(ticket.query_set(M))] = True
        # observe reads model, queried, explore and feedback; the rest is informational
        decision = mj_policy.PolicyDecision(
            model=np.int32(ticket.model),
            queried=mask,
            explore=np.bool_(ticket.explore),
            feedback=np.bool_(ticket.feedback),
            s_hat=np.asarray(ticket.s_hat, dt),
            price=np.zeros((), dt),
            posterior_mean=np.zeros(M, dt),
            cost_estimate=np.asarray(ticket.cost_estimate, dt),
        )
        new, out = self._observe(
            state, decision, request.x, request.labels, request.costs, hp, pp, known, cost_known
        )
        return new, out, out.deficit

    def num_observed(self, state) -> int:
        return int(state.t)

    def warm(self, state, xs, labels, costs, hp, pp, models):
        """:func:`messjax.core.policy.warm_start` on checked history ``[N, M]``."""
        M = self.config.num_models
        labels, costs = (np.asarray(a, np.float64) for a in (labels, costs))
        for name, a in (("labels", labels), ("costs", costs)):
            if a.shape != (len(xs), M):
                raise MessjaxError(
                    f"warm start: {name} have shape {a.shape}, expected {(len(xs), M)}"
                )
        validate_arrays(labels, costs, models, source="warm start history")
        dt = float_dtype()
        args = (jnp.asarray(a, dt) for a in (xs, labels, costs))
        return mj_policy.warm_start(state, *args, jnp.ones(len(xs), bool), hp, pp)

    def queues(self, state) -> tuple[float, float]:
        return float(state.deficit), float(state.realised_deficit)

    def cost_estimate(self, state) -> np.ndarray:
        return np.asarray(mj_policy.cost_estimate(state), np.float64)


#: the routing policies of :meth:`Router.create`
POLICIES = {"messjax": _MessjaxPolicy, "messplus": _MessPlusPolicy}


def _policy(name: str, config: EngineConfig):
    if name not in POLICIES:
        raise MessjaxError(f"unknown policy {name!r}: choose one of {sorted(POLICIES)}")
    return POLICIES[name](config)
