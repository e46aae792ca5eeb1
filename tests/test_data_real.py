"""The real MESS+ logs (MESSJAX_DATA_DIR) against the numbers stated in their SOURCE.txt files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from messjax import cli
from messjax.data import ZooJoinWarning, describe, load_zoo, shuffle

pytestmark = pytest.mark.data


def source_facts(folder: Path) -> dict:
    """Rows per task and the mean accuracy / energy / time lists from a SOURCE.txt."""
    text = (folder / "SOURCE.txt").read_text()
    rows_part = re.search(r"^Rows\s+(.*?)requests", text, re.S | re.M).group(1)
    rows_part = re.sub(r"\([^)]*\)", "", rows_part)  # "arc_easy 2000 (of 2376)"
    rows = {task: int(n) for task, n in re.findall(r"([a-z_]+) (\d+)", rows_part)}
    total = int(re.search(r"= (\d+) requests", text).group(1))
    means = re.search(r"^Means\s+(.*?)(?:^\S|\Z)", text, re.S | re.M).group(1)

    def numbers(key: str, end: str) -> list[str]:
        m = re.search(rf"{key}\s+(.*?){end}", means, re.S)
        return re.findall(r"\d*\.\d+|\d+", m.group(1)) if m else []

    return {
        "rows": rows,
        "total": total,
        "accuracy": numbers("accuracy", ";"),
        "energy": numbers("energy", " J"),
        "time": numbers("time", " s"),
    }


def assert_rounded(values: np.ndarray, stated: list[str]) -> None:
    """``values`` round to the stated numbers at the precision they are written with."""
    assert len(values) == len(stated)
    for value, text in zip(values, stated, strict=True):
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert abs(value - float(text)) <= 0.5 * 10**-decimals + 1e-9, (value, text)


@pytest.mark.parametrize(
    ("zoo", "models"),
    [("llama3", ("small", "medium", "large")), ("qwen2", ("xsmall", "small", "medium", "large"))],
)
def test_zoo_matches_source(data_dir, zoo, models):
    facts = source_facts(data_dir / f"messplus-{zoo}")
    t = load_zoo(zoo, data_dir=data_dir)
    assert t.name == zoo and t.models == models and t.cost_unit == "J"
    assert t.source == str(data_dir / f"messplus-{zoo}")
    assert len(t) == facts["total"] == sum(facts["rows"].values())
    assert t.task_names == tuple(sorted(facts["rows"]))  # sorted file order
    counts = {task: int((t.tasks == task).sum()) for task in t.task_names}
    assert counts == facts["rows"]
    assert set(np.unique(t.labels)) <= {0.0, 1.0}
    assert_rounded(t.accuracy(), facts["accuracy"])
    assert_rounded(t.mean_cost(), facts["energy"])
    if facts["time"]:
        tt = load_zoo(zoo, data_dir=data_dir, cost="time")
        assert tt.cost_unit == "s" and tt.models == models
        assert_rounded(tt.mean_cost(), facts["time"])


def test_llama3_describe_arc_challenge(data_dir):
    text = describe(load_zoo("llama3", data_dir=data_dir))
    arc = next(line for line in text.splitlines() if line.startswith("arc_challenge "))
    cells = arc.split()
    assert cells[1] == "1172"
    assert [cells[3], cells[6], cells[9]] == ["37.9", "54.4", "60.8"]


def test_joined_zoo(data_dir):
    with pytest.warns(ZooJoinWarning) as record:
        j = load_zoo("llama3+qwen2", data_dir=data_dir)
    message = str(record[0].message)
    assert "mmlu_abstract_algebra (100 rows, whole task, only in llama3)" in message
    assert "arc_easy (376 rows, of 2376, only in qwen2)" in message
    assert j.name == "llama3+qwen2" and j.num_models == 7
    assert set(j.models) == {
        "llama3/small",
        "llama3/medium",
        "llama3/large",
        "qwen2/xsmall",
        "qwen2/small",
        "qwen2/medium",
        "qwen2/large",
    }
    assert np.all(np.diff(j.mean_cost()) >= 0)  # cheapest first
    assert len(j.task_names) == 8 and "mmlu_abstract_algebra" not in j.task_names
    assert len(j) == 13252 - 100
    # the joined columns agree with each zoo on every joined request
    llama = load_zoo("llama3", data_dir=data_dir)
    arc = j.select_task("arc_challenge")
    la = llama.select_task("arc_challenge")
    assert arc.ids.tolist() == la.ids.tolist() and arc.texts.tolist() == la.texts.tolist()
    np.testing.assert_array_equal(arc.labels[:, j.models.index("llama3/large")], la.labels[:, 2])


def test_shuffled_stream_is_reproducible(data_dir):
    t = load_zoo("llama3", data_dir=data_dir).select_task("arc_challenge")
    assert shuffle(t, 0).ids.tolist() == shuffle(t, 0).ids.tolist()
    assert shuffle(t, 0).ids.tolist() != shuffle(t, 1).ids.tolist()


def test_cli_describe_real(data_dir, capsys):
    argv = ["data", "describe", str(data_dir / "messplus-qwen2"), "--cost", "time"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("zoo qwen2: 13528 requests, 8 tasks, 4 models")
    assert "cost unit s" in out
