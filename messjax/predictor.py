"""Satisfaction predictor: a Flax head on frozen text embeddings, trained online with Optax.

The paper's head (MESSPLUS.md section 4) is

    logits = W2 · Dropout(ReLU(LayerNorm(W1 x + b1))) + b2,    s_hat = sigmoid(logits),

trained with binary cross-entropy on the M labels of each exploration, by
``clip_by_global_norm(1.0) -> add_decayed_weights(0.01) -> sgd(lr, momentum=0.9)``, i.e.
PyTorch's ``SGD(momentum=0.9, weight_decay=0.01)`` after ``clip_grad_norm_(1.0)``. The global
norm is taken without a pass over the d x h kernel gradient (see :func:`clip_gradient`).

Dropout takes an explicit key (not Flax's module-path RNG streams) so the NumPy reference can
draw the very same mask with ``jax.random.bernoulli(key, 1 - rate, (hidden,))``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from messjax.core.types import EngineConfig, float_dtype

#: PyTorch's LayerNorm epsilon (the paper's implementation).
LAYERNORM_EPS = 1e-5


def torch_linear(features: int, fan_in: int, name: str) -> nn.Dense:
    """``nn.Dense`` initialised like PyTorch's ``nn.Linear`` (the paper's implementation):
    kernel and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Flax's default (LeCun-normal kernel) starts the head with ~1.7x larger random logits, which
    the ~20 explorations of a short benchmark do not wash out.
    """
    dt = float_dtype()
    bound = 1.0 / fan_in**0.5

    def bias_init(key, shape, dtype=dt):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return nn.Dense(
        features,
        dtype=dt,
        param_dtype=dt,
        name=name,
        kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
        bias_init=bias_init,
    )


class MLPHead(nn.Module):
    """Linear(d, h) -> LayerNorm -> ReLU -> Dropout -> Linear(h, M)."""

    hidden: int
    num_models: int
    dropout: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        dt = float_dtype()
        h = torch_linear(self.hidden, x.shape[-1], "hidden")(x)
        h = nn.LayerNorm(
            epsilon=LAYERNORM_EPS, use_fast_variance=False, dtype=dt, param_dtype=dt, name="norm"
        )(h)
        h = nn.relu(h)
        if dropout_key is not None and self.dropout > 0:
            keep = jax.random.bernoulli(dropout_key, 1.0 - self.dropout, h.shape)
            h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
        return torch_linear(self.num_models, self.hidden, "out")(h)


class LinearHead(nn.Module):
    """Linear(d, M): logistic regression per model."""

    num_models: int

    @nn.compact
    def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        del dropout_key
        return torch_linear(self.num_models, x.shape[-1], "out")(x)


def make_head(config: EngineConfig) -> nn.Module:
    if config.head == "mlp":
        return MLPHead(config.hidden, config.num_models, config.dropout)
    return LinearHead(config.num_models)


def _optimizer_links(config: EngineConfig, learning_rate) -> tuple:
    return (
        optax.clip_by_global_norm(config.clip_norm),
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(learning_rate, momentum=config.momentum),
    )


def make_optimizer(config: EngineConfig, learning_rate) -> optax.GradientTransformation:
    """The paper's Optax chain; ``learning_rate`` may be a traced (vmapped) scalar."""
    return optax.chain(*_optimizer_links(config, learning_rate))


def clip_gradient(grads, x: jax.Array, config: EngineConfig):
    """``clip_by_global_norm(clip_norm)`` of the gradient on one example ``x``.

    The layer that reads ``x`` (``hidden`` of the MLP, ``out`` of the linear head) has the
    rank-one kernel gradient ``outer(x, g_bias)``, so its squared norm is
    ``|x|^2 |g_bias|^2``: the same number as the sum of its d x h squares (which dominated the
    cost of a training step), up to float rounding. Only clipped steps (norm >= clip_norm) see
    the rounding difference.
    """
    return _clip_with_norm(grads, x, config)[0]


def _clip_with_norm(grads, x: jax.Array, config: EngineConfig):
    """(:func:`clip_gradient`'s result, the global norm before clipping)."""
    first = "hidden" if config.head == "mlp" else "out"
    rank_one = jnp.sum(x * x) * jnp.sum(jnp.square(grads[first]["bias"]))
    sq_norm = 0  # leaves summed in tree order, as optax.tree.norm does
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        is_kernel = [p.key for p in path] == [first, "kernel"]
        sq_norm = sq_norm + (rank_one if is_kernel else jnp.sum(jnp.square(g)))
    norm = jnp.sqrt(sq_norm)
    trigger = norm < config.clip_norm
    return jax.tree.map(
        lambda g: jax.lax.select(trigger, g, (g / norm.astype(g.dtype)) * config.clip_norm), grads
    ), norm


