"""Sweep configs: loading (paper defaults, the default config), validation errors naming the
key, overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from messjax import cli, paper
from messjax.errors import ConfigError
from messjax.runs.config import (
    SweepConfig,
    apply_overrides,
    config_from_dict,
    default_config,
    load_config,
    parse_yaml,
)
from messjax.runs.sweep import task_grid

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_default_config_is_packaged():
    # `messjax run` reads it from the package (works from a wheel).
    cfg = load_config(None)
    assert cfg.zoo == "synthetic" and cfg.data.preset == "llama3" and cfg.tasks
    for task in cfg.tasks:
        assert cfg.num_cells(task) == 3 * 3 * 3 * 3
    assert default_config() is not default_config()  # a fresh dict every time


def test_paper_key_expands_to_the_paper_sweep_under_the_files_keys():
    cfg = load_config(CONFIGS / "qwen2" / "boolq.yaml", ["c=[0.1]"])
    assert (cfg.zoo, cfg.tasks) == ("qwen2", ("boolq",))
    assert cfg.alpha == paper.ALPHA_GRID["qwen2"]["boolq"]
    assert cfg.seeds == paper.SEEDS and cfg.V == paper.V_GRID and cfg.c == (0.1,)
    epochs, lr, momentum = paper.predictor_preset("boolq")
    assert (cfg.epochs, cfg.learning_rate, cfg.momentum) == ((epochs,), (lr,), (momentum,))
    assert cfg.wandb.group == "qwen2/boolq" and cfg.wandb.mode == "offline"
    assert cfg.chunk_size == 36 and cfg.num_cells("boolq") == 36
    # Given keys win, sections merge: the paper's alphas of boolq run on piqa.
    cfg = config_from_dict({"paper": "llama3/boolq", "tasks": ["piqa"], "wandb": {"tags": ["x"]}})
    assert cfg.tasks == ("piqa",) and cfg.alpha == paper.ALPHA_GRID["llama3"]["boolq"]
    assert cfg.wandb.group == "llama3/boolq" and cfg.wandb.tags == ("x",)
    with pytest.raises(ConfigError, match="did you mean 'qwen2/boolq'"):
        config_from_dict({"paper": "qwen2/bolq"})


def test_overrides_parse_yaml_values_and_dotted_keys():
    cfg = load_config(
        CONFIGS / "llama3" / "arc_challenge.yaml",
        ["alpha=[0.5,0.6]", "V=1e-4", "wandb.mode=disabled", "data.num_requests=50", "c=1"],
    )
    assert cfg.alpha == (0.5, 0.6)
    assert cfg.V == (1e-4,)  # "1e-4" is a float, not PyYAML 1.1's string
    assert cfg.c == (1.0,)
    assert cfg.wandb.mode == "disabled" and cfg.data.num_requests == 50
    assert parse_yaml("1e-4") == 1e-4 and parse_yaml("[1e-5, 2E3]") == [1e-5, 2000.0]


def test_task_override_replaces_tasks():
    default = default_config()
    raw = apply_overrides(default, ["task=piqa"])
    assert config_from_dict(raw).tasks == ("piqa",)
    assert default["tasks"] == ["arc_challenge", "boolq"]  # not mutated


def test_paper_defaults_per_task_and_resolve():
    cfg = load_config(None, ["tasks=[logiqa]"])
    assert cfg.alpha is None and cfg.learning_rate is None
    assert cfg.alpha_for("logiqa") == paper.ALPHA_GRID["llama3"]["logiqa"]
    assert cfg.predictor_for("logiqa") == ((5,), (0.0272,), (0.9,))
    assert cfg.predictor_for("boolq") == ((3,), (0.0767,), (0.95,))
    resolved = cfg.resolve(["logiqa"])
    assert resolved.alpha == (0.3, 0.4, 0.45) and resolved.epochs == (5,)
    assert resolved.momentum == (0.9,)
    again = config_from_dict(parse_yaml(resolved.to_yaml()))
    assert again == resolved


def test_grid_order_seeds_outermost():
    cfg = load_config(None, ["tasks=[arc_challenge]", "seeds=[1,2]", "V=[1e-4]", "c=[0.1,1]"])
    grid = task_grid(cfg, "arc_challenge")
    assert grid.size == 2 * 3 * 2 == cfg.num_cells("arc_challenge")
    assert grid.seeds.tolist() == [1] * 6 + [2] * 6


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("alhpa=0.5", "alhpa", "did you mean 'alpha'"),
        ("wandb.mod=offline", "wandb.mod", "did you mean 'mode'"),
        ("alpha=1.5", "alpha", "(0, 1)"),
        ("alpha=[0.5,0]", "alpha", "(0, 1)"),
        ("V=0", "V", "> 0"),
        ("c=-1", "c", "> 0"),
        ("feedback_rate=1.5", "feedback_rate", "(0, 1]"),
        ("zoo=lama3", "zoo", "did you mean 'llama3'"),
        ("featurizer=bert", "featurizer", "unknown value"),
        ("head=mpl", "head", "did you mean 'mlp'"),
        ("method=slow", "method", "unknown value"),
        ("V=abc", "V", "must be a number"),
        ("seeds=[1,x]", "seeds", "integer"),
        ("epochs=1.5", "epochs", "integer"),
        ("trace_every=ten", "trace_every", "integer"),
        ("chunk_size=0", "chunk_size", ">= 1"),
        ("epochs=0", "epochs", ">= 1"),
        ("momentum=[0.5,1]", "momentum", "[0, 1)"),
        ("replay=-1", "replay", ">= 0"),
        ("input_dropout=1", "input_dropout", "[0, 1)"),
        ("input_dropout=x", "input_dropout", "number"),
        ("wandb.mode=sometimes", "wandb.mode", "unknown value"),
        ("data=5", "data", "mapping"),
        ("tasks=[arc_chalenge]", "tasks", "did you mean 'arc_challenge'"),
        ("cost_estimator=oracel", "cost_estimator", "did you mean 'oracle'"),
    ],
)
def test_bad_values_name_the_key(override, key, words):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert e.value.key == key
    assert f"'{key}'" in str(e.value) and words in str(e.value)


def test_bad_config_file_fails_in_the_cli(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("zoo: synthetic\ntask: arc_challenge\nalpha: 1.5\n")
    assert cli.main(["sweep", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "config key 'alpha'" in err and "(0, 1)" in err
    assert not (tmp_path / "o").exists()  # nothing was started

    bad.write_text("zoo: synthetic\nV: [1e-4]\nexplore: 0.1\n")
    assert cli.main(["sweep", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "config key 'explore': unknown key" in capsys.readouterr().err

    bad.write_text("zoo: [llama3]\n")
    assert cli.main(["sweep", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "config key 'zoo'" in capsys.readouterr().err

    assert cli.main(["sweep", "--config", str(tmp_path / "nope.yaml"), "--out", "o"]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_unknown_real_task_is_a_config_error(tmp_path, capsys):
    # Real zoos are checked against the loaded table; an empty data dir fails first.
    rc = cli.main(
        [
            "sweep",
            "--config",
            str(CONFIGS / "llama3" / "boolq.yaml"),
            "--out",
            str(tmp_path / "o"),
            "--data-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert rc == 2
    assert "messplus-llama3" in capsys.readouterr().err


def test_defaults_of_the_dataclass_are_the_paper_grid():
    cfg = SweepConfig()
    assert cfg.V == paper.V_GRID and cfg.c == paper.C_GRID and cfg.seeds == paper.SEEDS


# ------------------------------------------------------------------------ the specification
def _messplus_md() -> Path | None:
    """MESSPLUS.md of the shared docs (next to the data folder, or beside the checkout)."""
    import os

    candidates = [Path(__file__).resolve().parents[2] / "shared" / "docs" / "MESSPLUS.md"]
    if os.environ.get("MESSJAX_DATA_DIR"):
        candidates.append(Path(os.environ["MESSJAX_DATA_DIR"]).parent / "docs" / "MESSPLUS.md")
    return next((p for p in candidates if p.is_file()), None)


def test_predictor_presets_match_the_specification():
    """Every task's (epochs, learning rate, momentum) as MESSPLUS.md section 4 lists them."""
    import os
    import re

    path = _messplus_md()
    if path is None:
        if os.environ.get("MESSJAX_REQUIRE_DATA"):
            pytest.fail("MESSPLUS.md not found beside the data folder")
        pytest.skip("MESSPLUS.md (the shared docs) not found")
    text = " ".join(path.read_text().split())
    section = text[text.index("Per-benchmark settings used by the authors") :]
    found = dict(
        (task, (int(e), float(lr), float(m)))
        for task, e, lr, m in re.findall(
            r"(\w+) (\d+) / (\d+(?:\.\d+)?) / (\d+(?:\.\d+)?)", section[:600]
        )
    )
    assert set(found) == set(paper.PAPER_TASKS)
    assert found == {t: paper.PREDICTOR_PRESETS[t] for t in paper.PAPER_TASKS}
    assert {t for t, (_, _, m) in found.items() if m == 0.95} == {"boolq", "sciq", "social_iqa"}


def test_momentum_and_sparse_training_keys():
    cfg = load_config(
        None, ["tasks=[boolq]", "momentum=[0.5, 0.9]", "sparse_training=all_explorations"]
    )
    grid = task_grid(cfg, "boolq")
    np.testing.assert_allclose(sorted(set(grid.hparams.momentum.tolist())), [0.5, 0.9])
    assert set(grid.hparams.sparse_training.tolist()) == {1}
    with pytest.raises(ConfigError, match="momentum"):
        load_config(None, ["momentum=1.0"])
    with pytest.raises(ConfigError, match="sparse_training"):
        load_config(None, ["sparse_training=sometimes"])
    with pytest.raises(ConfigError, match="n_dup"):
        load_config(None, ["n_dup=0"])
    assert load_config(None, ["n_dup=1", "input_dropout=0"]).engine_options() == dict(
        replay=0, input_dropout=0.0, n_dup=1
    )
