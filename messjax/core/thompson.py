"""The Thompson draw of the ``messjax`` policy: Beta samples in bounded time.

``jax.random.beta`` draws two Gammas with Marsaglia and Tsang's rejection method inside a
``lax.while_loop``; on JAX 0.10.2 (CPU, float32) that loop never returns for some keys at large
shapes (e.g. ``a = [3725.36, 7081.36, 197.36]``, ``b = [1990.64, 3306.64, 110.64]``, the
posterior pseudo-counts of a few thousand labels; also reported upstream, jax-ml/jax#21352),
which froze a routing stream and a live server. A router must answer in bounded time, so
:func:`beta` runs the same method with a fixed number of proposals, all drawn at once:

* Gamma(alpha): with ``a = alpha`` (``alpha + 1`` when ``alpha < 1``, boosted back with
  ``U^(1/alpha)`` in log space), ``d = a - 1/3``, ``c = 1 / sqrt(9 d)``, propose ``TRIES``
  pairs ``x ~ N(0, 1)``, ``u ~ U[0, 1)``; ``v = (1 + c x)^3`` is accepted when ``v > 0`` and
  ``log u < x^2 / 2 + d (1 - v + log v)``; the sample is ``d v`` of the first accepted pair.
  ``1 - v + log v`` is written as ``-y (3 + 3 y + y^2) + 3 log1p(y)`` with ``y = c x`` so that
  float32 keeps its digits at large ``d``.
* A proposal is accepted with probability >= 0.95 for every ``a >= 1``, so all ``TRIES = 16``
  fail with probability < 0.05^16 ~ 1.5e-21; then the sample is ``d`` (the Gamma's mode
  region), which is the only approximation.
* Beta(a, b) = G_a / (G_a + G_b), computed from the log-Gammas without overflow.

Straight-line code (no loop), so it also costs the same on every request inside a scan. The
NumPy reference loop calls this same function for its draws, which is what parity needs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: proposals per Gamma sample
TRIES = 16


def log_gamma(key: jax.Array, alpha: jax.Array, tries: int = TRIES) -> jax.Array:
    """``log`` of a Gamma(alpha, 1) sample per element of ``alpha`` (same shape and dtype)."""
    dtype = alpha.dtype
    k_x, k_u, k_boost = jax.random.split(key, 3)
    boost = alpha < 1
    a = jnp.where(boost, alpha + 1, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    shape = (tries, *alpha.shape)
    x = jax.random.normal(k_x, shape, dtype)
    log_u = jnp.log(jax.random.uniform(k_u, shape, dtype))
    y = c * x
    valid = y > -1.0
    y = jnp.where(valid, y, 0.0)
    log_v = 3.0 * jnp.log1p(y)
    gap = -y * (3.0 + y * (3.0 + y)) + log_v  # 1 - v + log v, v = (1 + y)^3
    accept = valid & (log_u < 0.5 * x * x + d * gap)
    first = jnp.argmax(accept, axis=0)
    log_v_first = jnp.take_along_axis(log_v, first[None], axis=0)[0]
    out = jnp.log(d) + jnp.where(jnp.any(accept, axis=0), log_v_first, 0.0)
    # Gamma(alpha) = Gamma(alpha + 1) * U^(1 / alpha); log(1 - U) avoids log(0)
    log_b = jnp.log1p(-jax.random.uniform(k_boost, alpha.shape, dtype))
    safe = jnp.where(alpha > 0, alpha, 1.0)
    boost_term = jnp.where(alpha > 0, log_b / safe, -jnp.inf)
    return out + jnp.where(boost, boost_term, 0.0)


def beta(key: jax.Array, a: jax.Array, b: jax.Array, dtype=None) -> jax.Array:
    """A Beta(a, b) sample per element (``a``, ``b`` of one shape), in bounded time."""
    dtype = dtype or jnp.result_type(a, b)
    a = jnp.asarray(a, dtype)
    b = jnp.asarray(b, dtype)
    k_a, k_b = jax.random.split(key)
    log_a = log_gamma(k_a, a)
    log_b = log_gamma(k_b, b)
    top = jnp.maximum(log_a, log_b)
    g_a = jnp.exp(log_a - top)
    g_b = jnp.exp(log_b - top)
    return g_a / (g_a + g_b)
