"""The bounded Beta sampler of the messjax policy's Thompson draw (messjax/core/thompson.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from messjax.core import thompson
from messjax.core.step import request_randomness


@pytest.mark.parametrize(
    "a,b", [(0.3, 0.7), (1.2, 3.0), (8.0, 2.0), (200.0, 110.0), (7081.36, 3306.64)]
)
def test_beta_matches_the_distribution(a, b):
    n = 50_000
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    draw = jax.vmap(lambda k: thompson.beta(k, jnp.float32(a), jnp.float32(b)))(keys)
    s = np.asarray(draw, np.float64)
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    assert np.all((s >= 0) & (s <= 1))
    assert abs(s.mean() - mean) < 5 * sd / np.sqrt(n)
    assert abs(s.std() - sd) < 0.03 * sd
    ref = np.random.default_rng(0).beta(a, b, n)
    for q in (0.05, 0.5, 0.95):
        assert abs(np.quantile(s, q) - np.quantile(ref, q)) < 0.05 * sd + 1e-4, q


def test_the_case_that_froze_jax_random_beta_returns():
    """jax.random.beta (JAX 0.10.2, float32) never returned for these posterior counts and
    this key (a chain stream, seed 45, request 4052); the bounded sampler has no loop."""
    k = jnp.asarray([931.33997, 1770.34, 49.34], jnp.float32)
    n = jnp.asarray([1429.0, 2597.0, 77.0], jnp.float32)
    _, _, k_t = request_randomness(jax.random.PRNGKey(45), jnp.int32(4052))
    theta = np.asarray(thompson.beta(jax.random.fold_in(k_t, 1), k / 0.25, (n - k) / 0.25))
    assert theta.shape == (3,) and np.all(np.isfinite(theta))
    np.testing.assert_allclose(theta, np.asarray(k / n), atol=0.06)


def test_log_gamma_edges_and_fallback():
    key = jax.random.PRNGKey(1)
    alpha = jnp.asarray([0.0, 1e-3, 0.5, 1.0, 50.0], jnp.float32)
    out = np.asarray(thompson.log_gamma(key, alpha))
    assert out[0] == -np.inf and np.all(np.isfinite(out[1:]))
    # with a single proposal some are rejected: those fall back to log(d), still finite
    many = jax.vmap(lambda k: thompson.log_gamma(k, jnp.float32(3.0), tries=1))(
        jax.random.split(key, 2000)
    )
    assert np.all(np.isfinite(np.asarray(many)))
    assert np.mean(np.asarray(many) == np.float32(np.log(3.0 - 1.0 / 3.0))) > 0


def test_beta_is_deterministic_and_follows_dtype():
    key = jax.random.PRNGKey(3)
    a, b = jnp.asarray([2.0, 30.0]), jnp.asarray([5.0, 1.5])
    first = thompson.beta(key, a, b)
    assert np.array_equal(np.asarray(first), np.asarray(thompson.beta(key, a, b)))
    assert thompson.beta(key, a, b, dtype=jnp.float32).dtype == jnp.float32
