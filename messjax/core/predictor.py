"""Satisfaction predictor: a Flax head on frozen text embeddings, trained online with Optax.

The paper's head (MESSPLUS.md section 4) is

    logits = W2 · Dropout(ReLU(LayerNorm(W1 · Dropout(x) + b1))) + b2,  s_hat = sigmoid(logits),

trained with binary cross-entropy on the M labels of each exploration, by
``clip_by_global_norm(1.0) -> add_decayed_weights(0.01) -> sgd(lr, momentum)``, i.e.
PyTorch's ``SGD(momentum, weight_decay=0.01)`` after ``clip_grad_norm_(1.0)``. As in the
authors' code each gradient step sees ``n_dup`` copies of the example, each with its own
dropout masks (input and hidden), the loss averaged over copies and models. The global norm is
taken without a pass over the d x h kernel gradient (see :func:`clip_gradient`).

Dropout masks are explicit arrays drawn by :func:`head_masks` from an explicit key (not Flax's
module-path RNG streams), so the NumPy reference draws the very same masks.
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
    """Dropout -> Linear(d, h) -> LayerNorm -> ReLU -> Dropout -> Linear(h, M).

    ``masks = (input_keep, hidden_keep)`` (bool, broadcastable to ``x`` and to the hidden
    activations; either may be None) switch on training-mode dropout with rates
    ``input_dropout`` and ``dropout`` (inverted scaling ``1 / (1 - rate)``). ``pre_delta`` is
    added to the first layer's output ``W1 x + b1``: always zero, its gradient is the per-copy
    gradient of that output that :func:`clip_gradient` needs.
    """

    hidden: int
    num_models: int
    dropout: float = 0.1
    input_dropout: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, masks=None, pre_delta=None) -> jax.Array:
        dt = float_dtype()
        keep_in, keep_hidden = masks if masks is not None else (None, None)
        if keep_in is not None and self.input_dropout > 0:
            x = jnp.where(keep_in, x / (1.0 - self.input_dropout), 0.0)
        h = torch_linear(self.hidden, x.shape[-1], "hidden")(x)
        if pre_delta is not None:
            h = h + pre_delta
        h = nn.LayerNorm(
            epsilon=LAYERNORM_EPS, use_fast_variance=False, dtype=dt, param_dtype=dt, name="norm"
        )(h)
        h = nn.relu(h)
        if keep_hidden is not None and self.dropout > 0:
            h = jnp.where(keep_hidden, h / (1.0 - self.dropout), 0.0)
        return torch_linear(self.num_models, self.hidden, "out")(h)


class LinearHead(nn.Module):
    """Linear(d, M): logistic regression per model (no dropout)."""

    num_models: int

    @nn.compact
    def __call__(self, x: jax.Array, masks=None, pre_delta=None) -> jax.Array:
        del masks
        z = torch_linear(self.num_models, x.shape[-1], "out")(x)
        return z if pre_delta is None else z + pre_delta


def make_head(config: EngineConfig) -> nn.Module:
    if config.head == "mlp":
        return MLPHead(config.hidden, config.num_models, config.dropout, config.input_dropout)
    return LinearHead(config.num_models)


def head_masks(key: jax.Array, batch_shape: tuple[int, ...], config: EngineConfig):
    """Dropout keep-masks ``(input [*batch_shape, d], hidden [*batch_shape, h])`` (bool) of a
    training forward pass, ``None`` where the rate is 0 or the head is linear: ``k_in, k_hidden
    = split(key)``, then ``bernoulli(k, 1 - rate, shape)`` each."""
    if config.head != "mlp":
        return None, None
    k_in, k_hidden = jax.random.split(key)
    keep_in = keep_hidden = None
    if config.input_dropout > 0:
        shape = (*batch_shape, config.feature_dim)
        keep_in = jax.random.bernoulli(k_in, 1.0 - config.input_dropout, shape)
    if config.dropout > 0:
        shape = (*batch_shape, config.hidden)
        keep_hidden = jax.random.bernoulli(k_hidden, 1.0 - config.dropout, shape)
    return keep_in, keep_hidden


def _optimizer_links(config: EngineConfig, learning_rate, momentum) -> tuple:
    return (
        optax.clip_by_global_norm(config.clip_norm),
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(learning_rate, momentum=momentum),
    )


def make_optimizer(
    config: EngineConfig, learning_rate, momentum=0.9
) -> optax.GradientTransformation:
    """The paper's Optax chain; ``learning_rate`` and ``momentum`` may be traced (vmapped)."""
    return optax.chain(*_optimizer_links(config, learning_rate, momentum))


def first_layer(config: EngineConfig) -> str:
    """The layer that reads the embedding: ``hidden`` (MLP) or ``out`` (linear)."""
    return "hidden" if config.head == "mlp" else "out"


