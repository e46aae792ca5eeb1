"""Compile once: JAX's persistent compilation cache, on by default for the ``messjax`` CLI.

Compiling is most of a first call on a CPU (the paper grid: ~10 of 13.5 s). With the cache on,
XLA executables are stored in a folder beside the feature cache and a second invocation of the
same command loads them instead of compiling.

- folder: ``$MESSJAX_JAX_CACHE_DIR``, else ``~/.cache/messjax/jax``;
- ``MESSJAX_JAX_CACHE=0`` turns it off.

:func:`enable` is called once at the start of every CLI command (``messjax.cli.main``). It does
not import JAX when JAX is not loaded yet: it sets JAX's own environment variables, which JAX
reads when it starts.

:func:`measure_cold_warm` times a compilation cold (empty cache) and warm (the cache the cold
process filled), each in a fresh process, for ``messjax bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DIR_ENV = "MESSJAX_JAX_CACHE_DIR"
SWITCH_ENV = "MESSJAX_JAX_CACHE"
#: Compilations faster than this are not stored (JAX's default is 1 s; most of messjax's
#: jitted functions take 0.2-10 s to compile on a CPU).
MIN_COMPILE_SECS = 0.2


def default_dir() -> Path:
    """``$MESSJAX_JAX_CACHE_DIR`` if set, else ``~/.cache/messjax/jax``."""
    env = os.environ.get(DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "messjax" / "jax"


def is_enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def enable(path: str | Path | None = None) -> Path | None:
    """Turn JAX's persistent compilation cache on at ``path`` (default :func:`default_dir`).

    Returns the folder, or None when ``MESSJAX_JAX_CACHE=0``. A folder that cannot be created
    leaves the cache off (compiling still works) and says so on stderr.
    """
    if not is_enabled():
        return None
    folder = Path(path) if path is not None else default_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"messjax: compilation cache off ({folder}: {e})", file=sys.stderr)
        return None
    settings = {
        "jax_compilation_cache_dir": str(folder),
        "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_SECS,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    if "jax" in sys.modules:
        import jax

        for name, value in settings.items():
            jax.config.update(name, value)
    else:  # JAX reads these when it is first imported
        for name, value in settings.items():
            os.environ[name.upper()] = str(value)
    return folder


# ---------------------------------------------------------------- cold / warm measurement
PROBE = "--compile-probe"


def measure_cold_warm(streams, grids, config, *, num_devices: int | None = None, log=print):
    """Compile time of :func:`messjax.core.sweep.run_sweeps` on (streams, grids), cold and warm.

    Two fresh processes share a new, empty cache folder: the first compiles and fills it
    (cold), the second finds it filled (warm). Each times a first call (compile + run) and a
    second call (run); compile = first - second. Returns a dict of seconds.
    """
    import dataclasses

    import numpy as np

    with tempfile.TemporaryDirectory(prefix="messjax-jaxcache-") as tmp:
        inp = Path(tmp) / "probe.npz"
        arrays: dict[str, Any] = {}
        for i, (x, labels, costs) in enumerate(streams):
            arrays[f"x{i}"], arrays[f"l{i}"], arrays[f"c{i}"] = x, labels, costs
        for i, g in enumerate(grids):
            arrays[f"seeds{i}"] = g.seeds
            for k, v in g.columns().items():
                if k != "seed":
                    arrays[f"hp{i}_{k}"] = v
        spec = dict(n=len(streams), config=dataclasses.asdict(config), devices=num_devices)
        np.savez(inp, spec=json.dumps(spec), **arrays)
        cache = Path(tmp) / "cache"
        out: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            res = Path(tmp) / f"{phase}.json"
            env = {**os.environ, DIR_ENV: str(cache), SWITCH_ENV: "1"}
            cmd = [sys.executable, "-m", "messjax.runs.compile_cache", PROBE, str(inp), str(res)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"the compile probe failed:\n{proc.stderr[-3000:]}")
            r = json.loads(res.read_text())
            out[f"first_call_{phase}_s"] = r["first_s"]
            out[f"run_{phase}_s"] = r["run_s"]
            out[f"compile_{phase}_s"] = max(r["first_s"] - r["run_s"], 0.0)
            log(
                f"compile {phase}: first call {r['first_s']:.2f} s, run {r['run_s']:.2f} s "
                f"-> compile {out[f'compile_{phase}_s']:.2f} s"
            )
        out["cache_files"] = sum(1 for _ in cache.rglob("*") if _.is_file())
    return out


def _probe(inp: str, out: str) -> int:
    """The probe process: enable the cache, time a first and a second sweep call."""
    import time

    import numpy as np

    enable()
    with np.load(inp) as data:
        spec = json.loads(str(data["spec"]))
        import jax

        if spec["devices"]:
            jax.config.update("jax_num_cpu_devices", int(spec["devices"]))
        from messjax.core.sweep import Grid, run_sweeps
        from messjax.core.types import HPARAM_NAMES, EngineConfig, Hyperparams

        streams = [(data[f"x{i}"], data[f"l{i}"], data[f"c{i}"]) for i in range(spec["n"])]
        grids = [
            Grid(
                seeds=data[f"seeds{i}"],
                hparams=Hyperparams(**{k: data[f"hp{i}_{k}"] for k in HPARAM_NAMES}),
            )
            for i in range(spec["n"])
        ]
    config = EngineConfig(**spec["config"])
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        jax.block_until_ready(run_sweeps(streams, grids, config)[-1].summary)
        times.append(time.perf_counter() - t0)
    Path(out).write_text(json.dumps(dict(first_s=times[0], run_s=times[1])))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [PROBE]:
        sys.exit(_probe(sys.argv[2], sys.argv[3]))
    print(f"usage: python -m messjax.runs.compile_cache {PROBE} IN.npz OUT.json", file=sys.stderr)
    sys.exit(2)
