"""Every kind of bad input: the DataError names file, column and line, and the CLI exits 2.

Line numbers are 1-based lines of the file as an editor shows them (the header is line 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from messjax import cli
from messjax.data import RoutingTable, load_messplus, load_routellm, load_routerbench
from messjax.errors import DataError

H = (
    "doc_id,input_text,benchmark_name,label_small,acc_small,energy_consumption_small,"
    "inference_time_small,label_large,acc_norm_large,energy_consumption_large,inference_time_large"
)
ROWS = [  # lines 2, 3, 4
    "0,What is 2+2?,arc,1,1,10.0,0.1,1,1,100.0,1.0",
    '1,"Pick one, A or B",arc,0,0,12.0,0.2,1,1,120.0,1.5',
    "2,Is water wet?,arc,0,0,8.0,0.1,0,0,90.0,0.9",
]


def messplus(header: str = H, rows: dict[int, str] | None = None, cells=None) -> str:
    """The good log with whole lines replaced (``rows``: line -> text) or single cells replaced
    (``cells``: (line, column) -> value)."""
    lines = [header, *ROWS]
    for line, text in (rows or {}).items():
        lines[line - 1] = text
    cols = header.split(",")
    for (line, column), value in (cells or {}).items():
        fields = lines[line - 1].split(",")
        j = cols.index(column)
        fields[j + (line == 3 and j > 1)] = value  # line 3's text holds a quoted comma
        lines[line - 1] = ",".join(fields)
    return "\n".join(lines) + "\n"


RB_H = (
    "sample_id,prompt,eval_name,oracle_model_to_route_to,"
    "m1,m1|model_response,m1|total_cost,m2,m2|model_response,m2|total_cost"
)


def routerbench(
    header: str = RB_H,
    row2: str = "a.0,\"['hi', 'there']\",a,m1,1,x,0.01,0,y,0.001",
    row3: str = "a.1,yo,a,m2,0.5,x,0.01,1,y,0.001",
) -> str:
    return f"{header}\n{row2}\n{row3}\n"


MP, RB = load_messplus, load_routerbench
LAST = '2,"Is water wet?,arc,0,0,8.0,0.1,0,0,90.0,0.9'  # opening quote never closed
MULTILINE = ROWS[0].replace("What is 2+2?", '"What is\n2+2?"')  # spans lines 2-3

# (case id, loader, file text, column, line, problem substring)
CASES = [
    ("missing-column", MP, messplus(H.replace("inference_time_small", "inference_tme_small")),
     "inference_time_small", 1,
     "missing column 'inference_time_small' (did you mean 'inference_tme_small'?)"),
    ("missing-base-column", MP, messplus(H.replace("benchmark_name", "benchmark")),
     "benchmark_name", 1, "(did you mean 'benchmark'?)"),
    ("misspelled-label", MP, messplus(H.replace("label_small", "lable_small")),
     "acc_small", 1, "no column 'label_small' (did you mean 'lable_small'?)"),
    ("misspelled-cost", MP, messplus(H.replace("ption_large", "ption_larg")),
     "energy_consumption_large", 1, "(did you mean 'energy_consumption_larg'?)"),
    ("missing-acc", MP, messplus(H.replace("acc_norm_large", "ac_norm_large")),
     "acc_large", 1, "missing column 'acc_large' (or 'acc_norm_large') (did you mean"),
    ("nan-label", MP, messplus(cells={(3, "label_small"): "nan"}),
     "label_small", 3, "missing value 'nan': no score or cost of model 'small'"),
    ("empty-label", MP, messplus(cells={(3, "label_small"): ""}),
     "label_small", 3, "empty cell"),
    ("label-out-of-range", MP, messplus(cells={(4, "label_large"): "2"}),
     "label_large", 4, "label is outside [0, 1] (2.0)"),
    ("negative-cost", MP, messplus(cells={(3, "energy_consumption_large"): "-5"}),
     "energy_consumption_large", 3, "cost is negative (-5.0)"),
    ("nan-cost-other-kind", MP, messplus(cells={(4, "inference_time_small"): "NaN"}),
     "inference_time_small", 4, "missing value 'NaN'"),
    ("inf-cost", MP, messplus(cells={(4, "energy_consumption_small"): "inf"}),
     "energy_consumption_small", 4, "cost is NaN or infinite (inf)"),
    ("non-numeric", MP, messplus(cells={(2, "energy_consumption_small"): "ten"}),
     "energy_consumption_small", 2, "not a number: 'ten'"),
    ("acc-disagrees", MP, messplus(cells={(2, "acc_norm_large"): "0"}),
     "acc_norm_large", 2, "acc_norm_large is '0' but label_large is '1'"),
    ("duplicate-id", MP, messplus(cells={(4, "doc_id"): "0"}),
     "doc_id", 4, "duplicate id '0' in task 'arc' (first seen at line 2)"),
    ("empty-id", MP, messplus(cells={(3, "doc_id"): " "}), "doc_id", 3, "empty cell"),
    ("empty-task", MP, messplus(cells={(4, "benchmark_name"): ""}),
     "benchmark_name", 4, "empty cell"),
    ("ragged-row", MP, messplus(rows={3: ROWS[1] + ",extra"}),
     None, 3, "malformed row: 12 fields but the header has 11"),
    ("short-row", MP, messplus(rows={4: "2,Is water wet?,arc"}),
     None, 4, "malformed row: 3 fields but the header has 11"),
    ("ragged-after-multiline-text", MP, messplus(rows={2: MULTILINE, 4: "2,short"}),
     None, 5, "malformed row: 2 fields"),
    ("unterminated-quote", MP, messplus(rows={4: LAST}), None, 4, "malformed CSV"),
    ("header-only", MP, H + "\n", None, None, "no data rows (the table is empty)"),
    ("empty-file", MP, "", None, None, "the file is empty (no header line)"),
    ("rb-misspelled-column", RB, routerbench(RB_H.replace("eval_name", "evalname")),
     "eval_name", 1, "missing column 'eval_name' (did you mean 'evalname'?)"),
    ("rb-score-out-of-range", RB, routerbench(row3="a.1,yo,a,m2,1.5,x,0.01,1,y,0.001"),
     "m1", 3, "label is outside [0, 1] (1.5)"),
    ("rb-negative-cost", RB, routerbench(row3="a.1,yo,a,m2,1,x,0.01,1,y,-0.001"),
     "m2|total_cost", 3, "cost is negative"),
    ("rb-misspelled-cost-column", RB, routerbench(RB_H.replace("m2|total_cost", "m2|total_cst")),
     "m2|model_response", 1, "no column 'm2|total_cost' (did you mean 'm2|total_cst'?)"),
    ("rb-duplicate-id", RB, routerbench(row3="a.0,yo,a,m2,1,x,0.01,1,y,0.001"),
     "sample_id", 3, "duplicate id 'a.0' in task 'a' (first seen at line 2)"),
    ("underscore-number", MP, messplus(cells={(4, "energy_consumption_small"): "1_000"}),
     "energy_consumption_small", 4, "not a number: '1_000'"),
    ("non-ascii-digits", MP, messplus(cells={(2, "energy_consumption_small"): "١٢"}),
     "energy_consumption_small", 2, "not a number: '١٢'"),
    ("cost-beyond-float32", MP, messplus(cells={(4, "energy_consumption_large"): "1e39"}),
     "energy_consumption_large", 4, "cost is beyond float32"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "loader", "text", "column", "line", "problem"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_file(tmp_path, capsys, case, loader, text, column, line, problem):
    path = tmp_path / f"{case}.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        loader(path)
    message = str(info.value)
    assert message.startswith(f"file {path}")
    if column is not None:
        assert f"column {column!r}" in message
        assert info.value.column == column
    if line is not None:
        assert f"line {line}:" in message
        assert info.value.line == line
    assert problem in message
    # the CLI reports the same message and exits non-zero
    assert cli.main(["data", "describe", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_duplicate_id_across_files(tmp_path):
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "a.csv").write_text(messplus())
    (tmp_path / "z" / "b.csv").write_text(f"{H}\n{ROWS[2]}\n")
    with pytest.raises(
        DataError,
        match=r"b\.csv, column 'doc_id', line 2: duplicate id '2' in "
        r"task 'arc' \(first seen at file .*a\.csv, line 4\)",
    ):
        load_messplus(tmp_path / "z")


def test_not_utf8(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(H.encode() + b"\n0,caf\xe9,arc,1,1,1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_messplus(path)


def test_duplicate_header_column(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(messplus(H.replace("acc_small", "label_small")))
    with pytest.raises(DataError, match="column 'label_small', line 1: duplicate column name"):
        load_messplus(path)


def test_routellm_bad_bool(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("prompt,a,b\nhi,True,False\nyo,maybe,True\n")
    with pytest.raises(
        DataError,
        match=r"column 'a', line 3: expected True/False/1/0, got "
        r"'maybe'",
    ):
        load_routellm(path, {"a": 1.0, "b": 2.0})
    path.write_text("prompt,a,b\nhi,True,\n")
    with pytest.raises(DataError, match=r"column 'b', line 2: empty cell"):
        load_routellm(path, {"a": 1.0, "b": 2.0})


def test_cli_routellm_needs_prices(capsys):
    fixture = Path(__file__).parent / "fixtures" / "routellm_small.csv"
    assert cli.main(["data", "describe", str(fixture)]) == 2
    assert "load_routellm" in capsys.readouterr().err


def test_cli_unrecognised_format(tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    assert cli.main(["data", "describe", str(path)]) == 2
    assert "unrecognised log format" in capsys.readouterr().err


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    (tmp_path / "messplus-llama3").mkdir()
    (tmp_path / "messplus-qwen2").mkdir()
    (tmp_path / "messplus-llama3" / "arc.csv").write_text(messplus())
    (tmp_path / "messplus-qwen2" / "piqa.csv").write_text(messplus().replace(",arc,", ",piqa,"))
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["llama3+qwen2"], "zoos do not join"),
        (["llama3", "--task", "arc_challenge"], "unknown task 'arc_challenge'; known tasks: arc"),
        (["lama3"], "unknown zoo 'lama3' (did you mean 'llama3'?)"),
        (["nope/arc.csv"], "file nope/arc.csv: no such file or folder"),
    ],
)
def test_cli_name_errors(data_root, capsys, argv, problem):
    assert cli.main(["data", "describe", *argv, "--data-dir", str(data_root)]) == 2
    assert problem in capsys.readouterr().err


def test_cli_without_data_dir(monkeypatch, capsys):
    monkeypatch.delenv("MESSJAX_DATA_DIR", raising=False)
    assert cli.main(["data", "describe", "llama3"]) == 2
    assert "pass --data-dir DIR or set MESSJAX_DATA_DIR" in capsys.readouterr().err


def test_in_memory_errors_say_row():
    t = RoutingTable(
        texts=["a", "b"],
        labels=np.ones((2, 1)),
        costs=np.ones((2, 1)),
        models=("m",),
        tasks=["x", "x"],
        ids=["1", "2"],
    )
    with pytest.raises(DataError, match=r"file <table>, column 'id', row 1: duplicate"):
        t.replace(ids=np.array(["1", "1"], dtype=object))
    assert str(DataError("no such zoo", source=None)) == "no such zoo"
    assert (
        str(DataError("p", source="f.csv", column="c", line=3))
        == "file f.csv, column 'c', line 3: p"
    )


# ------------------------------------------------------------------ found by a probe
def test_routellm_with_routerbench_id_columns_is_routellm(tmp_path, capsys):
    """RouteLLM files may carry sample_id / eval_name: without any `X|...` column they are
    RouteLLM, not RouterBench."""
    from messjax.data import load_zoo
    from messjax.data.loaders.zoos import detect_format

    path = tmp_path / "rl.csv"
    path.write_text("sample_id,eval_name,prompt,org/a,b\ns0,t,hi,True,False\ns1,t,yo,False,True\n")
    assert detect_format(path) == "routellm"
    table = load_zoo(path, prices={"org/a": 0.001, "b": 0.01})
    assert list(table.ids) == ["s0", "s1"] and set(table.tasks) == {"t"}
    assert (
        cli.main(["data", "describe", str(path), "--price", "org/a=0.001", "--price", "b=1"]) == 0
    )
    capsys.readouterr()
    from messjax.errors import ConfigError

    with pytest.raises(ConfigError, match="prices only"):
        load_zoo(path, cost="time", prices={"org/a": 0.001, "b": 0.01})


def test_task_names_are_stripped_like_ids(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(messplus(cells={(4, "benchmark_name"): "arc "}))
    assert sorted(set(load_messplus(path).tasks)) == ["arc"]


def test_empty_zoo_name_is_refused(tmp_path, monkeypatch):
    from messjax.data import load_zoo

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.csv").write_text(messplus())
    for name in ("", "  "):
        with pytest.raises(DataError, match="empty zoo name"):
            load_zoo(name)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_model_priced_twice_is_refused(tmp_path, suffix):
    from messjax.data.loaders import read_prices

    path = tmp_path / f"p{suffix}"
    text = '{"m": 0.01, "m": 1e-7}' if suffix == ".json" else "m: 0.01\nm: 1.0e-7\n"
    path.write_text(text)
    with pytest.raises(DataError, match="twice"):
        read_prices(path)


def test_repeated_price_flag_and_huge_price_are_refused():
    import argparse

    from messjax.commands._zoo import prices
    from messjax.errors import ConfigError

    with pytest.raises(ConfigError, match="given twice"):
        prices(argparse.Namespace(prices=None, price=["m=0.01", "m=0.02"]))
    with pytest.raises(ConfigError, match="at most"):
        prices(argparse.Namespace(prices=None, price=["m=1e39"]))
    assert prices(argparse.Namespace(prices=None, price=["m=0.01", "n=0.02"])) == {
        "m": 0.01,
        "n": 0.02,
    }


def test_routerbench_models_must_be_a_non_empty_list(tmp_path):
    path = tmp_path / "rb.csv"
    path.write_text(routerbench())
    for models in ([], "m1"):
        with pytest.raises(DataError, match="non-empty list"):
            load_routerbench(path, models=models)
    assert load_routerbench(path, models=["m2"]).models == ("m2",)
