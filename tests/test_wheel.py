"""messjax as a user installs it: a wheel (not editable) in a fresh virtual environment, used
from a folder outside the checkout.

The wheel is built from a copy of the package's sources and installed with ``--no-deps``; the
dependencies already installed for the tests are made visible to the new environment by a
``.pth`` line naming their site-packages folder (a plain path line: the ``.pth`` files there,
among them an editable install's finder, are not processed, so ``messjax`` can only come from
the wheel, which is checked). ``messjax bench --quick`` then runs its worker processes
(``python -m messjax.runs.<module>``) from the installed package, and ``import messjax.cli``
must not import JAX.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the sources (the checkout gets no build/ or egg-info folder)."""
    src = tmp / "src"
    shutil.copytree(ROOT / "messjax", src / "messjax", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "wheels")]
    try:  # the test environment's setuptools (dev extra) builds it, offline
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)

        pip.append("--no-build-isolation")
    except ImportError:  # an older setuptools: pip fetches the build backend
        pass
    proc = subprocess.run([*pip, str(src)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot build the wheel here: {proc.stderr.strip().splitlines()[-1:]}")
    (wheel,) = (tmp / "wheels").glob("messjax-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(bin folder, env)`` of a fresh venv holding the wheel (deps from the test env)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp)
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(purelib.stdout.strip(), "_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          str(wheel)])  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return bindir, python, env, venv


@pytest.mark.slow
def test_wheel_outside_the_checkout(installed, tmp_path):
    bindir, python, env, venv = installed
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    probe = (
        "import sys, messjax, messjax.cli; "
        "print(messjax.__file__); print('jax' in sys.modules); messjax.cli.build_parser(); "
        "print('jax' in sys.modules)"
    )
    out = _run([str(python), "-c", probe], cwd=cwd, env=env).stdout.split()
    assert Path(out[0]).is_relative_to(venv), out[0]  # from the wheel, not the checkout
    assert out[1:] == ["False", "False"]  # import messjax.cli and --help leave JAX out

    env = dict(env, MESSJAX_CACHE_DIR=str(tmp_path / "cache"))
    env["MESSJAX_JAX_CACHE_DIR"] = str(tmp_path / "jax")
    proc = subprocess.run(
        [str(bindir / "messjax"), "bench", "--quick", "--json", "out.json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # five processes (bench, NumPy loops, compile probes) on 2 shared cores
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((cwd / "out.json").read_text())
    assert report["quick"] is True and report["episodes"] == 8
    assert report["decisions_match_numpy"] is True
    assert report["messjax"]["decisions_match_numpy"] is True
    assert report["compile_cache"]["cache_files"] > 0
