"""The user's own logs as public exports write them: RouterBench as pandas writes it, RouteLLM
evaluation folders, prices, dropped rows, bad bytes, pickles, and the readable describe."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
from own_logs import (
    ROUTELLM_MODELS,
    ROUTERBENCH_MODELS,
    pandas_csv,
    routellm_folder,
    routerbench_csv,
    routerbench_rows,
    row_lines,
)

from messjax import cli
from messjax.data import describe, load_routellm, load_routerbench, load_zoo
from messjax.data.loaders import (
    IncompleteRowsWarning,
    detect_format,
    parse_price,
    read_prices,
)
from messjax.data.loaders.csvfile import _utf8_error
from messjax.errors import ConfigError, DataError

EMPTY = [(7, "gpt-3.5-turbo-1106"), (20, "claude-v2"), (20, "claude-v1"), (33, "claude-v2")]
PRICES = {"mixtral-8x7b-instruct-v0.1": 0.0006, "gpt-4-1106-preview": 0.01}


@pytest.fixture
def rb_file(tmp_path):
    """60 requests, 11 models, 3 rows with empty score cells, CRLF, BOM, a 210 KB prompt."""
    return routerbench_csv(
        tmp_path / "routerbench_0shot.csv", 60, crlf=True, bom=True, empty=EMPTY, long_prompt_at=4
    )


# ---------------------------------------------------------------------------------- RouterBench
def test_routerbench_as_pandas_writes_it_is_refused_naming_the_drop_option(rb_file, capsys):
    raw = rb_file.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf,sample_id,prompt,eval_name,") and b"\r\n" in raw
    with pytest.raises(DataError) as info:
        load_routerbench(rb_file)
    e = info.value
    lines = row_lines(rb_file)  # prompts and answers span several lines
    assert e.column == "gpt-3.5-turbo-1106" and e.line == lines[7]
    assert "empty cell" in str(e) and "3 of 60 rows" in str(e)
    assert "missing='drop'" in str(e) and "--drop-incomplete" in str(e)
    assert cli.main(["data", "describe", str(rb_file)]) == 2
    assert "--drop-incomplete" in capsys.readouterr().err


def test_routerbench_as_pandas_writes_it_loads_with_drop(rb_file):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_routerbench(rb_file, missing="drop")
    (w,) = [w.message for w in caught if isinstance(w.message, IncompleteRowsWarning)]
    assert w.rows == 3
    assert w.per_model == {"claude-v1": 1, "claude-v2": 2, "gpt-3.5-turbo-1106": 1}
    assert w.per_task == {"mmlu-anatomy": 3}
    lines = row_lines(rb_file)
    assert f"lines {lines[7]}, {lines[20]}, {lines[33]}" in str(w)
    assert len(t) == 57 and t.num_models == 11 and set(t.models) == set(ROUTERBENCH_MODELS)
    assert t.cost_unit == "$" and dict(t.dropped) == {"mmlu-anatomy": 3} and t.dropped_rows == 3
    assert not {"7", "20", "33"} & {i.split(".")[-1] for i in t.ids}
    # list-literal prompts parsed (never eval'd), the long one intact, CRLF not in the texts
    assert t.texts[0].startswith("Question 0: a ") and "\nAnswer choices for 0:" in t.texts[0]
    assert len(t.texts[4]) > 200_000 and "\r" not in "".join(t.texts[:10])
    # models cheapest first; costs in dollars as written
    assert np.all(np.diff(t.mean_cost()) >= 0) and t.models[-1] == "gpt-4-1106-preview"
    header, rows = routerbench_rows(60, empty=EMPTY, long_prompt_at=4)
    j = header.index("gpt-4-1106-preview|total_cost")
    np.testing.assert_allclose(t.costs[0, -1], rows[0][j], rtol=1e-6)
    with pytest.warns(IncompleteRowsWarning):
        assert load_zoo(rb_file, missing="drop").models == t.models  # detected as RouterBench


def test_routerbench_index_named_unnamed_and_fractional_scores(tmp_path):
    header, rows = routerbench_rows(12, fractional=True, models=ROUTERBENCH_MODELS[:3])
    text = pandas_csv(header, rows).decode().replace(",sample_id,", "Unnamed: 0,sample_id,", 1)
    path = tmp_path / "rb.csv"
    path.write_text(text)
    t = load_routerbench(path)
    assert len(t) == 12 and t.num_models == 3
    assert np.any((t.labels > 0) & (t.labels < 1))  # fractional scores kept


def test_no_usable_rows_after_dropping(tmp_path):
    path = routerbench_csv(
        tmp_path / "all_empty.csv",
        4,
        models=ROUTERBENCH_MODELS[:2],
        empty=[(i, "claude-instant-v1") for i in range(4)],
    )
    with pytest.raises(DataError, match=r"all_empty\.csv: no usable rows: all 4 rows .* dropped"):
        load_routerbench(path, missing="drop")
    with pytest.raises(ConfigError, match="'missing'"):
        load_routerbench(path, missing="skip")


@pytest.mark.filterwarnings("ignore::messjax.data.loaders.IncompleteRowsWarning")
def test_describe_big_zoo_is_readable(rb_file, capsys):
    assert cli.main(["data", "describe", str(rb_file), "--drop-incomplete"]) == 0
    captured = capsys.readouterr()
    assert "note: dropped 3 of 60 requests" in captured.err
    out = captured.out
    assert "dropped on load: 3 requests" in out
    # the table stays narrow; only a line naming the (arbitrarily long) file path may be wider
    assert max(len(line) for line in out.splitlines() if str(rb_file) not in line) <= 100
    for k, m in enumerate(load_routerbench(rb_file, missing="drop").models):
        assert f"{k + 1:>3}  {m} " in out  # the models table names each model once, numbered
    assert "mean cost (1e-" in out  # per-task costs on one scale
    # small zoos keep the one-line-per-task layout with full names
    small = describe(load_routerbench(rb_file, ["claude-v1", "gpt-4-1106-preview"], missing="drop"))
    assert "| gpt-4-1106-preview" in small.splitlines()[3]


# ---------------------------------------------------------------------------------- bytes
def test_non_utf8_byte_is_reported_at_its_line(tmp_path, capsys):
    header, rows = routerbench_rows(6, models=ROUTERBENCH_MODELS[:2])
    data = pandas_csv(header, rows)
    at = data.index(b"Question 1:")
    path = tmp_path / "latin1.csv"
    path.write_bytes(data[:at] + b"Questi\xe9n 1:" + data[at + len(b"Question 1:") :])
    lines_before = data[:at].count(b"\n")
    assert lines_before > 1 and len(data) < 8192  # the text layer reads the bad byte early
    with pytest.raises(DataError) as info:
        load_routerbench(path)
    assert info.value.line == lines_before + 1 and "byte 0xe9" in str(info.value)
    with pytest.raises(DataError, match=f"line {lines_before + 1}: not UTF-8"):
        detect_format(path)  # the header reader used to say "line 1: cannot read the header"
    assert cli.main(["data", "describe", str(path)]) == 2
    assert f"line {lines_before + 1}: not UTF-8 text: byte 0xe9" in capsys.readouterr().err


def test_non_utf8_byte_in_a_large_file(tmp_path):
    body = "".join(f"{i},caf\u00e9 \u20ac {i},arc\n" for i in range(40_000))  # ~1 MB, multi-byte
    path = tmp_path / "big.csv"
    path.write_bytes(b"doc_id,text,task\n" + body.encode() + b"40000,bad \xff here,arc\n")
    err = _utf8_error(str(path))
    assert err.line == 40_002 and "byte 0xff at byte 11 of the line" in str(err)
    # tiny chunks split multi-byte characters: the same answer
    small = tmp_path / "small.csv"
    small.write_bytes("h\n\u20ac\u20ac\nx\u00e9".encode() + b"\xc3(\n")
    for chunk in (1, 2, 3, 7, 1 << 20):
        e = _utf8_error(str(small), chunk_size=chunk)
        assert e.line == 3 and "byte 0xc3 at byte 4 of the line" in str(e), chunk


# ---------------------------------------------------------------------------------- pickles
def test_pickles_are_never_unpickled(tmp_path, capsys):
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):
            return (marker.touch, ())

    for name in ("routerbench_0shot.pkl", "disguised.csv"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Boom(), protocol=4))
        with pytest.raises(DataError, match=r"not unpickled .*pandas\.read_pickle\(.*\.to_csv\("):
            load_zoo(path)
        assert cli.main(["data", "describe", str(path)]) == 2
        assert "not unpickled" in capsys.readouterr().err
    folder = tmp_path / "pk"
    folder.mkdir()
    (folder / "x.pkl").write_bytes(pickle.dumps([1]))
    with pytest.raises(DataError, match=r"x\.pkl: a pandas pickle: not unpickled"):
        load_zoo(folder)
    assert not marker.exists()


# ---------------------------------------------------------------------------------- RouteLLM
def test_routellm_folder_with_response_columns(tmp_path, capsys):
    folder = routellm_folder(tmp_path / "routellm")
    t = load_routellm(folder, PRICES)
    assert t.models == ROUTELLM_MODELS  # the _response columns are not models
    assert t.task_names == ("gsm8k", "mmlu_anatomy", "mmlu_astronomy") and len(t) == 120
    np.testing.assert_allclose(t.costs[0], [0.0006, 0.01])
    assert set(np.unique(t.labels)) <= {0.0, 1.0}
    assert load_zoo(folder, prices=PRICES).models == t.models
    with pytest.raises(DataError, match="--price MODEL=DOLLARS"):
        load_zoo(folder)
    with pytest.raises(DataError, match="model 'gpt-4-1106-preview' has no price"):
        load_zoo(folder, prices={"mixtral-8x7b-instruct-v0.1": 1.0})
    argv = ["data", "describe", str(folder), "--price", "gpt-4-1106-preview=0.01"]
    assert cli.main([*argv, "--price", "mixtral-8x7b-instruct-v0.1=0.0006"]) == 0
    assert "120 requests, 3 tasks, 2 models" in capsys.readouterr().out


def test_prices(tmp_path):
    assert parse_price("mistralai/Mixtral-8x7B=0.0006") == ("mistralai/Mixtral-8x7B", 0.0006)
    for bad, match in [("gpt4", "MODEL=DOLLARS"), ("gpt4=x", "not a number"), ("a=-1", ">= 0")]:
        with pytest.raises(ConfigError, match=match):
            parse_price(bad)
    (tmp_path / "p.json").write_text(json.dumps(PRICES))
    (tmp_path / "p.yaml").write_text("gpt-4-1106-preview: 0.01\nmixtral-8x7b-instruct-v0.1: 6e-4\n")
    assert read_prices(tmp_path / "p.json") == PRICES == read_prices(tmp_path / "p.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(DataError, match="expected a mapping"):
        read_prices(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="prices"):
        load_zoo(
            routerbench_csv(tmp_path / "rb.csv", 4, models=ROUTERBENCH_MODELS[:2]), prices=PRICES
        )


def test_config_keys_missing_and_prices(tmp_path):
    from messjax.runs.config import config_from_dict
    from messjax.runs.sweep import load_tables

    folder = routellm_folder(tmp_path / "routellm", n=5)
    (folder / "gsm8k.csv").write_text(
        (folder / "gsm8k.csv").read_text().replace(",True,", ",,", 1)  # one empty cell
    )
    raw = {"zoo": str(folder), "data": {"missing": "drop", "prices": PRICES}, "alpha": 0.7}
    cfg = config_from_dict(raw)
    assert cfg.data.missing == "drop" and dict(cfg.data.prices) == PRICES
    assert config_from_dict(cfg.to_dict()).data == cfg.data  # config.yaml round trip
    with pytest.warns(IncompleteRowsWarning, match="dropped 1 of 15 requests"):
        tables = load_tables(cfg)
    assert {t: len(tb) for t, tb in tables.items()} == {
        "gsm8k": 4,
        "mmlu_anatomy": 5,
        "mmlu_astronomy": 5,
    }
    (tmp_path / "p.yaml").write_text(json.dumps(PRICES))
    assert config_from_dict({"data": {"prices": str(tmp_path / "p.yaml")}}).data.prices
    with pytest.raises(ConfigError, match=r"'data\.missing'"):
        config_from_dict({"data": {"missing": "skip"}})
    with pytest.raises(ConfigError, match=r"data\.prices"):
        config_from_dict({"data": {"prices": 3}})
