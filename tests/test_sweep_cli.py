"""``messjax sweep`` / ``messjax plot`` end to end on a shrunken config, through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from wandb_offline import read_offline_run

from messjax import cli
from messjax.outputs.rows import read_summary_csv
from messjax.outputs.traces import load_traces
from messjax.runs import sweep as sweep_runner
from messjax.runs.checkpoint import SweepCheckpoint
from messjax.runs.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# 2 seeds x 3 alphas x 2 V = 12 cells in 3 chunks of 4, 120 requests, curves every 10.
SMALL = """\
zoo: synthetic
task: arc_challenge
data: {preset: llama3, num_requests: 120, seed: 0}
featurizer: hash
head: linear
seeds: [1, 2]
alpha: [0.4, 0.5, 0.6]
V: [1e-4, 1e-3]
c: 0.5
trace_every: 10
chunk_size: 4
wandb: {mode: disabled, project: messjax-tests}
"""
CELLS, CHUNKS = 12, 3


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MESSJAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "features"))


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def sweep(config: Path, out: Path, *extra: str) -> int:
    return cli.main(["sweep", "--config", str(config), "--out", str(out), "--no-progress", *extra])


def test_sweep_writes_summary_config_traces_and_figures(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    printed = capsys.readouterr().out
    assert "12 cells" in printed and "3 chunk(s) computed" in printed

    rows = read_summary_csv(out / "summary.csv")
    assert len(rows) == CELLS
    first = rows[0]
    for col in (
        "zoo",
        "task",
        "method",
        "seed",
        "alpha",
        "V",
        "c",
        "total_cost",
        "satisfaction",
        "sla_met",
        "explore_count",
        "share_small",
        "share_medium",
        "share_large",
        "cost_unit",
    ):
        assert col in first
    assert (first["zoo"], first["task"], first["method"], first["cost_unit"]) == (
        "synthetic",
        "arc_challenge",
        "fast",
        "J",
    )
    assert sorted({(r["seed"], r["alpha"], r["V"]) for r in rows}) == sorted(
        (s, a, v) for s in (1, 2) for a in (0.4, 0.5, 0.6) for v in (1e-4, 1e-3)
    )
    for r in rows:
        assert r["num_requests"] == 120 and r["c"] == 0.5
        assert r["sla_met"] == (r["satisfaction"] >= r["alpha"])
        assert sum(r[f"share_{m}"] for m in ("small", "medium", "large")) == pytest.approx(1)

    resolved = load_config(out / "config.yaml")
    assert resolved.tasks == ("arc_challenge",) and resolved.learning_rate == (0.0606,)

    tr = load_traces(out / "traces.npz")
    assert tr["trace_every"] == 10 and tr["cost_unit"] == "J"
    t = tr["tasks"]["arc_challenge"]
    assert t["satisfied"].shape == (CELLS, 12) and t["served_counts"].shape == (CELLS, 12, 3)
    assert t["row"].tolist() == list(range(CELLS))
    assert t["num_requests"][:, -1].tolist() == [120] * CELLS
    # The last trace point is the summary: cumulative totals.
    np.testing.assert_allclose(t["total_cost"][:, -1], [r["total_cost"] for r in rows], rtol=1e-6)
    np.testing.assert_allclose(
        t["satisfied"][:, -1] / 120, [r["satisfaction"] for r in rows], rtol=1e-6
    )

    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == [
        f"{k}_arc_challenge.png" for k in ("cost_vs_alpha", "queue", "satisfaction", "shares")
    ]
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # `messjax plot DIR` redraws them from summary.csv + traces.npz alone.
    for p in (out / "figures").glob("*.png"):
        p.unlink()
    assert cli.main(["plot", str(out)]) == 0
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == figures
    assert not (out / "wandb").exists()  # wandb.mode: disabled


def test_interrupted_sweep_resumes_and_matches(small, tmp_path, monkeypatch):
    full, part = tmp_path / "full", tmp_path / "part"
    assert sweep(small, full) == 0

    class Stop(Exception):
        pass

    save = SweepCheckpoint.save

    def save_then_stop(self, task, chunk, *args):
        save(self, task, chunk, *args)
        raise Stop(f"interrupted after chunk {chunk}")

    monkeypatch.setattr(SweepCheckpoint, "save", save_then_stop)
    with pytest.raises(Stop):
        sweep(small, part)
    assert not (part / "summary.csv").exists()
    monkeypatch.setattr(SweepCheckpoint, "save", save)

    computed = []
    sweep_table = sweep_runner.sweep_table

    def counting(table, grid, **kw):
        computed.append(grid)
        return sweep_table(table, grid, **kw)

    monkeypatch.setattr(sweep_runner, "sweep_table", counting)
    assert sweep(small, part) == 0
    # Only chunks 2 and 3 (cells 4..11) were computed.
    grid = sweep_runner.task_grid(load_config(small), "arc_challenge")
    assert [g.size for g in computed] == [4, 4]
    for g, lo in zip(computed, (4, 8), strict=True):
        np.testing.assert_array_equal(g.seeds, grid.seeds[lo : lo + 4])
        np.testing.assert_array_equal(g.hparams.alpha, np.asarray(grid.hparams.alpha)[lo : lo + 4])
    assert (part / "summary.csv").read_bytes() == (full / "summary.csv").read_bytes()
    a, b = load_traces(full / "traces.npz"), load_traces(part / "traces.npz")
    for k, v in a["tasks"]["arc_challenge"].items():
        np.testing.assert_array_equal(v, b["tasks"]["arc_challenge"][k], err_msg=k)

    # A third run computes nothing.
    computed.clear()
    assert sweep(small, part) == 0
    assert computed == []
    assert (part / "summary.csv").read_bytes() == (full / "summary.csv").read_bytes()


def test_resume_refuses_a_different_config(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    capsys.readouterr()
    assert sweep(small, out, "--set", "c=0.4") == 2
    err = capsys.readouterr().err
    assert "different sweep" in err and "config.c" in err and "--restart" in err
    # wandb settings are not part of what was computed: changing them still resumes.
    assert sweep(small, out, "--set", "wandb.project=other") == 0
    assert "0 chunk(s) computed, 3 resumed" in capsys.readouterr().out
    assert sweep(small, out, "--set", "c=0.4", "--restart") == 0
    assert "3 chunk(s) computed, 0 resumed" in capsys.readouterr().out
    assert {r["c"] for r in read_summary_csv(out / "summary.csv")} == {0.4}


def _children() -> list[int]:
    me, kids = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def test_wandb_offline_run_holds_config_cells_and_curves(small, tmp_path, capsys):
    out = tmp_path / "out"
    before = set(_children())
    assert sweep(small, out, "--wandb", "offline") == 0
    assert "wandb sync" in capsys.readouterr().out
    assert set(_children()) <= before  # the wandb service was shut down

    (run_dir,) = (out / "wandb").glob("offline-run-*")
    assert list(run_dir.glob("run-*.wandb"))
    run = read_offline_run(run_dir)
    assert run["run"]["project"] == "messjax-tests"
    assert run["run"]["group"] == "synthetic/arc_challenge" and run["run"]["job_type"] == "sweep"
    assert run["config"]["alpha"] == [0.4, 0.5, 0.6] and run["config"]["zoo"] == "synthetic"
    assert run["summary"]["num_cells"] == CELLS
    rows = read_summary_csv(out / "summary.csv")
    share = sum(r["sla_met"] for r in rows) / len(rows)
    assert run["summary"]["arc_challenge/sla_met_share"] == pytest.approx(share)
    assert {"cells/path", "curves/path"} <= run["history_keys"]

    (cells,) = (run_dir / "files" / "media" / "table").glob("cells_*.table.json")
    table = json.loads(cells.read_text())
    assert len(table["data"]) == CELLS
    cols = table["columns"]
    assert [d[cols.index("total_cost")] for d in table["data"]] == pytest.approx(
        [r["total_cost"] for r in rows]
    )
    (curves,) = (run_dir / "files" / "media" / "table").glob("curves_*.table.json")
    curves = json.loads(curves.read_text())
    assert len(curves["data"]) == CELLS * 12  # 12 trace points per cell (<= 50 kept)
    assert "satisfaction" in curves["columns"] and "virtual_queue" in curves["columns"]


@pytest.mark.data
def test_paper_grid_on_real_arc_challenge(data_dir, tmp_path, capsys):
    out = tmp_path / "arc"
    rc = cli.main(
        [
            "sweep",
            "--config",
            str(CONFIGS / "llama3" / "arc_challenge.yaml"),
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
            "--wandb",
            "disabled",
            "--no-progress",
        ]
    )
    assert rc == 0
    rows = read_summary_csv(out / "summary.csv")
    assert len(rows) == 108
    assert {(r["seed"], r["alpha"], r["V"], r["c"]) for r in rows} == {
        (s, a, v, c)
        for s in (42, 43, 44)
        for a in (0.4, 0.5, 0.6)
        for v in (1e-5, 1e-4, 1e-3, 1e-2)
        for c in (0.01, 0.1, 1.0)
    }
    assert all(r["num_requests"] == 1172 and r["zoo"] == "llama3" for r in rows)
    assert len(list((out / "figures").glob("*.png"))) == 4
    assert "108 cells" in capsys.readouterr().out
