"""Readers for routing logs: MESS+ logs, RouterBench and RouteLLM CSVs, and joined zoos.

Every loader returns a :class:`~messjax.data.table.RoutingTable` and validates the whole input
first: a bad cell raises :class:`~messjax.errors.DataError` naming the file, the column and the
line of the first offending cell, where *line N* is the 1-based line number in the file as an
editor shows it (the header is line 1). Nothing is silently dropped: a row is either loaded or
the load fails (blank lines carry no data and are skipped); the one deliberate exception is
:func:`join_zoos`, which keeps only the requests present in both zoos and warns
(:class:`ZooJoinWarning`) naming what it dropped.

Formats (see MESSPLUS.md section 3):

- MESS+ logs (:func:`load_messplus`): ``doc_id, input_text, benchmark_name`` and per model ``m``
  ``label_<m>``, ``acc_<m>`` or ``acc_norm_<m>``, ``energy_consumption_<m>``,
  ``inference_time_<m>``.
- RouterBench (:func:`load_routerbench`): ``sample_id, prompt, eval_name``, per model id ``X`` a
  score column ``X``, ``X|model_response`` and ``X|total_cost`` (dollars).
- RouteLLM evaluation CSVs (:func:`load_routellm`): ``prompt`` plus one True/False column per
  model id; costs come from a per-model price table.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import difflib
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from messjax.data.table import RoutingTable, sort_models, validate_arrays
from messjax.errors import ConfigError, DataError

__all__ = [
    "COST_KINDS",
    "ZOOS",
    "ZooJoinWarning",
    "ZooSpec",
    "describe",
    "detect_format",
    "join_zoos",
    "load_messplus",
    "load_routellm",
    "load_routerbench",
    "load_zoo",
]

#: ``cost=`` choices of :func:`load_messplus`: column prefix and unit.
COST_KINDS: dict[str, tuple[str, str]] = {
    "energy": ("energy_consumption_", "J"),
    "time": ("inference_time_", "s"),
}

_MESSPLUS_BASE = ("doc_id", "input_text", "benchmark_name")
_MESSPLUS_PREFIXES = ("label_", "acc_norm_", "acc_", "energy_consumption_", "inference_time_")
_ROUTERBENCH_BASE = ("sample_id", "prompt", "eval_name")
_ROUTERBENCH_IGNORED = ("oracle_model_to_route_to",)
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class ZooJoinWarning(UserWarning):
    """:func:`join_zoos` dropped requests (or whole tasks) present in only one of the zoos."""


# ---------------------------------------------------------------------------------- CSV reading
@dataclasses.dataclass
class _Csv:
    """One parsed CSV file: header, data rows and the file line on which each row starts."""

    path: str
    header: list[str]
    rows: list[list[str]]
    lines: np.ndarray  # [R] int64, 1-based line number of each row (header = line 1)

    def error(self, problem: str, column: str | None = None, i: int | None = None) -> DataError:
        """A DataError at data row ``i`` (index into ``rows``), else at the header (line 1)."""
        line = int(self.lines[i]) if i is not None else 1
        return DataError(problem, source=self.path, column=column, line=line)

    def index(self, name: str, what: str = "column") -> int:
        """Position of column ``name``; a missing column names the closest existing one."""
        try:
            return self.header.index(name)
        except ValueError:
            raise self.error(
                f"missing {what} {name!r}{_did_you_mean(name, self.header)}; "
                f"the header has: {', '.join(self.header)}",
                column=name,
            ) from None

    def column(self, name: str) -> list[str]:
        j = self.index(name)
        return [r[j] for r in self.rows]

    def strings(self, name: str, *, allow_empty: bool = False) -> list[str]:
        """Column ``name`` as strings; empty cells are an error unless ``allow_empty``."""
        values = self.column(name)
        if not allow_empty:
            for i, v in enumerate(values):
                if not v.strip():
                    raise self.error("empty cell", column=name, i=i)
        return values

    def floats(self, name: str) -> np.ndarray:
        """Column ``name`` as float64; empty or non-numeric cells are an error."""
        values = self.column(name)
        try:
            return np.array(values, dtype=np.float64)
        except ValueError:
            pass
        for i, v in enumerate(values):
            if not v.strip():
                raise self.error("empty cell (expected a number)", column=name, i=i)
            try:
                float(v)
            except ValueError:
                raise self.error(f"not a number: {v!r}", column=name, i=i) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def bools(self, name: str) -> np.ndarray:
        """Column ``name`` as 0/1 float64 from True/False/true/false/1/0."""
        out = np.empty(len(self.rows), dtype=np.float64)
        for i, v in enumerate(self.column(name)):
            key = v.strip().lower()
            if key in _TRUE:
                out[i] = 1.0
            elif key in _FALSE:
                out[i] = 0.0
            elif not key:
                raise self.error("empty cell (expected True or False)", column=name, i=i)
            else:
                raise self.error(f"expected True/False/1/0, got {v!r}", column=name, i=i)
        return out


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read_csv(path: str | os.PathLike) -> _Csv:
    """Parse a CSV file strictly: a header, then rows with exactly as many fields."""
    path = str(path)
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # long prompts (RouterBench) exceed the 128 KiB default
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)
            try:
                header = next(reader, None)
                if header is None:
                    raise DataError("the file is empty (no header line)", source=path)
                header = [h.strip() for h in header]
                rows: list[list[str]] = []
                lines: list[int] = []
                prev = reader.line_num
                for row in reader:
                    start, prev = prev + 1, reader.line_num
                    if not row:  # a blank line: no data
                        continue
                    if len(row) != len(header):
                        raise DataError(
                            f"malformed row: {len(row)} fields but the header has "
                            f"{len(header)} (ragged row; check quoting and delimiters)",
                            source=path,
                            line=start,
                        )
                    rows.append(row)
                    lines.append(start)
            except csv.Error as e:
                raise DataError(f"malformed CSV: {e}", source=path, line=reader.line_num) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e})", source=path) from None
    except FileNotFoundError:
        raise DataError("no such file", source=path) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected a CSV file", source=path) from None
    finally:
        csv.field_size_limit(old_limit)
    if not header or all(not h for h in header):
        raise DataError("the header line is empty", source=path, line=1)
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if not h:
            raise DataError(f"column {j + 1} of the header has no name", source=path, line=1)
        if h in seen:
            raise DataError(
                f"duplicate column name (columns {seen[h] + 1} and {j + 1})",
                source=path,
                column=h,
                line=1,
            )
        seen[h] = j
    if not rows:
        raise DataError("no data rows (the table is empty)", source=path)
    return _Csv(path, header, rows, np.asarray(lines, dtype=np.int64))


def _read_header(path: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read the header: {e}", source=path, line=1) from None
    if not header:
        raise DataError("the file is empty (no header line)", source=path)
    return [h.strip() for h in header]


def _csv_files(path: str | os.PathLike) -> list[str]:
    """``path`` itself if it is a file, else the ``*.csv`` files of the folder, sorted by name."""
    p = Path(path)
    if p.is_dir():
        files = sorted(str(f) for f in p.glob("*.csv") if f.is_file())
        if not files:
            raise DataError("no *.csv files in this folder", source=str(p))
        return files
    if p.is_file():
        return [str(p)]
    raise DataError("no such file or folder", source=str(p))


# ---------------------------------------------------------------------------------- assembling
@dataclasses.dataclass
class _Part:
    """The requests read from one file, validated, with file lines for later messages."""

    csv: _Csv
    texts: list[str]
    labels: np.ndarray  # [R, M] in the part's model order
    costs: np.ndarray
    models: list[str]
    tasks: list[str]
    ids: list[str]
    id_column: str


def _check_values(part: _Part, label_columns: Sequence[str], cost_columns: Sequence[str]) -> None:
    """First NaN/out-of-range label or NaN/negative cost, reported at its file line."""
    try:
        validate_arrays(
            part.labels,
            part.costs,
            part.models,
            source=part.csv.path,
            label_columns=label_columns,
            cost_columns=cost_columns,
            rows=part.csv.lines,
        )
    except DataError as e:  # validate_arrays says "row"; here the number is a file line
        raise DataError(e.problem, source=e.source, column=e.column, line=e.row) from None


def _assemble(parts: Sequence[_Part], *, cost_unit: str, name: str, source: str) -> RoutingTable:
    """Check the parts agree on the zoo and have unique (task, id); build the sorted table."""
    models = parts[0].models
    for part in parts[1:]:
        if set(part.models) != set(models):
            raise DataError(
                f"models {sorted(part.models)} differ from {sorted(models)} in {parts[0].csv.path}",
                source=part.csv.path,
            )
    first_seen: dict[tuple[str, str], tuple[str, int]] = {}
    for part in parts:
        for i, key in enumerate(zip(part.tasks, part.ids, strict=True)):
            line = int(part.csv.lines[i])
            if key in first_seen:
                where, at = first_seen[key]
                at_file = "" if where == part.csv.path else f"file {where}, "
                raise DataError(
                    f"duplicate id {key[1]!r} in task {key[0]!r} (first seen at "
                    f"{at_file}line {at})",
                    source=part.csv.path,
                    column=part.id_column,
                    line=line,
                )
            first_seen[key] = (part.csv.path, line)
    labels, costs = [], []
    for part in parts:
        order = [part.models.index(m) for m in models]
        labels.append(part.labels[:, order])
        costs.append(part.costs[:, order])
    table = RoutingTable(
        texts=np.array([t for p in parts for t in p.texts], dtype=object),
        labels=np.concatenate(labels),
        costs=np.concatenate(costs),
        models=tuple(models),
        tasks=np.array([t for p in parts for t in p.tasks], dtype=object),
        ids=np.array([i for p in parts for i in p.ids], dtype=object),
        cost_unit=cost_unit,
        name=name,
        source=source,
    )
    return sort_models(table)


def _default_name(path: str | os.PathLike) -> str:
    stem = Path(path).stem if Path(path).is_file() else Path(path).name
    return stem.removeprefix("messplus-") or stem


# ---------------------------------------------------------------------------------- MESS+
def _messplus_models(c: _Csv) -> list[str]:
    """Model names from the ``label_<m>`` columns; every per-model column must belong to one."""
    for base in _MESSPLUS_BASE:
        c.index(base)
    models = [h[len("label_") :] for h in c.header if h.startswith("label_") and h != "label_"]
    if not models:
        raise c.error(
            "no label_<model> columns: not a MESS+ log (expected doc_id, input_text, "
            "benchmark_name, then label_<m>, acc_<m>, energy_consumption_<m>, "
            "inference_time_<m> per model m)",
            column="label_<model>",
        )
    for m in models:
        for col in (f"energy_consumption_{m}", f"inference_time_{m}"):
            c.index(col)
        if f"acc_{m}" not in c.header and f"acc_norm_{m}" not in c.header:
            raise c.error(
                f"missing column 'acc_{m}' (or 'acc_norm_{m}')"
                f"{_did_you_mean(f'acc_{m}', c.header)}",
                column=f"acc_{m}",
            )
    for h in c.header:  # a per-model column of a model without label_: likely a misspelling
        for prefix in _MESSPLUS_PREFIXES:
            if h.startswith(prefix):
                m = h[len(prefix) :]
                if m not in models:
                    raise c.error(
                        f"names model {m!r} but there is no column 'label_{m}'"
                        f"{_did_you_mean(f'label_{m}', c.header)}; models with labels: "
                        f"{', '.join(models)}",
                        column=h,
                    )
                break
    return models


def _read_messplus(path: str, cost: str) -> _Part:
    c = _read_csv(path)
    models = _messplus_models(c)
    label_cols = [f"label_{m}" for m in models]
    labels = np.stack([c.floats(col) for col in label_cols], axis=1)
    prefix = COST_KINDS[cost][0]
    other = next(p for k, (p, _) in COST_KINDS.items() if k != cost)
    costs = np.stack([c.floats(f"{prefix}{m}") for m in models], axis=1)
    others = np.stack([c.floats(f"{other}{m}") for m in models], axis=1)
    part = _Part(
        c,
        c.strings("input_text", allow_empty=True),
        labels,
        costs,
        models,
        c.strings("benchmark_name"),
        [s.strip() for s in c.strings("doc_id")],
        "doc_id",
    )
    _check_values(part, label_cols, [f"{prefix}{m}" for m in models])
    _check_values(
        dataclasses.replace(part, costs=others), label_cols, [f"{other}{m}" for m in models]
    )
    for j, m in enumerate(models):
        for acc_col in (f"acc_{m}", f"acc_norm_{m}"):
            if acc_col in c.header:
                acc = c.floats(acc_col)
                bad = np.flatnonzero(acc != labels[:, j])
                if bad.size:
                    i = int(bad[0])
                    raise c.error(
                        f"{acc_col} is {c.rows[i][c.index(acc_col)]!r} but label_{m} "
                        f"is {c.rows[i][c.index(f'label_{m}')]!r} (they must agree)",
                        column=acc_col,
                        i=i,
                    )
    return part


def load_messplus(
    path: str | os.PathLike, cost: str = "energy", *, name: str | None = None
) -> RoutingTable:
    """Load MESS+ inference logs: a folder of per-task CSVs (read in sorted file order) or one CSV.

    Args:
      path: a log folder (every ``*.csv`` in it) or a single CSV file.
      cost: ``"energy"`` (``energy_consumption_<m>``, unit ``"J"``) or ``"time"``
        (``inference_time_<m>``, unit ``"s"``). Both columns are validated either way.
      name: the zoo name; default the folder/file name without a ``messplus-`` prefix.

    Returns:
      A table with models sorted cheapest first by mean cost, ``ids`` = ``doc_id``,
      ``tasks`` = ``benchmark_name``, ``source`` = ``path``.
    """
    if cost not in COST_KINDS:
        raise ConfigError("cost", f"unknown cost {cost!r}; choose one of {', '.join(COST_KINDS)}")
    parts = [_read_messplus(f, cost) for f in _csv_files(path)]
    return _assemble(
        parts, cost_unit=COST_KINDS[cost][1], name=name or _default_name(path), source=str(path)
    )


# ---------------------------------------------------------------------------------- RouterBench
def _parse_prompt(text: str) -> str:
    """A prompt stored as a Python list literal ("['a', 'b']") becomes its parts joined by "\\n".

    Parsed with :func:`ast.literal_eval` (never ``eval``); text that is not a list of strings is
    kept verbatim.
    """
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return text
    try:
        value = ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return text


def _read_routerbench(path: str, models: Sequence[str] | None) -> _Part:
    c = _read_csv(path)
    for base in _ROUTERBENCH_BASE:
        c.index(base)
    known = [h[: -len("|total_cost")] for h in c.header if h.endswith("|total_cost")]
    if not known:
        raise c.error(
            "no '<model>|total_cost' columns: not a RouterBench CSV (expected "
            "sample_id, prompt, eval_name, then per model X: X, X|model_response, "
            "X|total_cost)",
            column="<model>|total_cost",
        )
    for h in c.header:  # a '<model>|...' column without '<model>|total_cost': likely a typo
        if "|" in h and h.split("|", 1)[0] not in known:
            m = h.split("|", 1)[0]
            raise c.error(
                f"names model {m!r} but there is no column '{m}|total_cost'"
                f"{_did_you_mean(f'{m}|total_cost', c.header)}",
                column=h,
            )
    if models is None:
        models = known
    else:
        models = list(models)
        for m in models:
            if m not in known:
                raise c.error(
                    f"unknown model {m!r}{_did_you_mean(m, known)}; models in the "
                    f"file: {', '.join(known)}",
                    column=m,
                )
    for m in models:
        c.index(m, what="score column")
    labels = np.stack([c.floats(m) for m in models], axis=1)
    costs = np.stack([c.floats(f"{m}|total_cost") for m in models], axis=1)
    texts = [_parse_prompt(p) for p in c.strings("prompt", allow_empty=True)]
    part = _Part(
        c,
        texts,
        labels,
        costs,
        list(models),
        c.strings("eval_name"),
        [s.strip() for s in c.strings("sample_id")],
        "sample_id",
    )
    _check_values(part, list(models), [f"{m}|total_cost" for m in models])
    return part


def load_routerbench(
    path: str | os.PathLike, models: Sequence[str] | None = None, *, name: str | None = None
) -> RoutingTable:
    """Load a RouterBench CSV (or a folder of them).

    Model ids are the columns ``X`` for which ``X|total_cost`` exists; ``X`` holds the score in
    [0, 1] (0/1 or fractional), ``X|total_cost`` the cost in dollars (``cost_unit="$"``).
    ``oracle_model_to_route_to`` and ``X|model_response`` are not used. A ``prompt`` stored as a
    Python list literal is parsed with :func:`ast.literal_eval` and its parts joined with
    ``"\\n"``. ``tasks`` = ``eval_name``, ``ids`` = ``sample_id``.

    Args:
      path: a CSV file or a folder of them.
      models: keep only these model ids (default: all).
      name: the zoo name (default: the file or folder name).
    """
    parts = [_read_routerbench(f, models) for f in _csv_files(path)]
    return _assemble(parts, cost_unit="$", name=name or _default_name(path), source=str(path))


# ---------------------------------------------------------------------------------- RouteLLM
_ROUTELLM_TASK = ("task", "eval_name")
_ROUTELLM_ID = ("id", "sample_id")


def _read_routellm(path: str, prices: Mapping[str, float]) -> _Part:
    c = _read_csv(path)
    c.index("prompt")
    task_col = next((h for h in _ROUTELLM_TASK if h in c.header), None)
    id_col = next((h for h in _ROUTELLM_ID if h in c.header), None)
    models = [h for h in c.header if h not in ("prompt", *_ROUTELLM_TASK, *_ROUTELLM_ID)]
    if not models:
        raise c.error("no model columns: expected 'prompt' plus one True/False column per model id")
    for m in models:
        if m not in prices:
            raise c.error(
                f"model {m!r} has no price{_did_you_mean(m, list(prices))}; pass "
                f"prices={{{m!r}: <dollars per request>, ...}}",
                column=m,
            )
    for m in prices:
        if m not in models:
            raise c.error(
                f"a price is given for model {m!r} but the file has no such column"
                f"{_did_you_mean(m, models)}; model columns: {', '.join(models)}",
                column=m,
            )
    labels = np.stack([c.bools(m) for m in models], axis=1)
    costs = np.broadcast_to(
        np.array([prices[m] for m in models], dtype=np.float64), labels.shape
    ).copy()
    tasks = c.strings(task_col) if task_col else [Path(path).stem] * len(c.rows)
    ids = [s.strip() for s in c.strings(id_col)] if id_col else [str(i) for i in range(len(c.rows))]
    return _Part(
        c,
        c.strings("prompt", allow_empty=True),
        labels,
        costs,
        models,
        tasks,
        ids,
        id_col or "<row index>",
    )


def load_routellm(
    path: str | os.PathLike, prices: Mapping[str, float], *, name: str | None = None
) -> RoutingTable:
    """Load a RouteLLM evaluation CSV (or a folder of them) with per-request model prices.

    Columns: ``prompt`` plus one True/False column per model id (``True``/``False``/``true``/
    ``false``/``1``/``0``); optional ``task`` or ``eval_name`` (default: the file stem) and
    ``id`` or ``sample_id`` (default: the 0-based data row index). Every other column is a model
    column. ``costs[t, m] = prices[m]`` (``cost_unit="$"``).

    Raises:
      DataError: a model column has no price, or a price names a model the file lacks.
      ConfigError: a price is negative, NaN or infinite.
    """
    for m, p in prices.items():
        try:
            value = float(p)
        except (TypeError, ValueError):
            raise ConfigError(f"prices[{m!r}]", f"not a number: {p!r}") from None
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"prices[{m!r}]", f"must be a finite number >= 0, got {p!r}")
    parts = [_read_routellm(f, prices) for f in _csv_files(path)]
    return _assemble(parts, cost_unit="$", name=name or _default_name(path), source=str(path))


# ---------------------------------------------------------------------------------- joining
def _qualified(table: RoutingTable) -> list[str]:
    """Model names ``<zoo>/<model>``; in a joined zoo (name ``a+b``) names already qualified by
    one of its parts (``a/<model>``) are kept. Model ids may contain ``/`` themselves."""
    parts = table.name.split("+")
    return [
        m if m.split("/", 1)[0] in parts and "+" in table.name else f"{table.name}/{m}"
        for m in table.models
    ]


def join_zoos(
    a: RoutingTable, b: RoutingTable, how: str = "inner", *, name: str | None = None
) -> RoutingTable:
    """Join two zoos that answered the same requests into one zoo with the models of both.

    Rows are matched on (task, id) and kept in ``a``'s order; models are named
    ``"<zoo>/<model>"`` (e.g. ``llama3/small``, ``qwen2/small``) and sorted cheapest first.
    The texts of every joined request must match.

    Only ``how="inner"`` exists: requests (and whole tasks) present in only one zoo are dropped,
    and a :class:`ZooJoinWarning` names each such task with its row count and zoo.

    Raises:
      DataError: the zoos share no request ("zoos do not join"), a joined request's texts differ,
        the cost units differ, or the model names collide.
    """
    if how != "inner":
        raise ConfigError("how", f"only 'inner' is supported, got {how!r}")
    where = f"{a.source} + {b.source}"
    if a.cost_unit != b.cost_unit:
        raise DataError(
            f"cannot join zoo {a.name!r} (costs in {a.cost_unit}) with zoo "
            f"{b.name!r} (costs in {b.cost_unit})",
            source=where,
        )
    models = _qualified(a) + _qualified(b)
    if len(set(models)) != len(models):
        raise DataError(
            f"model names collide when joining {a.name!r} and {b.name!r}: "
            f"{models}; give the zoos different names (table.replace(name=...))",
            source=where,
        )
    b_index = {k: i for i, k in enumerate(zip(b.tasks.tolist(), b.ids.tolist(), strict=True))}
    ia, ib = [], []
    for i, k in enumerate(zip(a.tasks.tolist(), a.ids.tolist(), strict=True)):
        j = b_index.get(k)
        if j is not None:
            ia.append(i)
            ib.append(j)
    if not ia:
        raise DataError(
            f"zoos do not join: zoo {a.name!r} (tasks {', '.join(a.task_names)}) "
            f"and zoo {b.name!r} (tasks {', '.join(b.task_names)}) share no "
            "(task, id) pair",
            source=where,
        )
    ia_arr, ib_arr = np.asarray(ia), np.asarray(ib)
    mismatch = np.flatnonzero(a.texts[ia_arr] != b.texts[ib_arr])
    if mismatch.size:
        i, j = ia_arr[mismatch[0]], ib_arr[mismatch[0]]
        raise DataError(
            f"request texts differ between zoo {a.name!r} and zoo {b.name!r} at task "
            f"{a.tasks[i]!r} id {a.ids[i]!r}: {_short(a.texts[i])!r} vs {_short(b.texts[j])!r}",
            source=where,
            column="text",
        )
    _warn_dropped(a, b, ia_arr, ib_arr)
    table = RoutingTable(
        texts=a.texts[ia_arr],
        labels=np.concatenate([a.labels[ia_arr], b.labels[ib_arr]], axis=1),
        costs=np.concatenate([a.costs[ia_arr], b.costs[ib_arr]], axis=1),
        models=tuple(models),
        tasks=a.tasks[ia_arr],
        ids=a.ids[ia_arr],
        cost_unit=a.cost_unit,
        name=name or f"{a.name}+{b.name}",
        source=where,
    )
    return sort_models(table)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _warn_dropped(a: RoutingTable, b: RoutingTable, ia: np.ndarray, ib: np.ndarray) -> None:
    notes = []
    for zoo, kept in ((a, ia), (b, ib)):
        mask = np.ones(len(zoo), dtype=bool)
        mask[kept] = False
        if not mask.any():
            continue
        tasks, counts = np.unique(zoo.tasks[mask], return_counts=True)
        totals = dict(zip(*np.unique(zoo.tasks, return_counts=True), strict=True))
        for task, n in zip(tasks.tolist(), counts.tolist(), strict=True):
            whole = "whole task" if n == totals[task] else f"of {totals[task]}"
            notes.append(f"{task} ({n} rows, {whole}, only in {zoo.name})")
    if notes:
        warnings.warn(
            f"join_zoos({a.name}, {b.name}, how='inner') dropped requests present in "
            f"only one zoo: {'; '.join(notes)}",
            ZooJoinWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------------- zoo registry
@dataclasses.dataclass(frozen=True)
class ZooSpec:
    """A named zoo: a log folder under the data dir, or an inner join of other named zoos."""

    description: str
    folder: str | None = None
    join: tuple[str, ...] = ()


ZOOS: dict[str, ZooSpec] = {
    "llama3": ZooSpec(
        "MESS+ Llama-3 zoo: 3 models (1B, 8B, 70B), 9 tasks, 13252 requests",
        folder="messplus-llama3",
    ),
    "qwen2": ZooSpec(
        "MESS+ Qwen2 zoo: 4 models (0.5B, 1.5B, 7B, 32B), 8 tasks, 13528 requests",
        folder="messplus-qwen2",
    ),
    "llama3+qwen2": ZooSpec(
        "llama3 and qwen2 joined on (task, doc_id): 7 models, 8 tasks", join=("llama3", "qwen2")
    ),
}


def detect_format(path: str | os.PathLike) -> str:
    """``"messplus"``, ``"routerbench"`` or ``"routellm"`` from the columns of a CSV/folder."""
    first = _csv_files(path)[0]
    header = _read_header(first)
    if any(h.startswith("label_") for h in header):
        return "messplus"
    if any(h.endswith("|total_cost") for h in header) or all(
        h in header for h in _ROUTERBENCH_BASE
    ):
        return "routerbench"
    if "prompt" in header:
        return "routellm"
    raise DataError(
        f"unrecognised log format (columns: {', '.join(header)}); expected MESS+ "
        "(label_<m> columns), RouterBench (sample_id, prompt, eval_name, "
        "<m>|total_cost) or RouteLLM (prompt plus True/False columns)",
        source=first,
        line=1,
    )


def _data_root(name: str, data_dir: str | os.PathLike | None) -> Path:
    root = data_dir or os.environ.get("MESSJAX_DATA_DIR")
    if not root:
        raise DataError(
            f"zoo {name!r} is read from the data folder, which is not set: pass "
            "--data-dir DIR or set MESSJAX_DATA_DIR",
            source=None,
        )
    if not Path(root).is_dir():
        raise DataError(
            "data folder does not exist (from --data-dir or MESSJAX_DATA_DIR)", source=str(root)
        )
    return Path(root)


def load_zoo(
    name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None, cost: str = "energy"
) -> RoutingTable:
    """A zoo by name (see :data:`ZOOS`: ``llama3``, ``qwen2``, ``llama3+qwen2``) or by path.

    Names are looked up under ``data_dir`` (default ``$MESSJAX_DATA_DIR``); ``a+b`` of known
    names is the inner :func:`join_zoos` of the two. A path to a folder or CSV is read by its
    columns: MESS+ (``label_*``) or RouterBench (``<model>|total_cost``; ``cost`` must stay
    ``"energy"``, the default, as the costs are dollars). RouteLLM CSVs need prices: use
    :func:`load_routellm`.
    """
    if cost not in COST_KINDS:
        raise ConfigError("cost", f"unknown cost {cost!r}; choose one of {', '.join(COST_KINDS)}")
    key = str(name_or_path)
    if key in ZOOS or (
        isinstance(name_or_path, str) and "+" in key and all(p in ZOOS for p in key.split("+"))
    ):
        return _load_named(key, data_dir, cost)
    path = Path(name_or_path)
    if path.exists():
        fmt = detect_format(path)
        if fmt == "messplus":
            return load_messplus(path, cost=cost)
        if fmt == "routerbench":
            if cost != "energy":
                raise ConfigError("cost", f"RouterBench logs have dollar costs only, got {cost!r}")
            return load_routerbench(path)
        raise DataError(
            "looks like a RouteLLM CSV (prompt plus True/False model columns): it "
            "has no costs, so load it with messjax.data.load_routellm(path, "
            "prices={model: dollars, ...})",
            source=str(path),
        )
    if os.sep in key or "/" in key or key.endswith(".csv"):
        raise DataError("no such file or folder", source=key)
    raise DataError(
        f"unknown zoo {key!r}{_did_you_mean(key, list(ZOOS))}; known zoos: "
        f"{', '.join(ZOOS)} (or give a path to a log folder or CSV file)",
        source=None,
    )


def _load_named(name: str, data_dir: str | os.PathLike | None, cost: str) -> RoutingTable:
    spec = ZOOS.get(name) or ZooSpec(name, join=tuple(name.split("+")))
    if spec.folder is not None:
        folder = _data_root(name, data_dir) / spec.folder
        if not folder.is_dir():
            raise DataError(
                f"zoo {name!r}: the data folder has no {spec.folder}/", source=str(folder.parent)
            )
        return load_messplus(folder, cost=cost, name=name)
    tables = [_load_named(part, data_dir, cost) for part in spec.join]
    joined = tables[0]
    for t in tables[1:]:
        joined = join_zoos(joined, t)
    return joined.replace(name=name)


# ---------------------------------------------------------------------------------- describe
def _fmt_cost(x: float) -> str:
    """Mean costs: whole numbers from 100 up, else 3 significant digits (62.5, 0.281, 0.00121)."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def describe(table: RoutingTable) -> str:
    """A text summary: per task the request count and per model accuracy (%) and mean cost,
    then the totals over the zoo. Models appear cheapest first."""
    unit = table.cost_unit
    w = max(14, *(len(m) for m in table.models))
    tw = max(8, *(len(t) for t in table.task_names), len("total"))
    head1 = f"{'':<{tw}} {'':>8}" + "".join(f" | {m:^{w}}" for m in table.models)
    sub = f"{'acc %':>6} {'cost ' + unit:>{w - 7}}"
    head2 = f"{'task':<{tw}} {'requests':>8}" + "".join(f" | {sub:>{w}}" for _ in table.models)

    def line(label: str, t: RoutingTable) -> str:
        cells = "".join(
            f" | {100 * acc:>6.1f} {_fmt_cost(c):>{w - 7}}"
            for acc, c in zip(t.accuracy(), t.mean_cost(), strict=True)
        )
        return f"{label:<{tw}} {len(t):>8}" + cells

    n_tasks = len(table.task_names)
    out = [
        f"zoo {table.name}: {len(table)} requests, {n_tasks} task{'s' * (n_tasks != 1)}, "
        f"{table.num_models} models (cheapest first), cost unit {unit}",
        f"source {table.source}",
        head1,
        head2,
        "-" * len(head2),
    ]
    for task in table.task_names:
        out.append(line(task, table.take(np.flatnonzero(table.tasks == task))))
    out.append("-" * len(head2))
    out.append(line("total", table))
    return "\n".join(s.rstrip() for s in out)
