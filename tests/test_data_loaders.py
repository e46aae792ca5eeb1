"""Loaders on tiny hand-written logs: MESS+, RouterBench, RouteLLM, joins, zoo names, describe."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from messjax import cli
from messjax.data import (
    ZOOS,
    RoutingTable,
    ZooJoinWarning,
    describe,
    join_zoos,
    load_messplus,
    load_routellm,
    load_routerbench,
    load_zoo,
)
from messjax.data.loaders import detect_format
from messjax.data.loaders.routerbench import _parse_prompt
from messjax.errors import ConfigError, DataError

FIXTURES = Path(__file__).parent / "fixtures"

# Models deliberately listed most expensive first; acc_ and acc_norm_ both occur.
ARC = """\
doc_id,input_text,benchmark_name,label_large,acc_norm_large,energy_consumption_large,inference_time_large,label_small,acc_small,energy_consumption_small,inference_time_small
0,What is 2+2?,arc,1,1,100.0,1.0,1,1,10.0,0.1
1,"Pick one, A or B",arc,1,1,120.0,1.5,0,0,12.0,0.2
2,Is water wet?,arc,0,0,90.0,0.9,0,0,8.0,0.1
"""
# Same zoo, columns in another order, a quoted multi-line text.
BOOLQ = """\
doc_id,benchmark_name,input_text,label_small,acc_small,energy_consumption_small,inference_time_small,label_large,acc_large,energy_consumption_large,inference_time_large
7,boolq,"is the sky
blue",1,1,5.0,0.05,1,1,50.0,0.5
8,boolq,can fish fly,0,0,6.0,0.06,1,1,60.0,0.6
"""
# A second zoo over the same requests (one task shared, one only here).
QWEN_ARC = """\
doc_id,input_text,benchmark_name,label_small,acc_small,energy_consumption_small,inference_time_small
2,Is water wet?,arc,1,1,30.0,0.3
0,What is 2+2?,arc,1,1,30.0,0.3
1,"Pick one, A or B",arc,0,0,30.0,0.3
"""
QWEN_PIQA = """\
doc_id,input_text,benchmark_name,label_small,acc_small,energy_consumption_small,inference_time_small
0,How to open a jar?,piqa,1,1,20.0,0.2
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def zoo_root(tmp_path: Path) -> Path:
    """A data dir with messplus-llama3/ (arc, boolq) and messplus-qwen2/ (arc, piqa)."""
    write(tmp_path / "messplus-llama3" / "boolq.csv", BOOLQ)
    write(tmp_path / "messplus-llama3" / "arc.csv", ARC)
    write(tmp_path / "messplus-llama3" / "SOURCE.txt", "not a csv\n")
    write(tmp_path / "messplus-qwen2" / "arc.csv", QWEN_ARC)
    write(tmp_path / "messplus-qwen2" / "piqa.csv", QWEN_PIQA)
    return tmp_path


# ---------------------------------------------------------------------------------- MESS+
def test_messplus_single_csv(tmp_path):
    path = write(tmp_path / "arc.csv", ARC)
    t = load_messplus(path)
    assert isinstance(t, RoutingTable)
    assert t.models == ("small", "large")  # cheapest first
    assert t.cost_unit == "J" and t.name == "arc" and t.source == str(path)
    assert t.texts.tolist() == ["What is 2+2?", "Pick one, A or B", "Is water wet?"]
    assert t.ids.tolist() == ["0", "1", "2"] and t.tasks.tolist() == ["arc"] * 3
    np.testing.assert_array_equal(t.labels, [[1, 1], [0, 1], [0, 0]])
    np.testing.assert_allclose(t.costs, [[10, 100], [12, 120], [8, 90]])
    assert t.labels.dtype == np.float32 and not t.labels.flags.writeable


def test_messplus_time_cost(tmp_path):
    t = load_messplus(write(tmp_path / "arc.csv", ARC), cost="time")
    assert t.cost_unit == "s"
    np.testing.assert_allclose(t.costs, [[0.1, 1.0], [0.2, 1.5], [0.1, 0.9]], rtol=1e-6)


