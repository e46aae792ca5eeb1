"""The MESS+ rule for one request (MESSPLUS.md section 2), written once.

A request passes four pure functions, in this order:

1. :func:`learner_decide` — exploration coin ``X_t ~ Bernoulli(min(1, c / t^(1/4)))``, the
   feedback coin ``F_t ~ Bernoulli(f)`` and the predictions ``s_hat = sigmoid(predictor(x_t))``;
2. :func:`queue_decide` — ``m* = argmin_m V * E_hat[m] + Q * (alpha - s_hat[m])`` (ties to the
   cheapest model; with ``relative_V`` E_hat is divided by max_m E_hat[m]), or the largest
   model when exploring;
3. :func:`learner_update` — on an exploration with feedback (or on every exploration, the
   authors' simulator, with ``sparse_training = all_explorations``), ``epochs`` SGD steps on
   ``(x_t, s[:, t])``;
4. :func:`queue_update` — ``Q <- max(0, Q + alpha - s_t)`` (only with feedback; the ideal queue
   always), the cost estimate, and the cost charged.

:func:`step` is the composition; every runner calls it or its halves: the generic episode scans
:func:`step`; the live :class:`messjax.Router` calls :func:`decide` then :func:`observe`; the
fast sweep path scans 1+3 once per predictor trajectory and 2+4 once per (alpha, V) cell,
which is exact because the predictor's training never depends on routing decisions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from messjax.core.predictor import (
    init_predictor,
    predict_logits,
    replay_positions,
    train_on_batch,
    train_on_example,
)
from messjax.core.types import (
    COST_ESTIMATORS,
    SPARSE_TRAINING,
    Decision,
    EngineConfig,
    Hyperparams,
    LearnerState,
    QueueState,
    ReplayBuffer,
    Request,
    RouterState,
    StepOutput,
    float_dtype,
)

RUNNING_MEAN = COST_ESTIMATORS.index("running_mean")
ORACLE = COST_ESTIMATORS.index("oracle")
ALL_EXPLORATIONS = SPARSE_TRAINING.index("all_explorations")


def explore_prob(t: jax.Array, c: jax.Array) -> jax.Array:
    """p_t = min(1, c / t^(1/4)), counting requests from t = 1."""
    t = jnp.asarray(t, float_dtype())
    return jnp.minimum(1.0, c / t**0.25)


def request_randomness(key: jax.Array, t: jax.Array):
    """(u_explore, u_feedback, train_key) of request t, from the episode key alone.

    Indexing by t (not by a key carried and split along the stream) makes the coins of request
    t the same for every cell with the same seed, and lets any cell re-run alone.
    """
    k_explore, k_feedback, k_train = jax.random.split(jax.random.fold_in(key, t), 3)
    dt = float_dtype()
    return (
        jax.random.uniform(k_explore, dtype=dt),
        jax.random.uniform(k_feedback, dtype=dt),
        k_train,
    )


def choose_model(s_hat, cost_estimate, virtual_queue, alpha, V) -> jax.Array:
    """argmin_m V * E_hat[m] + Q * (alpha - s_hat[m]); the first (cheapest) model wins ties."""
    return jnp.argmin(V * cost_estimate + virtual_queue * (alpha - s_hat)).astype(jnp.int32)


def cost_scale(cost_estimate, relative_V) -> jax.Array:
    """The unit E_hat is measured in by the argmin: 1 (absolute V, the paper) or, with
    ``relative_V``, max_m E_hat[m] (1 if that is 0), which makes decisions invariant to
    multiplying every cost by a constant."""
    dearest = jnp.max(cost_estimate)
    return jnp.where((relative_V != 0) & (dearest > 0), dearest, 1.0)


def trains_on(explore, feedback, hp: Hyperparams) -> jax.Array:
    """Whether the predictor trains on this request: an exploration with feedback
    (``feedback_only``), or any exploration (``all_explorations``, the authors' simulator)."""
    return explore & (feedback | (hp.sparse_training == ALL_EXPLORATIONS))


def next_queue(queue, alpha, satisfaction) -> jax.Array:
    """Q <- max(0, Q + alpha - s_t)."""
    return jnp.maximum(0.0, queue + alpha - satisfaction)


# ------------------------------------------------------------------------------ state init
def init_learner(key: jax.Array, config: EngineConfig) -> LearnerState:
    params, opt_state = init_predictor(jax.random.fold_in(key, 0), config)  # requests use t >= 1
    replay = None
    if config.replay > 0:
        dt = float_dtype()
        replay = ReplayBuffer(
            x=jnp.zeros((config.replay, config.feature_dim), dt),
            labels=jnp.zeros((config.replay, config.num_models), dt),
            count=jnp.zeros((), jnp.int32),
        )
    return LearnerState(
        params=params, opt_state=opt_state, t=jnp.zeros((), jnp.int32), key=key, replay=replay
    )


def init_queue(config: EngineConfig) -> QueueState:
    dt = float_dtype()
    M = config.num_models
    return QueueState(
        virtual_queue=jnp.zeros((), dt),
        ideal_queue=jnp.zeros((), dt),
        cost_estimate=jnp.ones((M,), dt),
        cost_sum=jnp.zeros((M,), dt),
        cost_count=jnp.zeros((M,), dt),
    )


def init_state(key: jax.Array, config: EngineConfig) -> RouterState:
    """State at the start of an episode: fresh predictor, Q = 0, E_hat = 1 for every model."""
    return RouterState(learner=init_learner(key, config), queue=init_queue(config))


# ------------------------------------------------------------------------------ the step
def learner_decide(
    learner: LearnerState, x: jax.Array, hp: Hyperparams, config: EngineConfig, t=None
):
    """Exploration and feedback coins and s_hat for request ``t`` (default learner.t + 1).

    An episode decides request t only after observing request t - 1, so its request number is
    the learner's clock. A live router with requests in flight numbers requests as it routes
    them and passes ``t`` explicitly (:class:`messjax.Router`).
    """
    t = learner.t + 1 if t is None else t
    u_explore, u_feedback, _ = request_randomness(learner.key, t)
    explore = u_explore < explore_prob(t, hp.c)
    feedback = u_feedback < hp.feedback_rate
    s_hat = jax.nn.sigmoid(predict_logits(learner.params, x, config))
    return explore, feedback, s_hat


def queue_decide(queue: QueueState, explore, s_hat, costs, hp: Hyperparams, config: EngineConfig):
    """The served model (largest on exploration) and the E_hat the argmin used.

    ``costs`` are the request's true costs, read only by the ``oracle`` estimator.
    """
    cost_estimate = jnp.where(hp.cost_estimator == ORACLE, costs, queue.cost_estimate)
    relative = cost_estimate / cost_scale(cost_estimate, hp.relative_V)
    best = choose_model(s_hat, relative, queue.virtual_queue, hp.alpha, hp.V)
    model = jnp.where(explore, config.num_models - 1, best).astype(jnp.int32)
    return model, cost_estimate


def learner_update(
    learner: LearnerState,
    x,
    labels,
    explore,
    feedback,
    hp: Hyperparams,
    config: EngineConfig,
    t=None,
) -> LearnerState:
    """Train on (x, labels) if :func:`trains_on` says so; advance the clock.

    ``t`` is the request's number (its training randomness is that of request t; default
    learner.t + 1, the episode's case); the clock ``learner.t`` counts observed requests.
    With ``config.replay > 0`` the example first enters the replay buffer and each gradient
    step uses it plus ``replay_batch - 1`` stored examples (:func:`replay_positions`).
    """
    clock = learner.t + 1
    t = clock if t is None else t
    _, _, train_key = request_randomness(learner.key, t)
    trains = trains_on(explore, feedback, hp)
    # A trip count of 0 skips training without lax.cond, which vmap would turn into a select
    # that trains on every request.
    epochs = jnp.where(trains, hp.epochs, 0)
    if learner.replay is None:
        params, opt_state = train_on_example(
            learner.params,
            learner.opt_state,
            x,
            labels,
            train_key,
            hp.learning_rate,
            epochs,
            config,
            hp.momentum,
        )
        return learner.replace(params=params, opt_state=opt_state, t=clock)
    buf = learner.replay
    pos = buf.count % config.replay
    buf = ReplayBuffer(
        x=jnp.where(trains, buf.x.at[pos].set(x), buf.x),
        labels=jnp.where(trains, buf.labels.at[pos].set(labels), buf.labels),
        count=buf.count + trains,
    )
    replayed = replay_positions(train_key, buf.count, config)
    xb = jnp.concatenate([x[None], buf.x[replayed]])
    yb = jnp.concatenate([labels[None], buf.labels[replayed]])
    params, opt_state = train_on_batch(
        learner.params,
        learner.opt_state,
        xb,
        yb,
        train_key,
        hp.learning_rate,
        epochs,
        config,
        hp.momentum,
    )
    return learner.replace(params=params, opt_state=opt_state, t=clock, replay=buf)


def queue_update(
    queue: QueueState, model, explore, feedback, labels, costs, hp: Hyperparams
) -> tuple[QueueState, StepOutput]:
    """Serve ``model``; update the queues and the cost estimate; charge the request."""
    satisfaction = labels[model]
    M = costs.shape[-1]
    queried = jnp.where(explore, jnp.ones((M,), bool), jnp.arange(M) == model)
    cost = jnp.where(explore, costs.sum(), costs[model]) + hp.inference_cost
    cost = cost + jnp.where(trains_on(explore, feedback, hp), hp.epochs, 0) * hp.training_cost
    cost_sum = queue.cost_sum + jnp.where(queried, costs, 0.0)
    cost_count = queue.cost_count + queried
    last_explore = jnp.where(explore, costs, queue.cost_estimate)
    running_mean = jnp.where(
        cost_count > 0, cost_sum / jnp.maximum(cost_count, 1.0), queue.cost_estimate
    )
    cost_estimate = jnp.where(hp.cost_estimator == RUNNING_MEAN, running_mean, last_explore)
    queue = QueueState(
        virtual_queue=jnp.where(
            feedback, next_queue(queue.virtual_queue, hp.alpha, satisfaction), queue.virtual_queue
        ),
        ideal_queue=next_queue(queue.ideal_queue, hp.alpha, satisfaction),
        cost_estimate=cost_estimate,
        cost_sum=cost_sum,
        cost_count=cost_count,
    )
    out = StepOutput(
        explore=explore,
        feedback=feedback,
        model=model,
        satisfaction=satisfaction,
        cost=cost,
        virtual_queue=queue.virtual_queue,
        ideal_queue=queue.ideal_queue,
    )
    return queue, out


def route_step(
    queue: QueueState,
    explore,
    feedback,
    s_hat,
    labels,
    costs,
    hp: Hyperparams,
    config: EngineConfig,
) -> tuple[QueueState, StepOutput]:
    """The queue half of :func:`step` given the learner's coins and predictions."""
    model, _ = queue_decide(queue, explore, s_hat, costs, hp, config)
    return queue_update(queue, model, explore, feedback, labels, costs, hp)


def decide(
    state: RouterState, x, hp: Hyperparams, config: EngineConfig, costs=None, t=None
) -> Decision:
    """Steps 1-3 of the rule: what to do with request ``t`` (default: the learner's next)
    before its outcome is known."""
    if costs is None:  # unknown at decision time: the oracle estimator falls back to E_hat
        costs = state.queue.cost_estimate
    explore, feedback, s_hat = learner_decide(state.learner, x, hp, config, t)
    model, cost_estimate = queue_decide(state.queue, explore, s_hat, costs, hp, config)
    return Decision(
        explore=explore, model=model, s_hat=s_hat, feedback=feedback, cost_estimate=cost_estimate
    )


def observe(
    state: RouterState,
    decision: Decision,
    request: Request,
    hp: Hyperparams,
    config: EngineConfig,
    t=None,
) -> tuple[RouterState, StepOutput]:
    """Steps 3-4 of the rule once the outcome of request ``t`` (default: the learner's next)
    is known: train, update queues and E_hat."""
    learner = learner_update(
        state.learner,
        request.x,
        request.labels,
        decision.explore,
        decision.feedback,
        hp,
        config,
        t,
    )
    queue, out = queue_update(
        state.queue,
        decision.model,
        decision.explore,
        decision.feedback,
        request.labels,
        request.costs,
        hp,
    )
    return RouterState(learner=learner, queue=queue), out


def step(
    state: RouterState, request: Request, hp: Hyperparams, config: EngineConfig
) -> tuple[RouterState, StepOutput]:
    """One request of MESS+: :func:`decide` then :func:`observe`."""
    decision = decide(state, request.x, hp, config, costs=request.costs)
    return observe(state, decision, request, hp, config)
