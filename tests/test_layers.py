"""The package's layering: the command line starts without importing JAX."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_messjax_and_cli_leave_jax_out():
    mods = _modules_after("import messjax, messjax.cli")
    assert "jax" not in mods and "flax" not in mods and "optax" not in mods


def test_help_parser_leaves_jax_out():
    """``messjax --help`` builds every subcommand's parser: none may import JAX to do it."""
    mods = _modules_after("import messjax.cli\nmessjax.cli.build_parser()")
    assert "jax" not in mods, "a command module imports JAX at module level"


def test_lazy_exports_resolve():
    import messjax

    assert messjax.Router.__name__ == "Router"
    assert callable(messjax.make_grid) and callable(messjax.sweep_table)
    assert set(messjax.__all__) <= set(dir(messjax))