def test_messplus_folder_sorted_file_order(zoo_root):
    t = load_messplus(zoo_root / "messplus-llama3")
    assert t.name == "llama3"  # messplus- prefix dropped
    assert t.task_names == ("arc", "boolq")  # arc.csv sorts before boolq.csv
    assert t.texts[3] == "is the sky\nblue"
    assert t.models == ("small", "large")
    np.testing.assert_array_equal(t.labels[3:], [[1, 1], [0, 1]])
    np.testing.assert_allclose(t.costs[3:], [[5, 50], [6, 60]])


def test_messplus_blank_lines_are_not_rows(tmp_path):
    t = load_messplus(write(tmp_path / "arc.csv", ARC + "\n\n"))
    assert len(t) == 3


def test_messplus_models_sorted_by_mean_cost(tmp_path):
    text = ARC.replace("100.0", "1.0").replace("120.0", "1.0").replace("90.0", "1.0")
    t = load_messplus(write(tmp_path / "arc.csv", text))
    assert t.models == ("large", "small")


def test_messplus_bad_cost_kind(tmp_path):
    with pytest.raises(ConfigError, match="energy, time"):
        load_messplus(write(tmp_path / "arc.csv", ARC), cost="dollars")


def test_messplus_folder_models_must_agree(tmp_path):
    write(tmp_path / "z" / "arc.csv", ARC)
    write(tmp_path / "z" / "piqa.csv", QWEN_PIQA)
    with pytest.raises(DataError, match=r"piqa\.csv: models \['small'\] differ"):
        load_messplus(tmp_path / "z")


def test_messplus_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \*\.csv files"):
        load_messplus(tmp_path / "empty")


# ---------------------------------------------------------------------------------- RouterBench
def test_routerbench_fixture():
    t = load_routerbench(FIXTURES / "routerbench_small.csv")
    assert t.models == ("mistralai/mistral-7b-chat", "gpt-4-1106-preview")
    assert t.cost_unit == "$" and t.name == "routerbench_small"
    assert t.task_names == ("hellaswag", "mt-bench", "grade-school-math")
    assert t.ids[0] == "hellaswag.dev.0"
    # list-literal prompts are parsed and joined with newlines
    assert t.texts[0] == "A man is sitting on a roof. He\nstarts pulling up roofing on a roof."
    assert t.texts[1] == 'Pick the ending: "She grabs the rope, then"'
    assert t.texts[2].startswith("[citation needed]")  # not a list literal: kept verbatim
    # fractional scores (mt-bench) are kept
    np.testing.assert_allclose(t.labels[3], [0.65, 0.9])
    np.testing.assert_allclose(t.costs[0], [0.00002, 0.00121], rtol=1e-5)


def test_routerbench_model_subset():
    t = load_routerbench(FIXTURES / "routerbench_small.csv", models=["gpt-4-1106-preview"])
    assert t.models == ("gpt-4-1106-preview",)
    with pytest.raises(
        DataError, match=r"unknown model 'gpt-4-1106-previw' \(did you mean 'gpt-4-1106-preview'"
    ):
        load_routerbench(FIXTURES / "routerbench_small.csv", models=["gpt-4-1106-previw"])


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("['a', 'b']", "a\nb"),
        ('["only"]', "only"),
        ("[1, 2]", "[1, 2]"),
        ("[]", "[]"),
        ("[citation needed]", "[citation needed]"),
        ("[__import__('os').system('true')]", "[__import__('os').system('true')]"),
        ("plain text", "plain text"),
    ],
)
def test_parse_prompt(raw, parsed):
    assert _parse_prompt(raw) == parsed


# ---------------------------------------------------------------------------------- RouteLLM
PRICES = {"gpt-4-1106-preview": 0.01, "mistralai/Mixtral-8x7B-Instruct-v0.1": 0.0006}


