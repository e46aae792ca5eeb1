"""A synthetic request stream of any length, generated chunk by chunk from a seed.

:class:`SyntheticStream` yields ``(x, labels, costs)`` for 1e7+ requests without holding them:
a provider's day mixing the tasks of a synthetic zoo preset
(:data:`messjax.data.synthetic.SYNTHETIC_PRESETS`), with the zoo's statistics:

- each request draws its task uniformly from ``tasks``, a latent difficulty ``z ~ N(0, 1)``
  and a latent length ``l = rho z + sqrt(1 - rho^2) N(0, 1)``;
- labels follow the zoo's item-response model, ``s[m] = 1[k (a_m - z) + eps_m + L_m > 0]``
  with the task's discrimination ``k``, ``eps_m ~ N(0, tau^2)`` and logistic ``L_m``. The zoo
  calibrates the skill ``a_m`` on its drawn sample; a stream cannot see its future, so here
  ``k a_m`` is the quantile of the score ``-k z + eps + L`` at ``1 - accuracy`` in a fixed
  calibration sample of 400,000 draws: every model's accuracy equals the preset's target in
  expectation (within about 1e-3; the zoo: exactly, per sample);
- costs are ``mean_cost[m] * exp(slope * l + sigma_m N(0, 1) - (slope^2 + sigma_m^2) / 2)``:
  the zoo's lognormal factor, normalised by its expectation instead of its sample mean;
- features stand in for a frozen sentence encoder's embeddings of the zoo's texts (no text is
  made: encoding 1e7 texts would dominate any measurement). A text of ``n`` words (the zoo's
  length model) has ``n_diff = max(3, round(0.4 n))`` difficulty words, each "hard" with
  probability ``sigmoid(gamma z)`` (the zoo's text signal); the feature is the unit vector
  along ``u_task + h u_hard + (1 - h) u_easy + g B / sqrt(n)`` with ``h`` the share of hard
  words, ``g ~ N(0, I_r)`` (the other words, averaged) and fixed random directions. As in
  the zoo, the features predict which models succeed better than chance, not perfectly.

Rows come in generation blocks of :data:`GEN_BLOCK` requests; block ``b`` is drawn from
``numpy.random.default_rng([seed, STREAM_TAG, b])``, so the stream is the same whatever chunk
size reads it, and any block can be regenerated alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from messjax.data import synthetic as zoo
from messjax.data.streams import rechunk
from messjax.errors import ConfigError

__all__ = ["GEN_BLOCK", "SyntheticStream"]

#: Requests per generation block.
GEN_BLOCK = 4096
#: Second word of every block's RNG seed (keeps the stream's draws apart from the zoo's).
STREAM_TAG = 15_000_015
#: Dimension of the "other words" noise of a feature.
LATENT_DIM = 16
_CALIBRATION_DRAWS = 400_000


class SyntheticStream:
    """``num_requests`` synthetic requests of a zoo preset, generated block by block.

    Args:
      preset: ``"llama3"``, ``"qwen2"`` or ``"toy"``.
      tasks: the tasks mixed in the stream (default: all of the preset's).
      num_requests: stream length (any positive int; 1e7 and more are fine).
      feature_dim: d (default 384, all-MiniLM-L6-v2's width).
      seed: non-negative int; the same seed gives the same stream.
    """

    def __init__(
        self,
        preset: str = "llama3",
        *,
        tasks: str | Sequence[str] | None = None,
        num_requests: int = 1_000_000,
        feature_dim: int = 384,
        seed: int = 0,
    ):
        p, names, _ = zoo._resolve(preset, tasks, None)  # validates preset and task names
        for key, value, low in (
            ("num_requests", num_requests, 1),
            ("feature_dim", feature_dim, 1),
            ("seed", seed, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ConfigError(key, f"must be an integer >= {low}, got {value!r}")
        self.preset, self.tasks, self.models = preset, tuple(names), p.models
        self.num_requests, self.feature_dim, self.seed = (
            int(num_requests),
            int(feature_dim),
            int(seed),
        )
        self.cost_unit = "J"
        self._k = np.array([p.discrimination[t] for t in names], np.float64)
        self._acc = np.array([p.accuracy[t] for t in names], np.float64)  # [tasks, M]
        self._energy = np.array([p.energy[t] for t in names], np.float64)
        self._log_sd = np.asarray(p.cost_log_sd, np.float64)
        self._words = np.array([p.text_words[t] for t in names], np.float64)
        self._gamma = float(p.text_signal)
        self._threshold = self._calibrate()  # [tasks, M]
        basis = np.random.default_rng([self.seed, STREAM_TAG, 2**31 - 1])
        unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)  # noqa: E731
        # Rows: u_task per task, u_hard, u_easy, then B (g B has unit expected squared norm).
        self._directions = np.concatenate(
            [
                unit(basis.normal(size=(len(names) + 2, feature_dim))),
                basis.normal(size=(LATENT_DIM, feature_dim)) / np.sqrt(LATENT_DIM * feature_dim),
            ]
        ).astype(np.float32)

    @property
    def num_models(self) -> int:
        return len(self.models)

    def __len__(self) -> int:
        return self.num_requests

    def _calibrate(self) -> np.ndarray:
        """``k a_m`` per task and model: the (1 - accuracy) quantile of the score."""
        out = np.empty_like(self._acc)
        for j, k in enumerate(self._k):
            rng = np.random.default_rng([STREAM_TAG, j])
            n, M = _CALIBRATION_DRAWS, self._acc.shape[1]
            z = rng.normal(size=(n, 1))
            u = rng.uniform(size=(n, M))
            score = -k * z + rng.normal(0.0, zoo._TAU, size=(n, M)) + np.log(u) - np.log1p(-u)
            for m in range(M):
                out[j, m] = np.quantile(score[:, m], 1.0 - self._acc[j, m])
        return out

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows ``b * GEN_BLOCK ..`` (at most GEN_BLOCK of them): float32 x, labels, costs."""
        n = min(GEN_BLOCK, self.num_requests - b * GEN_BLOCK)
        if n <= 0:
            raise IndexError(f"block {b} is past the end of the stream")
        rng = np.random.default_rng([self.seed, STREAM_TAG, b])
        M = self.num_models
        task = rng.integers(len(self.tasks), size=n)
        z = rng.normal(size=n)
        rho = zoo._LENGTH_RHO
        length = rho * z + np.sqrt(1.0 - rho**2) * rng.normal(size=n)
        # Labels: the zoo's IRT score against the calibrated threshold.
        u = rng.uniform(size=(n, M))
        score = (
            -self._k[task, None] * z[:, None]
            + rng.normal(0.0, zoo._TAU, size=(n, M))
            + np.log(u)
            - np.log1p(-u)
        )
        labels = (score > self._threshold[task]).astype(np.float32)
        # Costs: lognormal factor with expectation 1.
        slope = zoo._COST_LENGTH_SLOPE
        log_f = slope * length[:, None] + self._log_sd * rng.normal(size=(n, M))
        log_f -= (slope**2 + self._log_sd**2) / 2
        costs = (self._energy[task] * np.exp(log_f)).astype(np.float32)
        # Features: the share of hard difficulty words, the task, the other words' noise.
        sd = zoo._LENGTH_LOG_SD
        words = np.clip(np.round(self._words[task] * np.exp(sd * length - sd**2 / 2)), 5, 120)
        n_diff = np.maximum(3, np.round(zoo._DIFFICULTY_SHARE * words)).astype(np.int64)
        hard = rng.binomial(n_diff, 1.0 / (1.0 + np.exp(-self._gamma * z))) / n_diff
        # One float32 product: [one-hot task, h, 1 - h, g / sqrt(n)] @ the directions.
        coef = np.zeros((n, len(self.tasks) + 2 + LATENT_DIM), np.float32)
        coef[np.arange(n), task] = 1.0
        coef[:, len(self.tasks)] = hard
        coef[:, len(self.tasks) + 1] = 1.0 - hard
        coef[:, len(self.tasks) + 2 :] = rng.normal(size=(n, LATENT_DIM)) / np.sqrt(words)[:, None]
        x = coef @ self._directions
        x /= np.sqrt(np.einsum("nd,nd->n", x, x))[:, None]
        return x, labels, costs

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every generation block in order."""
        for b in range(-(-self.num_requests // GEN_BLOCK)):
            yield self.block(b)

    def chunks(self, chunk_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The stream in chunks of ``chunk_size`` rows (the last may be shorter)."""
        return rechunk(self.blocks(), chunk_size)

    def __iter__(self):
        return self.blocks()

    def materialize(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole stream as three arrays (for tests and short streams only)."""
        parts = list(self.blocks())
        return tuple(np.concatenate(a) for a in zip(*parts, strict=True))
