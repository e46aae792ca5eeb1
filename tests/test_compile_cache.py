"""The persistent compilation cache switch (messjax.runs.compile_cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from messjax.runs import compile_cache


def test_default_folder_and_switch(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.DIR_ENV, raising=False)
    assert compile_cache.default_dir() == Path.home() / ".cache" / "messjax" / "jax"
    monkeypatch.setenv(compile_cache.DIR_ENV, str(tmp_path / "c"))
    assert compile_cache.default_dir() == tmp_path / "c"
    for off in ("0", "false", "off"):
        monkeypatch.setenv(compile_cache.SWITCH_ENV, off)
        assert compile_cache.enable() is None
    assert not (tmp_path / "c").exists()


def _child(code: str, env: dict) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_enable_before_and_after_jax_is_imported(tmp_path):
    """Before JAX starts (the CLI's case) via JAX's environment variables, after it via
    jax.config; either way jax.config points at the folder, and MESSJAX_JAX_CACHE=0 leaves
    it unset."""
    env = {**os.environ, compile_cache.DIR_ENV: str(tmp_path / "jc")}
    env.pop(compile_cache.SWITCH_ENV, None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    before = (
        "from messjax.runs import compile_cache as c; import sys; p = c.enable(); "
        "assert 'jax' not in sys.modules; import jax; print(jax.config.jax_compilation_cache_dir)"
    )
    after = (
        "import jax; from messjax.runs import compile_cache as c; c.enable(); "
        "print(jax.config.jax_compilation_cache_dir)"
    )
    assert _child(before, env) == str(tmp_path / "jc")
    assert _child(after, env) == str(tmp_path / "jc")
    off = {**env, compile_cache.SWITCH_ENV: "0"}
    assert _child(after, off) in ("None", "")
