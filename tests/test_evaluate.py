"""``messjax evaluate`` on the user's own logs (files built here), its bad inputs, the V that
transfers between cost units, and ``messjax run``'s readable output for big zoos."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from own_logs import ROUTELLM_MODELS, ROUTERBENCH_MODELS, routellm_folder, routerbench_csv

from messjax import cli
from messjax.data import synthetic_zoo
from messjax.errors import ConfigError
from messjax.runs import eval_setup as E
from messjax.runs.eval_setup import METHOD_ORDER
from messjax.runs.evaluate import Settings, run_messplus
from messjax.runs.experiment import table_features

PRICE_ARGS = [
    "--price",
    f"{ROUTELLM_MODELS[0]}=0.0006",
    "--price",
    f"{ROUTELLM_MODELS[1]}=0.01",
]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MESSJAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "features"))


def _evaluate(out, *argv) -> list[dict[str, str]]:
    base = ["evaluate", "--featurizer", "hash", "--router-steps", "5", "--out", str(out)]
    assert cli.main([*base, *argv]) == 0
    with open(out / "table.csv") as f:
        return list(csv.DictReader(f))


def test_routerbench_dollars_eleven_models(tmp_path, capsys):
    """`evaluate --zoo FILE --alpha 0.9 --seeds 3 --out DIR` on one task, 11 models, dollars."""
    path = routerbench_csv(tmp_path / "rb.csv", 60, empty=[(3, "claude-v1")])
    out = tmp_path / "out"
    rows = _evaluate(out, "--zoo", str(path), "--drop-incomplete", "--alpha", "0.9", "--seeds", "3")
    methods = {r["method"] for r in rows}
    baselines = {m for m in METHOD_ORDER if m not in ("messplus", "messjax")}
    singles = {f"single-{m}" for m in ROUTERBENCH_MODELS}
    assert {"messplus", *baselines, *singles} <= methods
    assert methods <= set(E.known_methods(ROUTERBENCH_MODELS))
    for r in rows:
        assert r["task"] == "mmlu-anatomy" and r["alpha"] == "0.9" and r["seeds"] == "3"
        assert r["offline_training"].startswith("split (25% of the stream trains")
        assert r["num_requests"] == str(59 - round(0.25 * 59))  # the test part of the split
        assert float(r["cost_usd"]) >= 0
    oracle = next(r for r in rows if r["method"] == "oracle")
    gpt4 = next(r for r in rows if r["method"] == "single-gpt-4-1106-preview")
    assert float(oracle["cost_usd"]) < float(gpt4["cost_usd"])
    md = (out / "table.md").read_text()
    assert md.startswith("# messjax evaluate — zoo `rb`, one stream per task")
    assert "V = 0.16 relative to the largest estimated cost" in md and "split (25%" in md
    png = out / "figures" / "mmlu-anatomy.png"
    assert png.is_file() and png.stat().st_size > 0
    printed = capsys.readouterr()
    assert "1 incomplete requests dropped" in printed.out and "note: dropped 1 of 60" in printed.err
    assert "single-gpt-4-1106-preview" in printed.out and "wrote" in printed.out


def test_routellm_folder_one_mixed_stream(tmp_path):
    """A RouteLLM folder (one CSV per subject, two models, some `_response` columns), prices
    for both models, alpha 0.75, all subjects as one stream."""
    folder = routellm_folder(tmp_path / "routellm", n=15)
    rows = _evaluate(
        tmp_path / "out",
        "--zoo",
        str(folder),
        *PRICE_ARGS,
        "--alpha",
        "0.75",
        "--stream",
        "mixed",
        "--train-fraction",
        "0.3333",  # a test stream of 30 requests: MESS+ shares the next test's compilation
        "--seeds",
        "1",
        "--no-figures",
    )
    assert {r["task"] for r in rows} == {"mixed"}
    assert {r["alpha"] for r in rows} == {"0.75"}
    assert {r["num_requests"] for r in rows} == {"30"}
    assert {r["offline_training"] for r in rows} == {"split (33% of the stream trains, seed 42)"}
    methods = {r["method"] for r in rows}
    assert {"messplus", "oracle", *(f"single-{m}" for m in ROUTELLM_MODELS)} <= methods
    gpt4 = next(r for r in rows if r["method"] == "single-gpt-4-1106-preview")
    assert float(gpt4["cost_usd"]) == pytest.approx(0.01 * 30, rel=1e-5)  # price x requests


def test_per_task_streams_alphas_and_methods(tmp_path):
    folder = routellm_folder(tmp_path / "routellm", n=30)
    rows = _evaluate(
        tmp_path / "out",
        "--zoo",
        str(folder),
        *PRICE_ARGS,
        "--alpha",
        "mmlu_anatomy=0.6,0.7",
        "--method",
        "messplus",
        "--method",
        "oracle,single",
        "--seeds",
        "1",
        "--no-figures",
    )
    alphas = {r["task"]: r["alpha"] for r in rows}
    assert alphas == {"gsm8k": "0.7", "mmlu_anatomy": "0.6", "mmlu_astronomy": "0.7"}
    assert {r["offline_training"] for r in rows} == {"leave-one-task-out"}
    assert {r["num_requests"] for r in rows} == {"30"}  # every request of the task
    assert [r["method"] for r in rows[:4]] == [
        "messplus",
        "oracle",
        f"single-{ROUTELLM_MODELS[1]}",
        f"single-{ROUTELLM_MODELS[0]}",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--alpha", "0.7", "--method", "mesplus"],
            "unknown method 'mesplus' (did you mean 'messplus'?)",
        ),
        (["--alpha", "mmlu_anatomy=0.6"], "no alpha for task 'gsm8k': give --alpha A"),
        (["--alpha", "0.6,mmlu_anatomi=0.5"], "alpha given for task 'mmlu_anatomi', which the zoo"),
        (["--alpha", "0.6,gsm8k=0.5", "--stream", "mixed"], "--stream mixed serves all tasks"),
        (["--alpha", "1.5"], "config key 'alpha': must be in (0, 1), got 1.5"),
        ([], "give the SLA target: --alpha A"),
        (["--alpha", "0.7", "--task", "gsm8"], "unknown task 'gsm8'"),
        (
            ["--alpha", "0.7", "--messjax-set", "infeasable_cap=2"],
            "unknown messjax parameter 'infeasable_cap' (did you mean 'infeasible_cap'?)",
        ),
        (["--alpha", "0.7", "--messjax-set", "margin"], "expected KEY=VALUE, got 'margin'"),
        (["--alpha", "0.7", "--messjax-set", "margin=lots"], "margin: not a number: 'lots'"),
        (["--alpha", "0.7", "--messjax-set", "V=-1"], "V must be a number >= 0, got -1"),
        (["--alpha", "0.7", "--messjax-set", "V=nan"], "V must be a number >= 0, got nan"),
    ],
)
def test_bad_inputs_name_the_problem(tmp_path, capsys, extra, message):
    folder = routellm_folder(tmp_path / "routellm", n=4)
    argv = ["evaluate", "--zoo", str(folder), *PRICE_ARGS, "--out", str(tmp_path / "o"), *extra]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "table.csv").exists()


def test_bad_files_name_the_problem(tmp_path, capsys):
    empty = routerbench_csv(
        tmp_path / "all_empty.csv", 3, models=ROUTERBENCH_MODELS[:2],
        empty=[(i, ROUTERBENCH_MODELS[1]) for i in range(3)],
    )  # fmt: skip
    (tmp_path / "rb.pkl").write_bytes(b"\x80\x04K\x01.")
    for argv, message in [
        ([str(empty), "--drop-incomplete"], "all_empty.csv: no usable rows: all 3 rows"),
        ([str(empty)], "column 'claude-instant-v1', line 2: empty cell"),
        ([str(tmp_path / "rb.pkl")], "not unpickled (unpickling can run arbitrary code); convert"),
        ([str(tmp_path / "routellm")], "no such file or folder"),
    ]:
        assert cli.main(["evaluate", "--zoo", *argv, "--alpha", "0.7"]) == 2
        assert message in capsys.readouterr().err


def test_alphas_parse():
    a = E.Alphas.parse(["arc=0.5,boolq=0.8", "0.7"])
    assert a.for_tasks(["arc", "boolq", "piqa"], ["arc", "boolq", "piqa"], "z") == {
        "arc": 0.5,
        "boolq": 0.8,
        "piqa": 0.7,
    }
    assert E.Alphas.parse(["paper"]).for_tasks(["boolq"], ["boolq"], "llama3") == {"boolq": 0.8}
    with pytest.raises(ConfigError, match="two plain alphas"):
        E.Alphas.parse(["0.5,0.6"])
    assert E.select_methods(["single"], ["a", "b"]) == ["single-b", "single-a"]


def test_default_V_gives_the_same_decisions_in_joules_and_megajoules():
    """evaluate's MESS+ (relative V = 0.16): costs in J or in MJ, identical decisions; the
    paper's absolute V = 1e-4 on the same two tables does not (so the test can fail)."""
    joules = synthetic_zoo("toy", num_requests=400)
    mega = joules.replace(costs=joules.costs / 1e6, cost_unit="MJ")
    x = table_features(joules, "hash")
    ((spec, _),) = E.build_streams(
        joules, joules.task_names, E.Alphas(0.8), "tasks", "toy", train_fraction=0.1
    )
    s = Settings()
    assert (s.V, s.relative_V) == (E.DEFAULT_RELATIVE_V, 1)

    def run(table, V, relative):
        return run_messplus(table, x, spec, [42, 43], V, s.c, relative_V=relative).summary

    a, b = run(joules, s.V, 1), run(mega, s.V, 1)
    assert len(np.unique(np.argmax(a.served_counts, -1))) >= 1
    assert np.asarray(a.served_counts).min() < len(spec.test_index)  # more than one model used
    for field in ("served_counts", "explore_count", "satisfaction", "final_queue", "max_queue"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    np.testing.assert_allclose(a.total_cost, b.total_cost * 1e6, rtol=1e-5)
    c, d = run(joules, 1e-4, 0), run(mega, 1e-4, 0)
    assert not np.array_equal(c.served_counts, d.served_counts)


@pytest.mark.data
def test_default_relative_V_is_the_papers_tradeoff_on_the_llama_logs(data_dir):
    """V_rel = 1e-4 J^-1 x the 70B model's mean energy per request (mean over the 8 tasks)."""
    from messjax.data import load_zoo
    from messjax.paper import PAPER_TASKS, PAPER_V

    table = load_zoo("llama3", data_dir)
    large = np.mean([table.select_task(t).mean_cost()[-1] for t in PAPER_TASKS])
    assert 1500 < large < 1700
    assert round(PAPER_V * large, 2) == E.DEFAULT_RELATIVE_V


@pytest.mark.data
def test_reproduce_is_evaluate_with_the_papers_settings(tmp_path, data_dir):
    shrink = ["--featurizer", "hash", "--seeds", "1", "--router-steps", "5", "--no-figures"]
    shrink += ["--max-requests", "80", "--data-dir", str(data_dir)]
    argv = ["reproduce", "--zoo", "llama3", "--tasks", "arc_challenge,logiqa", *shrink]
    assert cli.main([*argv, "--out", str(tmp_path / "r")]) == 0
    argv = ["evaluate", "--zoo", "llama3", "--alpha", "paper", "--absolute-V", *shrink]
    argv += ["--task", "arc_challenge", "--task", "logiqa"]
    assert cli.main([*argv, "--out", str(tmp_path / "e")]) == 0
    tables = []
    for d in ("r", "e"):
        with open(tmp_path / d / "table.csv") as f:
            tables.append({(r["task"], r["method"]): r for r in csv.DictReader(f)})
    reproduced, evaluated = tables
    assert set(reproduced) == set(evaluated) and len(reproduced) > 10
    for key, r in reproduced.items():
        for col in ("alpha", "cost_mj", "satisfaction", "explore_share", "num_requests"):
            assert evaluated[key][col] == r[col], (key, col)
    assert {r["offline_training"] for r in evaluated.values()} == {"leave-one-task-out"}


def test_run_prints_big_zoos_readably(tmp_path, capsys):
    path = routerbench_csv(tmp_path / "rb.csv", 40, empty=[(5, "claude-v2")])
    argv = ["run", "--zoo", str(path), "--drop-incomplete", "--no-progress"]
    argv += ["--set", "alpha=0.8", "--set", "V=1e-4", "--set", "seeds=[1]", "--set", "c=0.5"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "models (cheapest first; numbers in the calls column):" in out
    assert " 11  gpt-4-1106-preview" in out
    assert "calls % (1/2/3/4/5/6/7/8/9/10/11)" in out
    assert "(dropped on load: 1 requests with an empty score or cost cell" in out
    assert "note: dropped 1 of 40 requests" in captured.err
    header = next(line for line in out.splitlines() if "calls %" in line)
    assert len(header) <= 100


def test_build_streams_training_data():
    table = synthetic_zoo("llama3", num_requests=20)  # 8 tasks
    two = ["arc_challenge", "boolq"]
    ((mixed, label),) = E.build_streams(table, two, E.Alphas(0.6), "mixed", "z")
    assert label == "other tasks" and len(mixed.test_index) == 40 and not mixed.train_is_split
    assert set(table.tasks[mixed.train_index]).isdisjoint(two)
    assert len(mixed.train_index) == len(table) - 40
    ((whole, label),) = E.build_streams(table, table.task_names, E.Alphas(0.6), "mixed", "z")
    assert label.startswith("split (25%") and len(whole.test_index) == 160 - 40
    assert whole.train_is_split  # messjax starts from these labels
    assert set(whole.test_index).isdisjoint(whole.train_index)
    per_task = E.build_streams(table, two, E.Alphas(0.6, {"boolq": 0.8}), "tasks", "z")
    assert [(s.name, s.alpha, lab) for s, lab in per_task] == [
        ("arc_challenge", 0.6, "leave-one-task-out"),
        ("boolq", 0.8, "leave-one-task-out"),
    ]
    one = table.select_task("piqa")
    ((s, label),) = E.build_streams(one, ["piqa"], E.Alphas(0.7), "tasks", "z", train_fraction=0.5)
    assert label.startswith("split (50%") and len(s.test_index) == len(s.train_index) == 10
    assert s.train_is_split and not any(p.train_is_split for p, _ in per_task)
    ((chain, label),) = E.build_streams(table, two, E.Alphas(0.6, {"boolq": 0.8}), "chain", "z")
    assert (chain.name, chain.segments, label) == ("arc_challenge+boolq", [20, 20], "other tasks")
    assert chain.alpha == pytest.approx(0.7) and len(chain.train_index) == len(table) - 40
    with pytest.raises(ConfigError, match="leaves the offline routers no task"):
        E.build_streams(table, table.task_names, E.Alphas(0.6), "chain", "z")


def test_messjax_warm_starts_on_a_split_stream_only():
    """On a one-task zoo (training rows = a split of the stream) messjax starts from the
    training labels: its episodes equal run_cells with the history, and differ from a cold
    start; on a leave-one-task-out stream it starts cold."""
    from messjax.core import policy
    from messjax.runs.evaluate import run_messjax

    table = synthetic_zoo("llama3", num_requests=200)
    one = table.select_task("piqa")
    x = table_features(one, "hash")
    ((spec, _),) = E.build_streams(one, ["piqa"], E.Alphas(0.75), "tasks", "z")
    seeds = [1, 2]
    got = run_messjax(one, x, spec, seeds)
    test, train = one.take(spec.test_index), one.take(spec.train_index)
    hp = policy.default_hparams(alpha=0.75)
    cells = [
        dict(stream=0, seed=s, order=o, hp=hp, pp=policy.default_policy_params())
        for s, o in spec.orders(seeds).items()
    ]
    warm = (x[spec.train_index], train.labels, train.costs)
    want, _ = policy.run_cells([(x[spec.test_index], test.labels, test.costs, warm)], cells)
    cold, _ = policy.run_cells([(x[spec.test_index], test.labels, test.costs)], cells)
    np.testing.assert_array_equal(got.summary.served_counts, want.served_counts)
    np.testing.assert_array_equal(got.summary.total_cost, want.total_cost)
    assert (np.asarray(want.served_counts) != np.asarray(cold.served_counts)).any()
    xs = table_features(table, "hash")
    loto = E.build_streams(table, ["piqa"], E.Alphas(0.75), "tasks", "z")[0][0]
    assert not loto.train_is_split
    got = run_messjax(table, xs, loto, seeds)
    test = table.take(loto.test_index)
    loto_cells = [
        dict(stream=0, seed=s, order=o, hp=hp, pp=policy.default_policy_params())
        for s, o in loto.orders(seeds).items()
    ]
    cold, _ = policy.run_cells([(xs[loto.test_index], test.labels, test.costs)], loto_cells)
    np.testing.assert_array_equal(got.summary.served_counts, cold.served_counts)


def test_messjax_set_changes_the_messjax_row_and_says_so(tmp_path):
    """``--messjax-set`` sets the policy's leaves for the messjax row only; the table names
    them; MESS+ and the baselines are unchanged."""
    path = routerbench_csv(tmp_path / "rb.csv", 80)
    base = ["--zoo", str(path), "--alpha", "0.6", "--seeds", "2", "--no-figures"]
    plain = {r["method"]: r for r in _evaluate(tmp_path / "a", *base)}
    args = [*base, "--messjax-set", "margin=20", "--messjax-set", "infeasible_cap=2"]
    changed = {r["method"]: r for r in _evaluate(tmp_path / "b", *args)}
    assert changed["messplus"]["cost_usd"] == plain["messplus"]["cost_usd"]
    assert changed["oracle"]["cost_usd"] == plain["oracle"]["cost_usd"]
    assert changed["messjax"]["cost_usd"] != plain["messjax"]["cost_usd"]
    md = (tmp_path / "b" / "table.md").read_text()
    assert "its default setting but margin = 20, infeasible_cap = 2 (`--messjax-set`)" in md
    assert "its one default setting" in (tmp_path / "a" / "table.md").read_text()


def test_a_task_given_two_alphas_is_refused():
    from messjax.errors import ConfigError
    from messjax.runs.eval_setup import Alphas

    with pytest.raises(ConfigError, match="two alphas given for task 'logiqa'"):
        Alphas.parse(["logiqa=0.4", "logiqa=0.9"])


def test_paper_mean_only_beside_the_papers_tasks():
    from messjax.outputs.method_table import _sla_mark, paper_numbers

    assert paper_numbers({"paper": True, "paper_mean": True}, "messplus", "mean")[0] == 1.07
    assert paper_numbers({"paper": True, "paper_mean": False}, "messplus", "mean") == (None, None)
    assert paper_numbers({"paper": True, "paper_mean": False}, "messplus", "arc_challenge")[0]
    assert _sla_mark(float(np.float32(0.39)), 0.4) == "~1pt"  # 39/100 in float32
