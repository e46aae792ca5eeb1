"""The embedded synthetic zoo (messjax.data.synthetic)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from messjax.data.synthetic import SYNTHETIC_PRESETS, synthetic_zoo
from messjax.errors import ConfigError, DataError, MessjaxError


@pytest.fixture(scope="module")
def llama2000():
    return synthetic_zoo("llama3", num_requests=2000, seed=0)


def _same(a, b) -> bool:
    return (
        np.array_equal(a.labels, b.labels)
        and np.array_equal(a.costs, b.costs)
        and a.texts.tolist() == b.texts.tolist()
        and a.tasks.tolist() == b.tasks.tolist()
        and a.ids.tolist() == b.ids.tolist()
    )


# ------------------------------------------------------------------------------ shape
@pytest.mark.parametrize("preset", sorted(SYNTHETIC_PRESETS))
def test_shape_and_metadata(preset):
    p = SYNTHETIC_PRESETS[preset]
    t = synthetic_zoo(preset, num_requests=50, seed=1)
    assert t.models == p.models
    assert t.task_names == p.tasks
    assert t.num_requests == 50 * len(p.tasks)
    assert t.cost_unit == "J"
    assert t.name == f"synthetic-{preset}"
    assert t.source == f"<synthetic:{preset}>"
    for task in p.tasks:
        assert t.select_task(task).ids.tolist() == [str(i) for i in range(50)]
    assert set(np.unique(t.labels)) <= {0.0, 1.0}
    assert (t.costs > 0).all()
    assert all(isinstance(s, str) and s.endswith("?") for s in t.texts)


def test_default_sizes():
    assert synthetic_zoo("toy").num_requests == SYNTHETIC_PRESETS["toy"].num_requests
    t = synthetic_zoo("llama3", tasks=["sciq", "boolq"])
    assert t.task_names == ("sciq", "boolq")  # in the order asked
    assert t.num_requests == 2 * SYNTHETIC_PRESETS["llama3"].num_requests
    t = synthetic_zoo("llama3", tasks="piqa", num_requests={"piqa": 7})
    assert t.num_requests == 7 and t.task_names == ("piqa",)
    t = synthetic_zoo("qwen2", tasks=["piqa", "sciq"], num_requests={"piqa": 7})
    assert len(t.select_task("piqa")) == 7
    assert len(t.select_task("sciq")) == SYNTHETIC_PRESETS["qwen2"].num_requests


# ------------------------------------------------------------------------------ determinism
def test_deterministic_per_seed():
    a = synthetic_zoo("llama3", num_requests=300, seed=5)
    b = synthetic_zoo("llama3", num_requests=300, seed=5)
    c = synthetic_zoo("llama3", num_requests=300, seed=6)
    assert _same(a, b)
    assert not np.array_equal(a.labels, c.labels)
    assert not np.array_equal(a.costs, c.costs)
    assert a.texts.tolist() != c.texts.tolist()


def test_task_rows_do_not_depend_on_other_tasks():
    full = synthetic_zoo("qwen2", num_requests=200, seed=3)
    alone = synthetic_zoo("qwen2", tasks=["winogrande"], num_requests=200, seed=3)
    assert _same(full.select_task("winogrande"), alone)


def test_no_global_rng_use():
    before = np.random.get_state()  # noqa: NPY002 (checking that the legacy RNG is untouched)
    synthetic_zoo("toy", num_requests=20, seed=0)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], before[1]) and after[2] == before[2]


# ------------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("preset", ["llama3", "qwen2"])
def test_matches_preset_targets(preset, llama2000):
    p = SYNTHETIC_PRESETS[preset]
    t = llama2000 if preset == "llama3" else synthetic_zoo(preset, num_requests=2000, seed=0)
    for task in p.tasks:
        sub = t.select_task(task)
        np.testing.assert_allclose(sub.accuracy(), p.accuracy[task], atol=0.015, err_msg=task)
        np.testing.assert_allclose(sub.mean_cost(), p.energy[task], rtol=0.05, err_msg=task)


def test_targets_hold_for_other_seeds_and_sizes():
    p = SYNTHETIC_PRESETS["llama3"]
    for seed, n in ((11, 1000), (12, 137)):
        t = synthetic_zoo("llama3", tasks=["logiqa", "boolq"], num_requests=n, seed=seed)
        for task in ("logiqa", "boolq"):
            sub = t.select_task(task)
            np.testing.assert_allclose(sub.accuracy(), p.accuracy[task], atol=0.5 / n + 1e-9)
            np.testing.assert_allclose(sub.mean_cost(), p.energy[task], rtol=1e-4)


def test_presets_match_documented_log_means():
    """Overall means of the llama3 targets, weighted by the logs' row counts (SOURCE.txt)."""
    p = SYNTHETIC_PRESETS["llama3"]
    rows = {"arc_challenge": 1172, "arc_easy": 2000, "boolq": 3270, "logiqa": 651,
            "piqa": 1838, "sciq": 1000, "social_iqa": 1954, "winogrande": 1267}  # fmt: skip
    w = np.array([rows[t] for t in p.tasks], dtype=float)
    acc = w @ np.array([p.accuracy[t] for t in p.tasks]) / w.sum()
    energy = w @ np.array([p.energy[t] for t in p.tasks]) / w.sum()
    # SOURCE.txt (9 tasks incl. 100 mmlu rows): accuracy .606/.718/.763, energy 62.5/274/1488 J
    np.testing.assert_allclose(acc, [0.606, 0.718, 0.763], atol=0.005)
    np.testing.assert_allclose(energy, [62.5, 274, 1488], rtol=0.02)