def test_routellm_fixture():
    t = load_routellm(FIXTURES / "routellm_small.csv", PRICES)
    assert t.models == ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")
    assert t.cost_unit == "$"
    assert t.tasks.tolist() == ["routellm_small"] * 4  # file stem
    assert t.ids.tolist() == ["0", "1", "2", "3"]  # row index
    np.testing.assert_array_equal(t.labels, [[1, 1], [0, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(t.costs, [[0.0006, 0.01]] * 4)


def test_routellm_task_and_id_columns(tmp_path):
    path = write(
        tmp_path / "r.csv",
        "id,task,prompt,a,b\nq1,mmlu,hi,TRUE,false\nq2,gsm8k,yo,0,1\n",
    )
    t = load_routellm(path, {"a": 1.0, "b": 2.0})
    assert t.tasks.tolist() == ["mmlu", "gsm8k"] and t.ids.tolist() == ["q1", "q2"]


@pytest.mark.parametrize(
    ("prices", "error", "match"),
    [
        ({"gpt-4-1106-preview": 0.01}, DataError, r"'mistralai/Mixtral.*' has no price"),
        ({**PRICES, "gpt4": 0.02}, DataError, r"price is given for model 'gpt4'"),
        ({**PRICES, "gpt-4-1106-preview": -1.0}, ConfigError, "must be a finite number >= 0"),
        ({**PRICES, "gpt-4-1106-preview": float("nan")}, ConfigError, "finite"),
        ({**PRICES, "gpt-4-1106-preview": "cheap"}, ConfigError, "not a number"),
    ],
)
def test_routellm_price_errors(prices, error, match):
    with pytest.raises(error, match=match):
        load_routellm(FIXTURES / "routellm_small.csv", prices)


# ---------------------------------------------------------------------------------- joins
def test_join_zoos(zoo_root):
    a = load_messplus(zoo_root / "messplus-llama3")
    b = load_messplus(zoo_root / "messplus-qwen2")
    with pytest.warns(ZooJoinWarning) as record:
        j = join_zoos(a, b)
    message = str(record[0].message)
    assert "boolq (2 rows, whole task, only in llama3)" in message
    assert "piqa (1 rows, whole task, only in qwen2)" in message
    assert j.name == "llama3+qwen2"
    assert set(j.models) == {"llama3/small", "llama3/large", "qwen2/small"}
    assert j.models == ("llama3/small", "qwen2/small", "llama3/large")  # cheapest first
    assert j.ids.tolist() == ["0", "1", "2"]  # a's order, though b lists 2, 0, 1
    np.testing.assert_array_equal(j.labels[:, 1], [1, 0, 1])  # qwen2/small realigned to a
    # joining a joined zoo keeps the qualified names
    c = b.select_task("arc").replace(name="extra")
    jj = join_zoos(j, c)
    assert "llama3/small" in jj.models and "extra/small" in jj.models


def test_join_zoos_partial_task_warns_with_counts(zoo_root):
    a = load_messplus(zoo_root / "messplus-llama3").select_task("arc")
    b = load_messplus(zoo_root / "messplus-qwen2").select_task("arc")
    with pytest.warns(ZooJoinWarning, match=r"arc \(1 rows, of 3, only in b\)"):
        j = join_zoos(a.take([0, 1]), b.replace(name="b"))
    assert len(j) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        join_zoos(a, b.replace(name="b"))  # nothing dropped: no warning


def test_join_zoos_errors(zoo_root):
    a = load_messplus(zoo_root / "messplus-llama3")
    b = load_messplus(zoo_root / "messplus-qwen2")
    with pytest.raises(DataError, match="zoos do not join"):
        join_zoos(a.select_task("boolq"), b)
    changed = b.replace(texts=np.array(["x", "y", "z", "w"], dtype=object))
    with pytest.raises(DataError, match=r"task 'arc' id '0': 'What is 2\+2\?' vs 'y'"):
        join_zoos(a, changed)
    with pytest.raises(DataError, match="model names collide"):
        join_zoos(a, a)
    with pytest.raises(DataError, match=r"costs in J\).*costs in s\)"):
        join_zoos(a, load_messplus(zoo_root / "messplus-qwen2", cost="time"))
    with pytest.raises(ConfigError, match="only 'inner'"):
        join_zoos(a, b, how="outer")


# ---------------------------------------------------------------------------------- load_zoo
def test_load_zoo_names(zoo_root, monkeypatch):
    assert set(ZOOS) >= {"llama3", "qwen2", "llama3+qwen2"}
    t = load_zoo("llama3", data_dir=zoo_root)
    assert t.name == "llama3" and t.source == str(zoo_root / "messplus-llama3")
    monkeypatch.setenv("MESSJAX_DATA_DIR", str(zoo_root))
    q = load_zoo("qwen2", cost="time")
    assert q.name == "qwen2" and q.cost_unit == "s"
    with pytest.warns(ZooJoinWarning):
        j = load_zoo("llama3+qwen2")
    assert j.name == "llama3+qwen2" and j.num_models == 3 and j.task_names == ("arc",)
    with pytest.warns(ZooJoinWarning):
        assert load_zoo("qwen2+llama3").models[0] == "llama3/small"


def test_load_zoo_paths(zoo_root):
    assert load_zoo(zoo_root / "messplus-llama3").name == "llama3"
    assert load_zoo(str(zoo_root / "messplus-qwen2" / "piqa.csv")).name == "piqa"
    assert load_zoo(FIXTURES / "routerbench_small.csv").cost_unit == "$"
    assert detect_format(FIXTURES / "routellm_small.csv") == "routellm"
    with pytest.raises(DataError, match="load_routellm"):
        load_zoo(FIXTURES / "routellm_small.csv")
    with pytest.raises(ConfigError, match="dollar costs only"):
        load_zoo(FIXTURES / "routerbench_small.csv", cost="time")


def test_load_zoo_errors(zoo_root, monkeypatch):
    monkeypatch.delenv("MESSJAX_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="pass --data-dir DIR or set MESSJAX_DATA_DIR"):
        load_zoo("llama3")
    with pytest.raises(DataError, match=r"unknown zoo 'lama3' \(did you mean 'llama3'\?\)"):
        load_zoo("lama3", data_dir=zoo_root)
    with pytest.raises(DataError, match="known zoos: llama3, qwen2, llama3\\+qwen2"):
        load_zoo("gpt", data_dir=zoo_root)
    with pytest.raises(DataError, match="no such file or folder"):
        load_zoo(str(zoo_root / "nope.csv"))
    with pytest.raises(DataError, match="data folder does not exist"):
        load_zoo("llama3", data_dir=zoo_root / "missing")
    (zoo_root / "other").mkdir()
    with pytest.raises(DataError, match="has no messplus-llama3/"):
        load_zoo("llama3", data_dir=zoo_root / "other")


# ---------------------------------------------------------------------------------- describe
def test_describe(zoo_root):
    text = describe(load_messplus(zoo_root / "messplus-llama3"))
    lines = text.splitlines()
    assert lines[0] == "zoo llama3: 5 requests, 2 tasks, 2 models (cheapest first), cost unit J"
    arc = next(x for x in lines if x.startswith("arc "))
    assert arc.split() == ["arc", "3", "|", "33.3", "10", "|", "66.7", "103"]
    total = next(x for x in lines if x.startswith("total"))
    assert total.split()[:2] == ["total", "5"]


def test_cli_describe(zoo_root, capsys):
    assert cli.main(["data", "describe", "llama3", "--data-dir", str(zoo_root)]) == 0
    out = capsys.readouterr().out
    assert "zoo llama3: 5 requests" in out and "boolq" in out
    assert (
        cli.main(
            [
                "data",
                "describe",
                str(zoo_root / "messplus-llama3"),
                "--cost",
                "time",
                "--task",
                "boolq",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "cost unit s" in out and "arc " not in out
    assert cli.main(["data", "describe", "llama3+qwen2", "--data-dir", str(zoo_root)]) == 0
    captured = capsys.readouterr()
    assert "note: join_zoos(llama3, qwen2" in captured.err and "boolq (2 rows" in captured.err
    assert "zoo llama3+qwen2: 3 requests" in captured.out
