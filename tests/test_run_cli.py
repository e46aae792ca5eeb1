"""``messjax run``: the main job, on the embedded synthetic config and on the real logs."""

from __future__ import annotations

import pytest

from messjax import cli, paper
from messjax.outputs.rows import read_summary_csv


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MESSJAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "features"))


SHRINK = [
    "--set",
    "data.num_requests=120",
    "--set",
    "seeds=[1,2]",
    "--set",
    "V=[1e-4,1e-3]",
    "--set",
    "c=0.5",
    "--set",
    "chunk_size=4",
    "--no-progress",
]


def test_run_prints_a_table_per_task_without_writing(tmp_path, capsys, monkeypatch):
    # The default config is embedded (works from a wheel): no configs/ folder is needed.
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", *SHRINK]) == 0
    out = capsys.readouterr().out
    for task in ("arc_challenge", "boolq"):  # the embedded default's tasks
        assert f"synthetic / {task}: 120 requests, 12 cells; mean ± std over 2 seeds" in out
    assert "calls % (small/medium/large)" in out and "SLA met" in out and "cost (" in out
    assert " 2/2 " in out or " 1/2 " in out or " 0/2 " in out
    assert "24 cells in" in out
    assert list(tmp_path.iterdir()) == []  # no --out: nothing written, no wandb


def test_run_with_out_writes_the_sweep_folder(tmp_path, capsys):
    out = tmp_path / "o"
    assert (
        cli.main(["run", "--task", "piqa", "--out", str(out), "--wandb", "disabled", *SHRINK]) == 0
    )
    rows = read_summary_csv(out / "summary.csv")
    assert {r["task"] for r in rows} == {"piqa"}
    assert {r["alpha"] for r in rows} == set(paper.ALPHA_GRID["llama3"]["piqa"])
    assert (out / "traces.npz").is_file() and (out / "config.yaml").is_file()


@pytest.mark.data
def test_run_on_real_arc_challenge(data_dir, capsys):
    assert (
        cli.main(
            [
                "run",
                "--zoo",
                "llama3",
                "--task",
                "arc_challenge",
                "--data-dir",
                str(data_dir),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "llama3 / arc_challenge: 1172 requests, 81 cells; mean ± std over 3 seeds" in out
    assert "cost (MJ)" in out
    for alpha in paper.ALPHA_GRID["llama3"]["arc_challenge"]:
        assert f"\n{alpha:>5g} " in out
