"""Streams longer than memory: one episode read in chunks, memory flat in the stream length.

A provider's day is millions of requests in one stream; its [T, d] feature matrix does not fit
in memory (1e7 requests of 384-d float32 features are 15 GB). :func:`run_stream` reads the
requests from a host-side iterator in fixed-size chunks and feeds each chunk to one jitted
*chunk function* that carries the episode's state from chunk to chunk (the carry's buffers are
donated, so the device holds one state and one chunk at a time). Only the running
:class:`~messjax.core.episode.Totals` come back: the :class:`~messjax.core.episode.Summary` and a
decimated trace (totals every ``trace_every`` requests).

The rule is not copied here. A policy is its ``init(key, config, hp, params)``,
``step(state, request, hp, params, config) -> (state, output)``, the ``fold(totals, output,
alpha)`` of an output into the running totals and its ``default_params()`` (:class:`Policy`;
``params`` is the policy's own vmappable hyperparameters, None for MESS+). Two policies are
registered: ``"messplus"`` (the paper's step) and ``"messjax"`` (the project's own,
:mod:`messjax.core.policy`, with its :class:`~messjax.core.policy.PolicyParams`). Two chunk
functions run them:

- ``"generic"``: :func:`messjax.core.episode.scan_stream` of the policy's step over the chunk,
  exactly the scan of :func:`messjax.core.episode.run_episode`; the chunked episode equals the
  whole-stream episode bit for bit (tested, for MESS+'s ``run_episode`` and the messjax
  policy's :func:`messjax.core.policy.run_episode`);
- ``"fast"`` (MESS+ only, ``config.replay == 0``): the factorisation of
  :mod:`messjax.core.fast` per chunk, the predictor carried across chunks. The chunk is cut
  into blocks of ``block`` requests; each block is one
  :func:`~messjax.core.fast.learner_segments` (s_hat between two training events as matrix
  products), then :func:`~messjax.core.step.route_step` is scanned over the chunk. Results do
  not depend on the chunk size (any multiple of ``block``: bit-identical, tested) and make the
  generic step's decisions (tested in float64).

Other policies plug in with :func:`register_policy` (or by passing a :class:`Policy`); they run
on the generic chunk function.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from messjax.core import policy as messjax_policy
from messjax.core.episode import Summary, Totals, scan_stream
from messjax.core.fast import learner_segments
from messjax.core.step import init_learner, init_queue, init_state, route_step, step
from messjax.core.types import EngineConfig, Hyperparams, Request
from messjax.data.streams import rechunk
from messjax.errors import ConfigError

#: Requests per chunk fed to the device (x alone: 32,768 x 384 float32 = 50 MB).
DEFAULT_CHUNK = 1 << 15
#: Requests per learner block of the fast chunk function (results are invariant to the chunk
#: size as long as it is a multiple of this).
DEFAULT_BLOCK = 4096


def _no_params() -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Policy:
    """A routing policy as the stream runner sees it.

    Attributes:
      name: registry name.
      init: ``init(key, config, hp, params) -> state`` at the start of an episode.
      step: ``step(state, request, hp, params, config) -> (state, output)`` for one request
        (a :class:`~messjax.core.types.Request`).
      fold: ``fold(totals, output, alpha) -> totals``: one request's output into the running
        :class:`Totals` (default :meth:`Totals.add_step`, for MESS+'s ``StepOutput``).
      default_params: ``() -> params`` when the caller passes none (a pytree of arrays, or
        None for a policy without parameters of its own).
      fast: the policy is MESS+ and may use the factorised ``"fast"`` chunk function.
    """

    name: str
    init: Callable
    step: Callable
    fold: Callable = Totals.add_step
    default_params: Callable = _no_params
    fast: bool = False


def _messplus_init(key, config, hp, params):
    return init_state(key, config)


def _messplus_step(state, request, hp, params, config):
    return step(state, request, hp, config)


def _messjax_init(key, config, hp, params):
    return messjax_policy.init_policy(key, config.num_models, config.feature_dim, hp, params)


def _messjax_step(state, request, hp, params, config):
    return messjax_policy.step(state, request.x, request.labels, request.costs, hp, params)


#: The registered policies, by name (:func:`register_policy` adds one).
POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("messplus", _messplus_init, _messplus_step, fast=True),
        Policy(
            "messjax",
            _messjax_init,
            _messjax_step,
            fold=messjax_policy.add_totals,
            default_params=messjax_policy.default_policy_params,
        ),
    )
}


def register_policy(
    name: str,
    init: Callable,
    step_fn: Callable,
    *,
    fold: Callable = Totals.add_step,
    default_params: Callable = _no_params,
) -> Policy:
    """Make ``name`` a policy of :func:`run_stream` (and ``messjax bench --scale``)."""
    policy = Policy(name, init, step_fn, fold=fold, default_params=default_params)
    POLICIES[name] = policy
    return policy


def get_policy(policy: str | Policy) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if policy not in POLICIES:
        raise ConfigError(
            "policy", f"unknown policy {policy!r}; known: {', '.join(sorted(POLICIES))}"
        )
    return POLICIES[policy]


# ------------------------------------------------------------------------- chunk functions
@functools.partial(
    jax.jit, static_argnames=("step_fn", "fold", "config", "trace_every"), donate_argnums=(0,)
)
def _generic_chunk(
    carry, x, labels, costs, mask, hp, params, *, step_fn, fold, config, trace_every
):
    """(state, totals) after the chunk, and the chunk's trace points (totals every k rows)."""

    def body(carry, request):
        state, totals = carry
        state, out = step_fn(state, request, hp, params, config)
        return (state, fold(totals, out, hp.alpha)), None

    requests = Request(x=x, labels=labels, costs=costs)
    carry, trace = scan_stream(body, carry, requests, mask, trace_every)
    return carry, (None if trace is None else trace[1])


@functools.partial(jax.jit, static_argnames=("config", "trace_every", "block"), donate_argnums=(0,))
def _fast_chunk(carry, x, labels, costs, mask, hp, key, *, config, trace_every, block):
    """The factorised MESS+ over one chunk: learner blocks, then the routing scan."""
    params, opt_state, t, queue, totals = carry
    C = x.shape[0]

    def learn(c, blk):
        params, opt_state, t = c
        xb, lb, mb = blk
        out, params, opt_state = learner_segments(
            xb, lb, mb, hp, key, config, block, params, opt_state, first=t + 1
        )
        return (params, opt_state, t + jnp.sum(mb, dtype=t.dtype)), out

    blocks = jax.tree.map(lambda a: a.reshape(C // block, block, *a.shape[1:]), (x, labels, mask))
    (params, opt_state, t), learned = jax.lax.scan(learn, (params, opt_state, t), blocks)
    learned = jax.tree.map(lambda a: a.reshape(C, *a.shape[2:]), learned)

    def body(c, inp):
        queue, totals = c
        explore, feedback, s_hat, lab, cost = inp
        queue, out = route_step(queue, explore, feedback, s_hat, lab, cost, hp, config)
        return (queue, totals.add_step(out, hp.alpha)), None

    inputs = (learned.explore, learned.feedback, learned.s_hat, labels, costs)
    (queue, totals), trace = scan_stream(body, (queue, totals), inputs, mask, trace_every)
    return (params, opt_state, t, queue, totals), (None if trace is None else trace[1])


# ------------------------------------------------------------------------------ the runner
@dataclasses.dataclass
class StreamResult:
    """What :func:`run_stream` returns (NumPy).

    Attributes:
      summary: the episode's :class:`Summary`.
      trace: :class:`Totals` stacked over the trace points (after request k, 2k, ...), or None.
      trace_every: k.
      num_requests: requests read.
      chunks: jitted calls made.
      method: ``"fast"`` or ``"generic"``.
      first_chunk_s: wall time of the first chunk (includes compiling, unless warm).
      seconds: wall time of the whole stream.
    """

    summary: Summary
    trace: Totals | None
    trace_every: int
    num_requests: int
    chunks: int
    method: str
    first_chunk_s: float
    seconds: float


def _as_key(seed_or_key) -> jax.Array:
    if isinstance(seed_or_key, int | np.integer):
        return jax.random.PRNGKey(int(seed_or_key))
    return jnp.asarray(seed_or_key)


def resolve_method(policy: Policy, config: EngineConfig, method: str) -> str:
    if method not in ("auto", "fast", "generic"):
        raise ConfigError("method", f"unknown method {method!r}; choose auto, fast or generic")
    fast_ok = policy.fast and config.replay == 0
    if method == "fast" and not fast_ok:
        raise ConfigError(
            "method",
            f"the fast chunk function runs MESS+ without replay only (policy {policy.name!r}, "
            f"replay={config.replay})",
        )
    if method == "auto":
        return "fast" if fast_ok else "generic"
    return method


class StreamRunner:
    """The jitted chunk function of one (policy, config, chunk size) and its carry.

    :func:`run_stream` is the usual entry point; the runner exists so that a benchmark can
    compile (:meth:`warm_up`) before it starts the clock.
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        policy: str | Policy = "messplus",
        method: str = "auto",
        chunk_size: int = DEFAULT_CHUNK,
        trace_every: int = 0,
        block: int = DEFAULT_BLOCK,
    ):
        self.policy = get_policy(policy)
        self.config = config
        self.method = resolve_method(self.policy, config, method)
        if chunk_size < 1:
            raise ConfigError("chunk_size", f"must be >= 1, got {chunk_size}")
        if trace_every < 0 or (trace_every and chunk_size % trace_every):
            raise ConfigError(
                "trace_every",
                f"must be 0 or divide chunk_size={chunk_size}, got {trace_every}",
            )
        if self.method == "fast" and chunk_size % block:
            raise ConfigError(
                "chunk_size", f"must be a multiple of the learner block {block}, got {chunk_size}"
            )
        self.chunk_size, self.trace_every, self.block = chunk_size, trace_every, block

    def params(self, params=None) -> Any:
        """The policy's parameters: ``params``, or the policy's defaults when None."""
        return self.policy.default_params() if params is None else params

    def init(self, key, hp: Hyperparams, params=None) -> Any:
        """The carry at the start of the episode (each leaf its own buffer, for donation)."""
        totals = Totals.zeros(self.config.num_models)
        if self.method == "generic":
            carry = (self.policy.init(key, self.config, hp, self.params(params)), totals)
        else:
            learner = init_learner(key, self.config)
            carry = (learner.params, learner.opt_state, learner.t, init_queue(self.config), totals)
        return jax.tree.map(lambda a: jnp.array(a, copy=True), carry)

    def totals(self, carry) -> Totals:
        return carry[-1]

    def chunk(self, carry, x, labels, costs, mask, hp: Hyperparams, key, params=None):
        """One jitted call: the carry after ``x, labels, costs`` (rows with mask False are
        skipped) and the chunk's trace points (or None)."""
        if self.method == "generic":
            return _generic_chunk(
                carry,
                x,
                labels,
                costs,
                mask,
                hp,
                self.params(params),
                step_fn=self.policy.step,
                fold=self.policy.fold,
                config=self.config,
                trace_every=self.trace_every,
            )
        return _fast_chunk(
            carry,
            x,
            labels,
            costs,
            mask,
            hp,
            key,
            config=self.config,
            trace_every=self.trace_every,
            block=self.block,
        )

    def warm_up(self, hp: Hyperparams, params=None) -> float:
        """Compile the chunk function on an all-padding chunk; returns the seconds taken."""
        t0 = time.perf_counter()
        key = jax.random.PRNGKey(0)
        C, d, M = self.chunk_size, self.config.feature_dim, self.config.num_models
        dt = jnp.result_type(float)
        zeros = (jnp.zeros((C, d), dt), jnp.zeros((C, M), dt), jnp.zeros((C, M), dt))
        params = self.params(params)
        carry = self.init(key, hp, params)
        out = self.chunk(carry, *zeros, jnp.zeros((C,), bool), hp, key, params)
        jax.block_until_ready(out)
        return time.perf_counter() - t0

    def run(
        self, chunks: Iterable, hp: Hyperparams, seed_or_key, progress=None, params=None
    ) -> StreamResult:
        """Run one episode over ``chunks`` (see :func:`run_stream`)."""
        t_start = time.perf_counter()
        key = _as_key(seed_or_key)
        params = self.params(params)
        carry = self.init(key, hp, params)
        C, dt = self.chunk_size, jnp.result_type(float)
        trace_parts, n, calls, first_s = [], 0, 0, 0.0
        pending = None  # the previous chunk's trace, fetched after the next chunk is dispatched
        for x, labels, costs in rechunk(chunks, C):
            rows = len(x)
            if x.ndim != 2 or x.shape[1] != self.config.feature_dim:
                raise ConfigError(
                    "stream",
                    f"features must be [rows, {self.config.feature_dim}], got {x.shape}",
                )
            if labels.shape[1:] != (self.config.num_models,) or labels.shape != costs.shape:
                raise ConfigError(
                    "stream",
                    f"labels and costs must be [rows, {self.config.num_models}], got "
                    f"{labels.shape} and {costs.shape}",
                )
            mask = np.arange(C) < rows
            if rows < C:  # the last chunk: pad with masked rows (one more compilation avoided)
                x, labels, costs = (
                    np.concatenate([a, np.zeros((C - rows, *a.shape[1:]), a.dtype)])
                    for a in (x, labels, costs)
                )
            carry, trace = self.chunk(
                carry,
                jnp.asarray(x, dt),
                jnp.asarray(labels, dt),
                jnp.asarray(costs, dt),
                jnp.asarray(mask),
                hp,
                key,
                params,
            )
            if pending is not None:
                trace_parts.append(jax.tree.map(np.asarray, pending))
            pending = trace
            n += rows
            calls += 1
            if calls == 1:
                jax.block_until_ready(carry)
                first_s = time.perf_counter() - t_start
            if progress is not None:
                progress(n)
        if calls == 0:
            raise ConfigError("stream", "the stream has no requests")
        if pending is not None:
            trace_parts.append(jax.tree.map(np.asarray, pending))
        totals = jax.tree.map(np.asarray, self.totals(carry))
        trace = None
        if self.trace_every > 0:
            trace = jax.tree.map(lambda *a: np.concatenate(a), *trace_parts)
            points = n // self.trace_every  # drop points that fall in the last chunk's padding
            trace = jax.tree.map(lambda a: a[:points], trace)
        summary = jax.tree.map(np.asarray, Summary.from_totals(totals, np.asarray(hp.alpha)))
        return StreamResult(
            summary=summary,
            trace=trace,
            trace_every=self.trace_every,
            num_requests=n,
            chunks=calls,
            method=self.method,
            first_chunk_s=first_s,
            seconds=time.perf_counter() - t_start,
        )


def run_stream(
    chunks: Iterable,
    hp: Hyperparams,
    seed_or_key,
    config: EngineConfig,
    *,
    policy: str | Policy = "messplus",
    method: str = "auto",
    chunk_size: int = DEFAULT_CHUNK,
    trace_every: int = 0,
    block: int = DEFAULT_BLOCK,
    params=None,
    progress=None,
) -> StreamResult:
    """One episode of ``policy`` over a stream read in chunks.

    Args:
      chunks: an iterable of ``(x[rows, d], labels[rows, M], costs[rows, M])`` pieces of any
        lengths, in arrival order (e.g. :meth:`messjax.data.SyntheticStream.chunks`, or a
        reader of a file too large for memory); they are regrouped into chunks of
        ``chunk_size`` rows.
      hp: scalar :class:`Hyperparams` (one cell).
      seed_or_key: the episode's seed (int) or PRNG key.
      config: the :class:`EngineConfig`.
      policy: a registered policy name (``"messplus"``, ``"messjax"``) or a :class:`Policy`.
      method: ``"auto"`` (fast for MESS+ without replay, else generic), ``"fast"`` or
        ``"generic"``.
      chunk_size: rows per jitted call (a multiple of ``block`` for the fast method and of
        ``trace_every``); results do not depend on it.
      trace_every: keep the running totals every k requests (0: none).
      block: learner block of the fast method (its results depend on it in the last float
        bits, as the row windows of the matrix products do).
      params: the policy's own parameters (for ``"messjax"`` a scalar
        :class:`~messjax.core.policy.PolicyParams`); None: the policy's defaults
        (:func:`~messjax.core.policy.default_policy_params`).
      progress: optional ``progress(requests_done)``.

    Memory: one chunk on the host and the device plus the carried state; the trace grows by
    one :class:`Totals` per ``trace_every`` requests.
    """
    runner = StreamRunner(
        config,
        policy=policy,
        method=method,
        chunk_size=chunk_size,
        trace_every=trace_every,
        block=block,
    )
    return runner.run(chunks, hp, seed_or_key, progress=progress, params=params)


def chunk_for(target: int, *multiples: int) -> int:
    """The multiple of lcm(``multiples``) nearest ``target`` (at least one)."""
    m = math.lcm(*[k for k in multiples if k > 0] or [1])
    return max(m, round(target / m) * m)