def clip_gradient(grads, inputs: jax.Array, pre_grads: jax.Array, config: EngineConfig):
    """``clip_by_global_norm(clip_norm)`` of a gradient whose first-layer kernel gradient is
    ``inputs^T pre_grads``, a sum of n rank-one terms (``inputs [n, d]``: the copies' inputs
    after input dropout; ``pre_grads [n, h]``: the gradient of each copy's first-layer output).

    Its squared norm is ``|A^T G|_F^2 = sum((A A^T) * (G G^T))`` (n x n Gram matrices;
    ``|x|^2 |g|^2`` for one copy): the same number as the sum of its d x h squares, which
    dominated the cost of a training step, up to float rounding. Only clipped steps
    (norm >= clip_norm) see the rounding difference.
    """
    return _clip_with_norm(grads, inputs, pre_grads, config)[0]


def _clip_with_norm(grads, inputs: jax.Array, pre_grads: jax.Array, config: EngineConfig):
    """(:func:`clip_gradient`'s result, the global norm before clipping)."""
    first = first_layer(config)
    gram = jnp.sum((inputs @ inputs.T) * (pre_grads @ pre_grads.T))
    sq_norm = 0  # leaves summed in tree order, as optax.tree.norm does
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        is_kernel = [p.key for p in path] == [first, "kernel"]
        sq_norm = sq_norm + (gram if is_kernel else jnp.sum(jnp.square(g)))
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
    """Mean over a batch ``x [B, d]`` of the per-example BCE (masks per row, one
    :func:`head_masks` draw)."""
    return bce_loss(params, x, labels, dropout_key, config)


def train_on_batch(
    params, opt_state, x, labels, key, learning_rate, epochs, config: EngineConfig, momentum=0.9
):
    """``epochs`` steps of the paper's Optax chain on the batch ``(x [B, d], labels [B, M])``
    (the replay variant); step i uses ``fold_in(key, i)`` for its dropout masks."""
    optimizer = make_optimizer(config, learning_rate, momentum)
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
    """Mean binary cross-entropy over the M models (and the batch, if ``x`` is ``[B, d]``);
    training mode with masks from :func:`head_masks` when ``dropout_key`` is given."""
    masks = None if dropout_key is None else head_masks(dropout_key, x.shape[:-1], config)
    logits = make_head(config).apply({"params": params}, x, masks)
    return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


def copies_gradient(params, x, labels, key, config: EngineConfig):
    """Gradient of the mean BCE over ``config.copies`` copies of ``(x, labels)``, each with its
    own :func:`head_masks` draw from ``key`` (the authors' duplicated batch).

    Returns ``(grads, inputs [n, d], pre_grads [n, h])``: the first layer's kernel gradient is
    formed once as ``inputs^T pre_grads`` (the gradient of ``W1`` through the graph is stopped,
    so it is not computed twice) and the two factors feed :func:`clip_gradient`.
    """
    n = config.copies
    first = first_layer(config)
    keep_in, keep_hidden = head_masks(key, (n,), config)
    xs = jnp.broadcast_to(x, (n, x.shape[-1]))
    inputs = xs
    if keep_in is not None:
        inputs = jnp.where(keep_in, xs / (1.0 - config.input_dropout), 0.0)
    head = make_head(config)
    width = params[first]["bias"].shape[-1]

    def loss(p, delta):
        p = {**p, first: {**p[first], "kernel": jax.lax.stop_gradient(p[first]["kernel"])}}
        logits = head.apply({"params": p}, xs, (keep_in, keep_hidden), delta)
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

    grads, pre_grads = jax.grad(loss, argnums=(0, 1))(params, jnp.zeros((n, width), xs.dtype))
    grads = {**grads, first: {**grads[first], "kernel": inputs.T @ pre_grads}}
    return grads, inputs, pre_grads


def train_on_example(
    params, opt_state, x, labels, key, learning_rate, epochs, config: EngineConfig, momentum=0.9
):
    """``epochs`` SGD steps on the single example (x, labels), each on ``config.copies``
    copies with their own dropout masks (:func:`copies_gradient`).

    ``epochs`` may be traced; step i uses ``fold_in(key, i)`` for its masks. Each step is
    :func:`make_optimizer`'s chain, its clipping done by :func:`clip_gradient`.
    """
    # The chain after its first link (clip_by_global_norm, stateless), on the same state.
    clipped_state = opt_state[:1]
    rest = optax.chain(*_optimizer_links(config, learning_rate, momentum)[1:])

    def one_step(i, carry):
        p, s = carry
        g, inputs, pre_grads = copies_gradient(p, x, labels, jax.random.fold_in(key, i), config)
        g, norm = _clip_with_norm(g, inputs, pre_grads, config)
        updates, s_new = rest.update(g, s, p)
        return _keep_if_finite(jnp.isfinite(norm), (optax.apply_updates(p, updates), s_new), (p, s))

    params, state = jax.lax.fori_loop(0, epochs, one_step, (params, tuple(opt_state[1:])))
    return params, (*clipped_state, *state)
