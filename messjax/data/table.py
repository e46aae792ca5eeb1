"""The routing table: one row per request, one column per model of the zoo.

A :class:`RoutingTable` holds ``texts[T]``, ``labels[T, M]`` in [0, 1] (float32; 1 = the model's
answer satisfies the request), ``costs[T, M] >= 0`` (float32, in ``cost_unit``), the model names
sorted cheapest first (by mean cost), and per request a task name and an id. Tables are
immutable: arrays are read-only and every transformation returns a new table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from messjax.errors import DataError


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class RoutingTable:
    """Per-request satisfaction labels and costs of an M-model zoo.

    Attributes:
      texts: ``[T]`` request texts (object array of ``str``).
      labels: ``[T, M]`` float32 in [0, 1]; ``s[m, t]`` of MESSPLUS.md section 1 (transposed).
      costs: ``[T, M]`` float32 >= 0; ``E[m, t]`` in ``cost_unit``.
      models: the M model names, cheapest first (ascending mean cost).
      tasks: ``[T]`` task (benchmark) name per request.
      ids: ``[T]`` request id per request (unique within a task), as strings.
      cost_unit: ``"J"`` (GPU energy), ``"s"`` (latency) or ``"$"`` (price).
      name: a label for the zoo (e.g. ``"llama3"``).
      source: where the table was read from (used in error messages).
      dropped: task -> number of requests dropped when the logs were read because a score or
        cost cell was empty (``missing="drop"`` of the loaders); empty when none were.
    """

    texts: np.ndarray
    labels: np.ndarray
    costs: np.ndarray
    models: tuple[str, ...]
    tasks: np.ndarray
    ids: np.ndarray
    cost_unit: str = "J"
    name: str = "zoo"
    source: str = "<table>"
    dropped: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        T = len(self.texts)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("texts", _frozen(np.asarray(self.texts, dtype=object)))
        set_("labels", _frozen(np.asarray(self.labels, dtype=np.float32)))
        set_("costs", _frozen(np.asarray(self.costs, dtype=np.float32)))
        set_("tasks", _frozen(np.asarray(self.tasks, dtype=object)))
        set_("ids", _frozen(np.asarray([str(i) for i in self.ids], dtype=object)))
        set_("models", tuple(str(m) for m in self.models))
        set_("dropped", MappingProxyType({str(k): int(v) for k, v in dict(self.dropped).items()}))
        M = len(self.models)
        if T == 0:
            raise DataError("the table is empty (no requests)", source=self.source)
        if M == 0:
            raise DataError("the table has no models", source=self.source)
        for field, arr in (("labels", self.labels), ("costs", self.costs)):
            if arr.shape != (T, M):
                raise DataError(
                    f"{field} has shape {arr.shape}, expected {(T, M)}",
                    source=self.source,
                    column=field,
                )
        for field, arr in (("tasks", self.tasks), ("ids", self.ids)):
            if arr.shape != (T,):
                raise DataError(
                    f"{field} has shape {arr.shape}, expected {(T,)}",
                    source=self.source,
                    column=field,
                )
        if len(set(self.models)) != M:
            raise DataError(f"duplicate model names {self.models}", source=self.source)
        validate_arrays(self.labels, self.costs, self.models, source=self.source)
        keys = list(zip(self.tasks, self.ids, strict=True))
        if len(set(keys)) != T:
            seen: set = set()
            for row, k in enumerate(keys):
                if k in seen:
                    raise DataError(
                        f"duplicate request id {k[1]!r} in task {k[0]!r}",
                        source=self.source,
                        column="id",
                        row=row,
                    )
                seen.add(k)

    # ------------------------------------------------------------------ basic properties
    @property
    def num_requests(self) -> int:
        return len(self.texts)

    @property
    def num_models(self) -> int:
        return len(self.models)

    def __len__(self) -> int:
        return self.num_requests

    @property
    def dropped_rows(self) -> int:
        """Requests dropped on load for an empty score or cost cell (see ``dropped``)."""
        return sum(self.dropped.values())

    @property
    def task_names(self) -> tuple[str, ...]:
        """Task names in order of first appearance."""
        return tuple(dict.fromkeys(self.tasks.tolist()))

    def replace(self, **changes) -> RoutingTable:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ row selection
    def take(self, index: Sequence[int] | np.ndarray) -> RoutingTable:
        """Rows ``index`` in that order (a permutation, a subset or a split)."""
        index = np.asarray(index, dtype=np.int64)
        return self.replace(
            texts=self.texts[index],
            labels=self.labels[index],
            costs=self.costs[index],
            tasks=self.tasks[index],
            ids=self.ids[index],
        )

    def select_task(self, *tasks: str) -> RoutingTable:
        """Rows of the named task(s), in table order. Unknown names are an error."""
        known = self.task_names
        for task in tasks:
            if task not in known:
                raise DataError(
                    f"unknown task {task!r}; known tasks: {', '.join(known)}",
                    source=self.source,
                    column="benchmark_name",
                )
        return self.take(np.flatnonzero(np.isin(self.tasks, list(tasks))))

    def select_models(self, *models: str) -> RoutingTable:
        """Columns of the named models (re-sorted cheapest first)."""
        for m in models:
            if m not in self.models:
                raise DataError(
                    f"unknown model {m!r}; known models: {', '.join(self.models)}",
                    source=self.source,
                )
        cols = [self.models.index(m) for m in models]
        return sort_models(
            self.replace(
                labels=self.labels[:, cols], costs=self.costs[:, cols], models=tuple(models)
            )
        )

    # ------------------------------------------------------------------ summaries
    def accuracy(self) -> np.ndarray:
        """``[M]`` mean satisfaction per model."""
        return self.labels.mean(axis=0, dtype=np.float64)

    def mean_cost(self) -> np.ndarray:
        """``[M]`` mean cost per request per model, in ``cost_unit``."""
        return self.costs.mean(axis=0, dtype=np.float64)


def validate_arrays(
    labels: np.ndarray,
    costs: np.ndarray,
    models: Sequence[str],
    *,
    source: str = "<table>",
    label_columns: Sequence[str] | None = None,
    cost_columns: Sequence[str] | None = None,
    rows: np.ndarray | None = None,
) -> None:
    """Raise :class:`DataError` at the first NaN/out-of-range label or NaN/negative cost.

    ``label_columns``/``cost_columns`` name the file's columns per model (default: the model
    names); ``rows`` maps array rows to file rows for the message.
    """
    label_columns = list(label_columns or [f"label_{m}" for m in models])
    cost_columns = list(cost_columns or [f"cost_{m}" for m in models])
    checks = (
        (labels, label_columns, ~np.isfinite(labels), "label is NaN or infinite"),
        (labels, label_columns, (labels < 0) | (labels > 1), "label is outside [0, 1]"),
        (costs, cost_columns, ~np.isfinite(costs), "cost is NaN or infinite"),
        (costs, cost_columns, costs < 0, "cost is negative"),
        (
            costs,
            cost_columns,
            costs > float(np.finfo(np.float32).max),
            f"cost is beyond float32 (above {np.finfo(np.float32).max:.3g})",
        ),
    )
    for arr, cols, bad, what in checks:
        if bad.any():
            r, m = np.argwhere(bad)[0]
            file_row = int(rows[r]) if rows is not None else int(r)
            raise DataError(
                f"{what} ({float(arr[r, m])!r})", source=source, column=cols[m], row=file_row
            )


def sort_models(table: RoutingTable) -> RoutingTable:
    """Reorder model columns cheapest first (ascending mean cost; stable on ties)."""
    order = np.argsort(table.mean_cost(), kind="stable")
    if np.array_equal(order, np.arange(table.num_models)):
        return table
    return table.replace(
        labels=table.labels[:, order],
        costs=table.costs[:, order],
        models=tuple(table.models[i] for i in order),
    )


def concat(tables: Sequence[RoutingTable], name: str | None = None) -> RoutingTable:
    """Stack tables of the same zoo row-wise (e.g. several tasks into one stream)."""
    if not tables:
        raise DataError("no tables to concatenate")
    first = tables[0]
    for t in tables[1:]:
        if t.models != first.models:
            raise DataError(
                f"cannot concatenate zoos with models {first.models} and {t.models}",
                source=t.source,
            )
        if t.cost_unit != first.cost_unit:
            raise DataError(
                f"cannot concatenate cost units {first.cost_unit!r} and {t.cost_unit!r}",
                source=t.source,
            )
    return RoutingTable(
        texts=np.concatenate([t.texts for t in tables]),
        labels=np.concatenate([t.labels for t in tables]),
        costs=np.concatenate([t.costs for t in tables]),
        models=first.models,
        tasks=np.concatenate([t.tasks for t in tables]),
        ids=np.concatenate([t.ids for t in tables]),
        cost_unit=first.cost_unit,
        name=name or first.name,
        source=first.source,
        dropped=first.dropped,
    )