def _keep_if_finite(ok, new, old):
    """``new`` where the step's gradient was finite (``ok``), else ``old``: a NaN or infinite
    gradient (e.g. from a diverging learning rate) skips the step instead of poisoning the
    parameters for good. A select, so finite steps are bit-identical to unguarded ones."""
    return jax.tree.map(lambda a, b: jax.lax.select(ok, a, b), new, old)


def replay_positions(key: jax.Array, count, config: EngineConfig) -> jax.Array:
    """Ring-buffer positions of the ``replay_batch - 1`` replayed examples of one training
    event, uniform over the ``min(count, replay)`` stored ones (``count`` includes the new one).
    """
    stored = jnp.minimum(count, config.replay)
    return jax.random.randint(
        jax.random.fold_in(key, 0x7FFFFFFF), (config.replay_batch - 1,), 0, jnp.maximum(stored, 1)
    )


def batch_bce_loss(params, x, labels, dropout_key, config: EngineConfig):
    """Mean over a batch ``x [B, d]`` of :func:`bce_loss` (dropout mask per row)."""
    keys = jax.random.split(dropout_key, x.shape[0])
    losses = jax.vmap(bce_loss, (None, 0, 0, 0, None))(params, x, labels, keys, config)
    return losses.mean()


def train_on_batch(params, opt_state, x, labels, key, learning_rate, epochs, config: EngineConfig):
    """``epochs`` steps of the paper's Optax chain on the batch ``(x [B, d], labels [B, M])``
    (the replay variant); step i uses ``fold_in(key, i)`` for its dropout masks."""
    optimizer = make_optimizer(config, learning_rate)
    grad_fn = jax.grad(batch_bce_loss)

    def one_step(i, carry):
        p, s = carry
        g = grad_fn(p, x, labels, jax.random.fold_in(key, i), config)
        updates, s_new = optimizer.update(g, s, p)
        ok = jnp.isfinite(optax.tree.norm(g))
        return _keep_if_finite(ok, (optax.apply_updates(p, updates), s_new), (p, s))

    return jax.lax.fori_loop(0, epochs, one_step, (params, opt_state))


def init_predictor(key: jax.Array, config: EngineConfig):
    """Fresh head parameters and optimiser state (trained from scratch every episode)."""
    head = make_head(config)
    params = head.init(key, jnp.zeros((config.feature_dim,), float_dtype()))["params"]
    opt_state = make_optimizer(config, 0.0).init(params)
    return params, opt_state


def predict_logits(params, x: jax.Array, config: EngineConfig) -> jax.Array:
    """Logits for one embedding ``[d]`` or a batch ``[..., d]`` (evaluation mode)."""
    return make_head(config).apply({"params": params}, x)


def bce_loss(params, x, labels, dropout_key, config: EngineConfig):
    """Mean binary cross-entropy over the M models of one example (training mode)."""
    logits = make_head(config).apply({"params": params}, x, dropout_key)
    return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


def train_on_example(
    params, opt_state, x, labels, key, learning_rate, epochs, config: EngineConfig
):
    """``epochs`` SGD steps on the single example (x, labels); dropout key per step.

    ``epochs`` may be traced; step i uses ``fold_in(key, i)`` for its dropout mask. Each step is
    :func:`make_optimizer`'s chain, its clipping done by :func:`clip_gradient`.
    """
    # The chain after its first link (clip_by_global_norm, stateless), on the same state.
    clipped_state, rest = opt_state[:1], optax.chain(*_optimizer_links(config, learning_rate)[1:])
    grad_fn = jax.grad(bce_loss)

    def one_step(i, carry):
        p, s = carry
        g, norm = _clip_with_norm(
            grad_fn(p, x, labels, jax.random.fold_in(key, i), config), x, config
        )
        updates, s_new = rest.update(g, s, p)
        return _keep_if_finite(jnp.isfinite(norm), (optax.apply_updates(p, updates), s_new), (p, s))

    params, state = jax.lax.fori_loop(0, epochs, one_step, (params, tuple(opt_state[1:])))
    return params, (*clipped_state, *state)
