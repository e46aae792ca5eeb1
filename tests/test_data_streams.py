"""Stream invariants: shuffles are seeded permutations, splits are disjoint and covering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messjax.data import (
    RoutingTable,
    chain_tasks,
    leave_one_task_out,
    shuffle,
    train_test_split,
)
from messjax.data.streams import chain, permutation
from messjax.errors import ConfigError, DataError

TASKS = ("arc", "piqa", "boolq")


def make_table(task_of_row: list[int], M: int = 2) -> RoutingTable:
    """Row t: task TASKS[task_of_row[t]], id str(t), text f"q{t}", distinct labels/costs."""
    T = len(task_of_row)
    rows = np.arange(T, dtype=np.float32)[:, None]
    return RoutingTable(
        texts=[f"q{t}" for t in range(T)],
        labels=(rows % 2) * np.ones((1, M)),
        costs=rows + np.arange(1, M + 1, dtype=np.float32),
        models=tuple(f"m{m}" for m in range(M)),
        tasks=[TASKS[k] for k in task_of_row],
        ids=[str(t) for t in range(T)],
        name="toy",
    )


tables = st.lists(st.integers(0, len(TASKS) - 1), min_size=1, max_size=40).map(make_table)
seeds = st.integers(0, 2**32 - 1)
SETTINGS = settings(max_examples=60, deadline=None)


def rows_of(sub: RoutingTable) -> list[int]:
    return [int(i) for i in sub.ids]


@SETTINGS
@given(tables, seeds)
def test_shuffle_is_seeded_permutation(table, seed):
    s = shuffle(table, seed)
    order = rows_of(s)
    assert sorted(order) == list(range(len(table)))
    assert order == permutation(len(table), seed).tolist()
    assert order == np.random.default_rng(seed).permutation(len(table)).tolist()
    assert rows_of(shuffle(table, seed)) == order  # deterministic
    # every column moves with its row
    np.testing.assert_array_equal(s.costs, table.costs[order])
    np.testing.assert_array_equal(s.labels, table.labels[order])
    assert s.texts.tolist() == [f"q{i}" for i in order]
    assert s.tasks.tolist() == table.tasks[order].tolist()


@SETTINGS
@given(tables.filter(lambda t: len(t) >= 2), seeds, st.floats(0.01, 0.99))
def test_split_disjoint_covering_deterministic(table, seed, fraction):
    train, test = train_test_split(table, fraction, seed)
    a, b = rows_of(train), rows_of(test)
    assert set(a).isdisjoint(b)
    assert sorted(a + b) == list(range(len(table)))
    assert a == sorted(a) and b == sorted(b)  # table order kept
    assert 1 <= len(b) <= len(table) - 1
    assert len(b) == min(max(round(fraction * len(table)), 1), len(table) - 1)
    train2, test2 = train_test_split(table, fraction, seed)
    assert rows_of(train2) == a and rows_of(test2) == b


@SETTINGS
@given(tables, st.one_of(st.none(), seeds), st.permutations(TASKS))
def test_chain_tasks_segments(table, seed, order):
    order = [t for t in order if t in table.task_names]
    c = chain_tasks(table, order, seed=seed)
    assert sorted(rows_of(c)) == list(range(len(table)))
    start = 0
    for task in order:  # each segment is the task, shuffled with the same seed if given
        part = table.select_task(task)
        expect = shuffle(part, seed) if seed is not None else part
        assert rows_of(c)[start : start + len(part)] == rows_of(expect)
        start += len(part)
    assert start == len(c)


@SETTINGS
@given(tables.filter(lambda t: len(t.task_names) >= 2), st.data())
def test_leave_one_task_out_partition(table, data):
    task = data.draw(st.sampled_from(table.task_names))
    train, test = leave_one_task_out(table, task)
    assert set(test.tasks) == {task} and task not in set(train.tasks)
    assert sorted(rows_of(train) + rows_of(test)) == list(range(len(table)))
    assert rows_of(train) == sorted(rows_of(train))


def test_chain_tables():
    t = make_table([0, 0, 1, 1, 2])
    c = chain(t.select_task("boolq"), t.select_task("arc"))
    assert rows_of(c) == [4, 0, 1]
    assert rows_of(chain(t, seed=3)) == rows_of(shuffle(t, 3))


def test_stream_errors():
    t = make_table([0, 0, 1])
    with pytest.raises(DataError, match="unknown task 'winogrande'; known tasks: arc, piqa"):
        chain_tasks(t, ["arc", "winogrande"])
    with pytest.raises(DataError, match="listed twice"):
        chain_tasks(t, ["arc", "arc"])
    with pytest.raises(DataError, match="at least one task"):
        chain_tasks(t, [])
    for bad in (0.0, 1.0, -0.5, 2):
        with pytest.raises(ConfigError, match="test_fraction"):
            train_test_split(t, bad, 0)
    with pytest.raises(DataError, match="cannot split a table of 1"):
        train_test_split(make_table([0]), 0.5, 0)
    with pytest.raises(DataError, match="unknown task 'sciq'"):
        leave_one_task_out(t, "sciq")
    with pytest.raises(DataError, match="at least two tasks"):
        leave_one_task_out(make_table([1, 1]), "piqa")
    with pytest.raises(DataError, match="at least one table"):
        chain()
