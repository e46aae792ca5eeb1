"""On-disk cache of feature matrices.

An entry is ``<name>-<key>.npy`` plus a sidecar ``<name>-<key>.json`` holding the key, the
shape/dtype and the sha256 of the ``.npy`` bytes. ``key = sha256(name, config, texts)``, so a
different featurizer, config or text list (order included) never hits. Both files are written
atomically (temporary file + ``os.replace``); an entry whose sidecar is missing or does not
match its ``.npy`` (truncated, corrupted, half-written) is treated as a miss and rewritten.
The temporary files of writes killed midway are removed by the next write to the folder
(:func:`drop_stale_temps`), so a cache never grows by what kills left behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "MESSJAX_CACHE_DIR"
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$MESSJAX_CACHE_DIR`` if set, else ``~/.cache/messjax/features``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "messjax" / "features"


def cache_key(name: str, config: Mapping[str, Any], texts: Sequence[str]) -> str:
    """sha256 hex digest of the featurizer name, its config and every text, in order.

    Each text is length-prefixed so that ``["ab", "c"]`` and ``["a", "bc"]`` differ.
    """
    h = hashlib.sha256()
    header = {"format": FORMAT_VERSION, "featurizer": name, "config": dict(config)}
    h.update(json.dumps(header, sort_keys=True, default=str).encode())
    h.update(len(texts).to_bytes(8, "little"))
    for text in texts:
        b = text.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def entry_paths(cache_dir: str | os.PathLike, name: str, key: str) -> tuple[Path, Path]:
    """``(features .npy, sidecar .json)`` paths of one cache entry."""
    stem = Path(cache_dir) / f"{name}-{key}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


def load(cache_dir: str | os.PathLike, name: str, key: str) -> np.ndarray | None:
    """The cached features for ``key``, or ``None`` when absent or not trustworthy."""
    npy, meta_path = entry_paths(cache_dir, name, key)
    if not npy.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        data = npy.read_bytes()
        if meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ValueError("key or checksum mismatch")
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if list(arr.shape) != meta.get("shape") or str(arr.dtype) != meta.get("dtype"):
            raise ValueError("shape or dtype mismatch")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        warnings.warn(
            f"ignoring unreadable feature cache entry {npy} ({e}); recomputing", stacklevel=3
        )
        return None
    return arr


def _atomic_write(path: Path, data: bytes) -> None:
    from messjax.fileio import atomic_write_bytes

    atomic_write_bytes(path, data)


def save(cache_dir: str | os.PathLike, name: str, key: str, features: np.ndarray) -> Path:
    """Write one entry atomically (``.npy`` first, then its sidecar); returns the ``.npy`` path."""
    npy, meta_path = entry_paths(cache_dir, name, key)
    npy.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(features), allow_pickle=False)
    data = buf.getvalue()
    meta = {
        "key": key,
        "featurizer": name,
        "shape": list(features.shape),
        "dtype": str(features.dtype),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    _atomic_write(npy, data)
    _atomic_write(meta_path, json.dumps(meta, indent=1).encode())
    drop_stale_temps(npy.parent)
    return npy


#: a temporary file of the cache untouched this long belongs to a write that was killed
STALE_TEMP_S = 60.0


def drop_stale_temps(cache_dir: str | os.PathLike, older_than_s: float = STALE_TEMP_S) -> int:
    """Remove the temporary files killed writes left in the cache folder, once untouched for
    ``older_than_s`` seconds (:func:`messjax.fileio.remove_temp_files`: a concurrent process
    still writing the same entry keeps its file). Returns how many were removed."""
    from messjax.fileio import remove_temp_files

    return remove_temp_files(cache_dir, older_than_s)