@pytest.mark.parametrize("preset", sorted(SYNTHETIC_PRESETS))
def test_models_sorted_cheapest_first(preset):
    p = SYNTHETIC_PRESETS[preset]
    targets = np.array([p.energy[t] for t in p.tasks]).mean(axis=0)
    assert np.all(np.diff(targets) > 0)
    t = synthetic_zoo(preset, num_requests=200, seed=2)
    assert np.all(np.diff(t.mean_cost()) > 0)


def test_correlated_but_not_nested(llama2000):
    for task in llama2000.task_names:
        lab = llama2000.select_task(task).labels
        M = lab.shape[1]
        for i in range(M):
            for j in range(i + 1, M):
                # the cheaper model sometimes wins where the dearer one fails
                assert ((lab[:, i] == 1) & (lab[:, j] == 0)).any(), (task, i, j)
                assert np.corrcoef(lab[:, i], lab[:, j])[0, 1] > 0.05, (task, i, j)


def test_cost_varies_per_request_and_grows_with_length(llama2000):
    sub = llama2000.select_task("arc_challenge")
    assert (sub.costs.std(axis=0) > 0).all()
    words = np.array([len(s.split()) for s in sub.texts], dtype=float)
    r = np.corrcoef(np.log(sub.costs[:, -1]), words)[0, 1]  # large model: low noise
    assert r > 0.2


# ------------------------------------------------------------------------------ text signal
def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _bag_of_words(texts, vocab: dict[str, int]) -> np.ndarray:
    X = np.zeros((len(texts), len(vocab)))
    for i, s in enumerate(texts):
        for w in _tokens(s):
            if w in vocab:
                X[i, vocab[w]] += 1
    return X / np.maximum(1.0, X.sum(axis=1, keepdims=True)) * 10.0  # word frequencies x 10


def _logistic_regression(X, y, l2=1e-2, steps=500, lr=0.5):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        g = 1.0 / (1.0 + np.exp(-(X @ w + b))) - y
        w -= lr * (X.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w, b


def _auc(score, y) -> float:
    ranks = np.argsort(np.argsort(score)) + 1.0
    pos, neg = y.sum(), len(y) - y.sum()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _probe(table):
    """Train on the first half, return (held-out AUC, accuracy, majority baseline)."""
    y = table.labels[:, 0].astype(float)  # the smallest (cheapest) model
    h = len(y) // 2
    vocab = {w: i for i, w in enumerate(sorted({w for s in table.texts[:h] for w in _tokens(s)}))}
    X = _bag_of_words(table.texts, vocab)
    w, b = _logistic_regression(X[:h], y[:h])
    score, y_test = X[h:] @ w + b, y[h:]
    majority = max(y_test.mean(), 1 - y_test.mean())
    return _auc(score, y_test), float(((score > 0) == y_test).mean()), majority


def test_text_signal_is_learnable_toy():
    auc, acc, majority = _probe(synthetic_zoo("toy", num_requests=2000, seed=4))
    assert auc > 0.75
    assert acc > majority + 0.1


# Across seeds 0..19: arc_challenge AUC >= 0.74, accuracy margin >= 0.057; winogrande (a
# low-discrimination task) AUC >= 0.67, margin >= 0.03.
@pytest.mark.parametrize(
    ("task", "min_auc", "min_margin"), [("arc_challenge", 0.7, 0.04), ("winogrande", 0.62, 0.0)]
)
def test_text_signal_is_learnable_llama3(task, min_auc, min_margin, llama2000):
    auc, acc, majority = _probe(llama2000.select_task(task))
    assert auc > min_auc
    assert acc > majority + min_margin


# ------------------------------------------------------------------------------ errors
def test_unknown_preset():
    with pytest.raises(ConfigError, match=r"'gpt9'.*llama3, qwen2, toy"):
        synthetic_zoo("gpt9")


def test_unknown_task():
    with pytest.raises(DataError, match=r"^unknown task 'mmlu'.*arc_challenge.*winogrande"):
        synthetic_zoo("llama3", tasks=["boolq", "mmlu"])


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_bad_num_requests(n):
    with pytest.raises(ConfigError, match="num_requests"):
        synthetic_zoo("toy", num_requests=n)
    with pytest.raises(ConfigError, match="num_requests"):
        synthetic_zoo("toy", num_requests={"toy": n})


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"tasks": []}, "tasks"),
        ({"tasks": ["piqa", "piqa"]}, "tasks"),
        ({"tasks": ["piqa"], "num_requests": {"sciq": 5}}, "num_requests"),
    ],
)
def test_bad_arguments(kwargs, key):
    with pytest.raises(MessjaxError, match=key):
        synthetic_zoo("llama3", **kwargs)
