"""The fast path: MESS+ factorised into a learner pass and a routing pass.

The predictor's training depends only on which requests were explored with feedback, never on
routing decisions (MESSPLUS.md section 2: explorations query every model). So for one stream:

1. :func:`learner_pass` runs once per *learner trajectory* ``(seed, c, learning_rate, epochs,
   feedback_rate, momentum, sparse_training)``: it draws every coin at once, trains the
   predictor on the K training events in order (a loop over K, not over T), and computes
   ``s_hat`` for the requests between two training events as one matrix product per segment
   (in row windows);
2. :func:`routing_pass` runs the queue half of the step (:func:`messjax.core.step.route_step`)
   for every (alpha, V, cost estimator, ...) cell sharing that trajectory, ``vmap``-ped.

Both passes call the same pieces as :func:`messjax.core.step.step`; ``tests/`` check that the
two paths make identical decisions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from messjax.core.episode import Summary, Totals, scan_stream
from messjax.core.predictor import (
    predict_logits,
    replay_positions,
    train_on_batch,
    train_on_example,
)
from messjax.core.step import (
    explore_prob,
    init_learner,
    init_queue,
    request_randomness,
    route_step,
    trains_on,
)
from messjax.core.types import EngineConfig, Hyperparams

#: Row windows of the segment matrix products: big ones, then small ones for the tail.
BIG_WINDOW, SMALL_WINDOW = 64, 8


@struct.dataclass
class LearnerOutput:
    """What the routing pass needs from the learner, per request: ``[T]`` / ``[T, M]``."""

    explore: jax.Array
    feedback: jax.Array
    s_hat: jax.Array


def coins(key: jax.Array, c, feedback_rate, num_requests: int, first=1):
    """Exploration and feedback coins of requests t = first..first + T - 1 (same draws as the
    step; ``first`` may be traced, for a stream read in chunks)."""
    t = first + jnp.arange(num_requests)
    u_explore, u_feedback, _ = jax.vmap(request_randomness, (None, 0))(key, t)
    return u_explore < explore_prob(t, c), u_feedback < feedback_rate


def count_training_events(key, hp: Hyperparams, mask) -> jax.Array:
    """Number of requests the predictor trains on in the stream (sizes the learner scan)."""
    explore, feedback = coins(key, hp.c, hp.feedback_rate, mask.shape[0])
    return jnp.sum(trains_on(explore, feedback, hp) & mask)


def _predict_rows(params, x_padded, s_hat, start, end, config: EngineConfig):
    """s_hat[start:end] = sigmoid(head(params, x[start:end])), in row windows."""

    def window(size):
        def body(i, carry):
            s_hat, first = carry
            lo = first + i * size
            probs = jax.nn.sigmoid(
                predict_logits(params, jax.lax.dynamic_slice_in_dim(x_padded, lo, size), config)
            )
            old = jax.lax.dynamic_slice_in_dim(s_hat, lo, size)
            valid = (lo + jnp.arange(size) < end)[:, None]
            return jax.lax.dynamic_update_slice_in_dim(
                s_hat, jnp.where(valid, probs, old), lo, 0
            ), first

        return body

    length = jnp.maximum(end - start, 0)
    n_big = length // BIG_WINDOW
    s_hat, _ = jax.lax.fori_loop(0, n_big, window(BIG_WINDOW), (s_hat, start))
    tail_start = start + n_big * BIG_WINDOW
    n_small = (end - tail_start + SMALL_WINDOW - 1) // SMALL_WINDOW
    s_hat, _ = jax.lax.fori_loop(
        0, jnp.maximum(n_small, 0), window(SMALL_WINDOW), (s_hat, tail_start)
    )
    return s_hat


def learner_pass(
    x, labels, mask, hp: Hyperparams, key, config: EngineConfig, num_events: int
) -> LearnerOutput:
    """Coins and s_hat of every request for one learner trajectory (see
    :func:`learner_segments`), from a fresh predictor."""
    learner = init_learner(key, config)
    learned, _, _ = learner_segments(
        x, labels, mask, hp, key, config, num_events, learner.params, learner.opt_state
    )
    return learned


def learner_segments(
    x,
    labels,
    mask,
    hp: Hyperparams,
    key,
    config: EngineConfig,
    num_events: int,
    params,
    opt_state,
    first=1,
) -> tuple[LearnerOutput, object, object]:
    """Coins and s_hat of every request for one learner trajectory, and the predictor after it.

    The rows are requests ``first .. first + T - 1`` of the episode, and (params, opt_state) the
    predictor before request ``first``: a stream read in chunks (:mod:`messjax.core.stream`)
    calls this once per block and carries the predictor (replay buffers are not carried: with
    ``config.replay > 0`` only ``first = 1`` from a fresh predictor is valid).

    ``num_events`` (static) must be >= the number of training events
    (:func:`count_training_events`; the stream length always suffices): it only sizes the index
    array of the events, the loop runs once per actual event. Request ``e_k`` (the k-th
    training event) is predicted with the parameters after k - 1 trainings, like every other
    request before it: segment k holds requests ``e_{k-1} + 1 .. e_k`` (0-based rows), the
    last segment the requests after the last event up to the last unmasked row (rows after it
    are padding and keep s_hat = 0).
    """
    T = x.shape[0]
    explore, feedback = coins(key, hp.c, hp.feedback_rate, T, first)
    trains = trains_on(explore, feedback, hp) & mask
    (events,) = jnp.nonzero(trains, size=num_events + 1, fill_value=T)
    num_trains = jnp.sum(trains, dtype=jnp.int32)
    rows_used = T - jnp.argmax(mask[::-1])  # one past the last unmasked row (T if none)
    starts = jnp.concatenate([jnp.zeros((1,), events.dtype), events[:-1] + 1])
    ends = jnp.minimum(events + 1, rows_used)
    rows = jnp.minimum(events, T - 1)
    # The training keys of all events at once (the same draws as the step's, request t = row + 1).
    _, _, train_keys = jax.vmap(request_randomness, (None, 0))(key, rows + first)
    x_padded = jnp.concatenate([x, jnp.zeros((BIG_WINDOW, x.shape[1]), x.dtype)])
    s_hat0 = jnp.zeros((T + BIG_WINDOW, config.num_models), x.dtype)

    def segment(k, carry):
        params, opt_state, s_hat = carry
        s_hat = _predict_rows(params, x_padded, s_hat, starts[k], ends[k], config)
        row = rows[k]
        epochs = jnp.where(events[k] < T, hp.epochs, 0)
        if config.replay == 0:
            params, opt_state = train_on_example(
                params,
                opt_state,
                x[row],
                labels[row],
                train_keys[k],
                hp.learning_rate,
                epochs,
                config,
                hp.momentum,
            )
        else:
            # The step's ring buffer after k + 1 insertions: position j holds event
            # k - ((k - j) mod replay).
            j = replay_positions(train_keys[k], k + 1, config)
            replayed = rows[k - (k - j) % config.replay]
            xb = jnp.concatenate([x[row][None], x[replayed]])
            yb = jnp.concatenate([labels[row][None], labels[replayed]])
            params, opt_state = train_on_batch(
                params,
                opt_state,
                xb,
                yb,
                train_keys[k],
                hp.learning_rate,
                epochs,
                config,
                hp.momentum,
            )
        return params, opt_state, s_hat

    # num_trains + 1 segments: one per training event, then the tail after the last one.
    params, opt_state, s_hat = jax.lax.fori_loop(
        0, num_trains + 1, segment, (params, opt_state, s_hat0)
    )
    return LearnerOutput(explore=explore, feedback=feedback, s_hat=s_hat[:T]), params, opt_state


def routing_pass(
    learned: LearnerOutput,
    labels,
    costs,
    mask,
    hp: Hyperparams,
    config: EngineConfig,
    trace_every: int = 0,
):
    """The queue half of MESS+ over a stream, given the learner's output. Returns
    ``(Summary, trace)`` exactly like :func:`messjax.core.episode.run_episode`."""

    def body(carry, inp):
        queue, totals = carry
        explore, feedback, s_hat, lab, cost = inp
        queue, out = route_step(queue, explore, feedback, s_hat, lab, cost, hp, config)
        return (queue, totals.add_step(out, hp.alpha)), None

    carry = (init_queue(config), Totals.zeros(config.num_models))
    inputs = (learned.explore, learned.feedback, learned.s_hat, labels, costs)
    (_, totals), trace = scan_stream(body, carry, inputs, mask, trace_every)
    trace = None if trace is None else trace[1]
    return Summary.from_totals(totals, hp.alpha), trace
