"""An episode: the MESS+ step scanned over one request stream (PureJaxRL style).

``run_episode(stream, hp, key, config)`` is a pure function of arrays, so
``jax.jit(jax.vmap(run_episode, ...))`` runs a grid of episodes at once (see
:mod:`messjax.core.sweep`). Streams may be padded to a common length with ``mask = False``
rows, which leave the state untouched.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from messjax.core.step import init_state, step
from messjax.core.types import EngineConfig, Hyperparams, Request, StepOutput, float_dtype


@struct.dataclass
class Stream:
    """A request stream in arrival order: ``Request`` fields stacked over T, plus a mask."""

    x: jax.Array  # [T, d]
    labels: jax.Array  # [T, M]
    costs: jax.Array  # [T, M]
    mask: jax.Array  # [T] bool, False on padding

    @property
    def requests(self) -> Request:
        return Request(x=self.x, labels=self.labels, costs=self.costs)


@struct.dataclass
class Totals:
    """Running sums over an episode; the summary and every trace point are made from these."""

    num_requests: jax.Array
    total_cost: jax.Array
    satisfied: jax.Array  # number of satisfied (served) requests
    explore_count: jax.Array
    feedback_count: jax.Array
    served_counts: jax.Array  # [M] which model's answer was served
    query_counts: jax.Array  # [M] which models were run (all of them on explorations)
    cumulative_violation: jax.Array  # sum_t max(0, alpha - running satisfaction after t)
    max_queue: jax.Array
    virtual_queue: jax.Array
    ideal_queue: jax.Array

    @classmethod
    def zeros(cls, num_models: int) -> Totals:
        dt = float_dtype()
        z = jnp.zeros((), dt)
        return cls(
            num_requests=jnp.zeros((), jnp.int32),
            total_cost=z,
            satisfied=z,
            explore_count=jnp.zeros((), jnp.int32),
            feedback_count=jnp.zeros((), jnp.int32),
            served_counts=jnp.zeros((num_models,), jnp.int32),
            query_counts=jnp.zeros((num_models,), jnp.int32),
            cumulative_violation=z,
            max_queue=z,
            virtual_queue=z,
            ideal_queue=z,
        )

    def add_step(self, out: StepOutput, alpha) -> Totals:
        """Fold one MESS+ request's outcome in (every model queried on an exploration)."""
        M = self.served_counts.shape[0]
        one_hot = jnp.arange(M) == out.model
        return self.add(
            model=out.model,
            queried=jnp.where(out.explore, jnp.ones((M,), bool), one_hot),
            explore=out.explore,
            feedback=out.feedback,
            satisfaction=out.satisfaction,
            cost=out.cost,
            queue=out.virtual_queue,
            ideal_queue=out.ideal_queue,
            alpha=alpha,
        )

    def add(
        self, *, model, queried, explore, feedback, satisfaction, cost, queue, ideal_queue, alpha
    ) -> Totals:
        """Fold one request in: the served ``model``, the ``queried`` mask [M], and the
        decision queue after the request (any policy's).

        ``cumulative_violation`` accumulates the positive part of the running shortfall,
        ``sum_t max(0, alpha - sat_t)`` with ``sat_t`` the satisfaction rate after request t.
        """
        M = self.served_counts.shape[0]
        n = self.num_requests + 1
        satisfied = self.satisfied + satisfaction
        return Totals(
            num_requests=n,
            total_cost=self.total_cost + cost,
            satisfied=satisfied,
            explore_count=self.explore_count + explore,
            feedback_count=self.feedback_count + feedback,
            served_counts=self.served_counts + (jnp.arange(M) == model).astype(jnp.int32),
            query_counts=self.query_counts + queried.astype(jnp.int32),
            cumulative_violation=self.cumulative_violation
            + jnp.maximum(0.0, alpha - satisfied / n),
            max_queue=jnp.maximum(self.max_queue, queue),
            virtual_queue=queue,
            ideal_queue=ideal_queue,
        )


@struct.dataclass
class Summary:
    """What an episode returns (per cell of a sweep)."""

    num_requests: jax.Array
    total_cost: jax.Array
    satisfaction: jax.Array  # final share of satisfied requests (not a mean of running means)
    sla_met: jax.Array  # satisfaction >= alpha
    explore_count: jax.Array
    feedback_count: jax.Array
    served_counts: jax.Array  # [M]
    query_counts: jax.Array  # [M]
    cumulative_violation: jax.Array
    max_queue: jax.Array
    final_queue: jax.Array
    final_ideal_queue: jax.Array

    @classmethod
    def from_totals(cls, totals: Totals, alpha) -> Summary:
        n = jnp.maximum(totals.num_requests, 1)
        satisfaction = totals.satisfied / n
        return cls(
            num_requests=totals.num_requests,
            total_cost=totals.total_cost,
            satisfaction=satisfaction,
            sla_met=satisfaction >= alpha,
            explore_count=totals.explore_count,
            feedback_count=totals.feedback_count,
            served_counts=totals.served_counts,
            query_counts=totals.query_counts,
            cumulative_violation=totals.cumulative_violation,
            max_queue=totals.max_queue,
            final_queue=totals.virtual_queue,
            final_ideal_queue=totals.ideal_queue,
        )


def _where(pred, new, old):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def scan_stream(step_fn, carry, inputs, mask, trace_every: int):
    """Scan ``step_fn(carry, input) -> (carry, totals)`` over a stream.

    Masked rows keep the carry. With ``trace_every = k > 0`` the stream length must be a
    multiple of k and the k-th, 2k-th, ... totals are returned (a decimated trace);
    otherwise no trace is kept.
    """

    def masked(carry, inp):
        x, valid = inp
        new, _ = step_fn(carry, x)
        return _where(valid, new, carry), None

    if trace_every <= 0:
        carry, _ = jax.lax.scan(masked, carry, (inputs, mask))
        return carry, None
    T = mask.shape[0]
    blocks = jax.tree.map(
        lambda a: a.reshape(T // trace_every, trace_every, *a.shape[1:]), (inputs, mask)
    )

    def block(carry, inp):
        carry, _ = jax.lax.scan(masked, carry, inp)
        return carry, carry

    return jax.lax.scan(block, carry, blocks)


def run_episode(
    stream: Stream, hp: Hyperparams, key: jax.Array, config: EngineConfig, trace_every: int = 0
):
    """MESS+ over one stream with the generic (exact, every-variant) step.

    Returns ``(Summary, trace)``; ``trace`` is ``None`` unless ``trace_every > 0``, then a
    :class:`Totals` stacked over the T / trace_every trace points.
    """

    def body(carry, request):
        state, totals = carry
        state, out = step(state, request, hp, config)
        return (state, totals.add_step(out, hp.alpha)), None

    carry = (init_state(key, config), Totals.zeros(config.num_models))
    (_, totals), trace = scan_stream(body, carry, stream.requests, stream.mask, trace_every)
    trace = None if trace is None else trace[1]
    return Summary.from_totals(totals, hp.alpha), trace
