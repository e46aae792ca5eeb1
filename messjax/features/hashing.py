"""Hashed word and character n-gram features (no model, no download).

For a lowercased text with words ``w_1 .. w_n`` (``\\w+`` runs) the features are the word
unigrams ``w_i``, the word bigrams ``w_i w_{i+1}`` and the character 3- to 5-grams of each
padded word ``" " + w_i + " "`` (n-grams never cross a word boundary). Each feature ``f`` gets a
stable 64-bit hash ``h(f)`` (blake2b, identical in every process, unlike Python's salted
``hash``); with ``c_f`` its count in the text,

    x[t, h(f) mod d] += sign(f) * (1 + log c_f),       sign(f) = +-1 from another bit of h(f)

(signed hashing: collisions cancel in expectation) and each row is scaled to unit L2 norm.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

VERSION = 1
_WORD = re.compile(r"\w+")
_ID_BITS = 40  # feature identity within a text; 40 bits leave 24 for the row index
_ID_MASK = (1 << _ID_BITS) - 1
_SIGN_BIT = _ID_BITS - 1


def stable_hash(feature: str) -> int:
    """64-bit blake2b hash of a feature string, as an ``int``; the same in every process."""
    return int.from_bytes(
        hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


@dataclasses.dataclass(frozen=True)
class HashingFeaturizer:
    """Signed feature hashing of word 1..2-grams and within-word character 3..5-grams.

    Attributes:
      dim: output width ``d`` (a power of two keeps bucket and sign bits independent).
      word_ngrams: ``(min_n, max_n)`` word n-gram orders (only 1 and 2 are supported).
      char_ngrams: ``(min_n, max_n)`` character n-gram orders within padded words.
    """

    dim: int = 2**12
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)
    name: str = "hash"
    default_batch_size: int = 2048

    def __post_init__(self):
        if not 1 <= self.dim <= 2**_SIGN_BIT:
            raise ValueError(f"dim must be in [1, 2**{_SIGN_BIT}], got {self.dim}")
        lo, hi = self.word_ngrams
        if not 1 <= lo <= hi <= 2:
            raise ValueError(f"word_ngrams must lie within (1, 2), got {self.word_ngrams}")
        lo, hi = self.char_ngrams
        if not 1 <= lo <= hi:
            raise ValueError(f"char_ngrams must satisfy 1 <= min <= max, got {self.char_ngrams}")

    def config(self) -> dict[str, Any]:
        """Everything that changes the output (part of the feature-cache key)."""
        return {
            "version": VERSION,
            "dim": self.dim,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "hash": "blake2b-64",
            "tf": "1+log",
            "norm": "l2",
        }

    def __call__(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = True
    ) -> np.ndarray:
        """``[T, dim]`` float32 features with unit-norm rows (all-zero for a text without words)."""
        batch_size = min(batch_size or self.default_batch_size, 1 << (64 - _ID_BITS))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        word_memo: dict[str, list[int]] = {}
        bigram_memo: dict[tuple[str, str], int] = {}
        for start in tqdm(
            range(0, len(texts), batch_size),
            disable=not progress,
            desc="hash features",
            unit="batch",
        ):
            chunk = texts[start : start + batch_size]
            ids, counts = [], []
            for text in chunk:
                n0 = len(ids)
                self._feature_ids(text, ids, word_memo, bigram_memo)
                counts.append(len(ids) - n0)
            out[start : start + len(chunk)] = self._scatter(ids, counts)
        return out

    def _feature_ids(
        self,
        text: str,
        ids: list[int],
        word_memo: dict[str, list[int]],
        bigram_memo: dict[tuple[str, str], int],
    ) -> None:
        """Append the 40-bit feature ids of ``text`` to ``ids`` (memoised per word/bigram)."""
        words = _WORD.findall(text.lower())
        use_unigrams = self.word_ngrams[0] == 1
        for w in words:
            wid = word_memo.get(w)
            if wid is None:
                wid = word_memo[w] = self._word_ids(w, use_unigrams)
            ids.extend(wid)
        if self.word_ngrams[1] == 2:
            for pair in itertools.pairwise(words):
                bid = bigram_memo.get(pair)
                if bid is None:
                    bid = bigram_memo[pair] = stable_hash(f"b\0{pair[0]} {pair[1]}") & _ID_MASK
                ids.append(bid)

    def _word_ids(self, word: str, use_unigram: bool) -> list[int]:
        feats = [f"w\0{word}"] if use_unigram else []
        padded = f" {word} "
        lo, hi = self.char_ngrams
        for n in range(lo, hi + 1):
            feats.extend(f"c\0{padded[i : i + n]}" for i in range(len(padded) - n + 1))
        return [stable_hash(f) & _ID_MASK for f in feats]

    def _scatter(self, ids: list[int], counts: list[int]) -> np.ndarray:
        """Bucket, sign, sublinear-tf and L2-normalise the feature ids of a chunk of texts."""
        n, d = len(counts), self.dim
        rows = np.repeat(np.arange(n, dtype=np.uint64), counts)
        # (row, feature id) packed into one uint64 so one np.unique counts every feature
        keys = (rows << np.uint64(_ID_BITS)) | np.asarray(ids, dtype=np.uint64)
        uniq, tf = np.unique(keys, return_counts=True)
        row = (uniq >> np.uint64(_ID_BITS)).astype(np.int64)
        fid = uniq & np.uint64(_ID_MASK)
        bucket = (fid % np.uint64(d)).astype(np.int64)
        sign = np.where((fid >> np.uint64(_SIGN_BIT)) & np.uint64(1), -1.0, 1.0)
        x = np.bincount(row * d + bucket, weights=sign * (1.0 + np.log(tf)), minlength=n * d)
        x = x.reshape(n, d)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)
