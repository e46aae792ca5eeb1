"""Satisfaction predictor: a Flax head on frozen text embeddings, trained online with Optax.

The paper's head (MESSPLUS.md section 4) is

    logits = W2 · Dropout(ReLU(LayerNorm(W1 x + b1))) + b2,    s_hat = sigmoid(logits),

trained with binary cross-entropy on the M labels of each exploration, by
``clip_by_global_norm(1.0) -> add_decayed_weights(0.01) -> sgd(lr, momentum=0.9)``, i.e.
PyTorch's ``SGD(momentum=0.9, weight_decay=0.01)`` after ``clip_grad_norm_(1.0)``.

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


class MLPHead(nn.Module):
    """Linear(d, h) -> LayerNorm -> ReLU -> Dropout -> Linear(h, M)."""

    hidden: int
    num_models: int
    dropout: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        dt = float_dtype()
        h = nn.Dense(self.hidden, dtype=dt, param_dtype=dt, name="hidden")(x)
        h = nn.LayerNorm(
            epsilon=LAYERNORM_EPS, use_fast_variance=False, dtype=dt, param_dtype=dt, name="norm"
        )(h)
        h = nn.relu(h)
        if dropout_key is not None and self.dropout > 0:
            keep = jax.random.bernoulli(dropout_key, 1.0 - self.dropout, h.shape)
            h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
        return nn.Dense(self.num_models, dtype=dt, param_dtype=dt, name="out")(h)


class LinearHead(nn.Module):
    """Linear(d, M): logistic regression per model."""

    num_models: int

    @nn.compact
    def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        del dropout_key
        dt = float_dtype()
        return nn.Dense(self.num_models, dtype=dt, param_dtype=dt, name="out")(x)


def make_head(config: EngineConfig) -> nn.Module:
    if config.head == "mlp":
        return MLPHead(config.hidden, config.num_models, config.dropout)
    return LinearHead(config.num_models)


def make_optimizer(config: EngineConfig, learning_rate) -> optax.GradientTransformation:
    """The paper's Optax chain; ``learning_rate`` may be a traced (vmapped) scalar."""
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(learning_rate, momentum=config.momentum),
    )


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

    ``epochs`` may be traced; step i uses ``fold_in(key, i)`` for its dropout mask.
    """
    optimizer = make_optimizer(config, learning_rate)
    grad_fn = jax.grad(bce_loss)

    def one_step(i, carry):
        p, s = carry
        g = grad_fn(p, x, labels, jax.random.fold_in(key, i), config)
        updates, s = optimizer.update(g, s, p)
        return optax.apply_updates(p, updates), s

    return jax.lax.fori_loop(0, epochs, one_step, (params, opt_state))
