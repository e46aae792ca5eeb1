"""Readers for routing logs: MESS+ logs, RouterBench and RouteLLM CSVs, and joined zoos.

Every loader returns a :class:`~messjax.data.table.RoutingTable` and validates the whole input
first: a bad cell raises :class:`~messjax.errors.DataError` naming the file, the column and the
line of the first offending cell, where *line N* is the 1-based line number in the file as an
editor shows it (the header is line 1). Nothing is silently dropped: a row is either loaded or
the load fails (blank lines carry no data and are skipped); the deliberate exceptions warn:
``missing="drop"`` drops requests with an empty score or cost cell
(:class:`IncompleteRowsWarning`, counted per model and per task; without it the first such cell
is an error that names the option), and :func:`join_zoos` keeps only the requests present in
both zoos (:class:`ZooJoinWarning`).

Real exports are taken as they come: a UTF-8 byte-order mark, CRLF line ends, very long
fields, leading pandas index columns (unnamed, or ``Unnamed: 0``) and extra columns
(``oracle_model_to_route_to``, ``<model>|model_response``, ``<model>_response``). A byte that
is not UTF-8 is reported at its own line. Pickles are never unpickled.

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
import codecs
import csv
import dataclasses
import difflib
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from messjax.data.table import RoutingTable, sort_models, validate_arrays
from messjax.errors import ConfigError, DataError

__all__ = [
    "COST_KINDS",
    "MISSING",
    "ZOOS",
    "IncompleteRowsWarning",
    "ZooJoinWarning",
    "ZooSpec",
    "describe",
    "detect_format",
    "join_zoos",
    "load_messplus",
    "load_routellm",
    "load_routerbench",
    "load_zoo",
    "parse_price",
    "read_prices",
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
    positions: np.ndarray  # [R] int64, 0-based position among the file's data rows (before drops)

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


#: Pickle files are never unpickled: loading one runs whatever code it holds.
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pk")


def _pickle_error(path: str) -> DataError:
    csv_path = str(Path(path).with_suffix(".csv"))
    return DataError(
        "a pandas pickle: not unpickled (unpickling can run arbitrary code); convert it "
        'to CSV once with pandas.read_pickle(...).to_csv(...), e.g. python -c "import pandas '
        f'as pd; pd.read_pickle({path!r}).to_csv({csv_path!r})", and load the CSV',
        source=path,
    )


def _looks_like_pickle(path: str) -> bool:
    """Pickle protocols 2-5 start with the PROTO opcode 0x80 and the protocol number."""
    if Path(path).suffix.lower() in _PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _utf8_error(path: str, chunk_size: int = 1 << 20) -> DataError:
    """The first byte of ``path`` that is not UTF-8, reported at its line.

    The file is scanned in binary chunks with an incremental decoder (memory stays bounded on
    large files); newlines are counted up to the offending byte, so the line is the one an
    editor shows, even when the byte sits far past the header.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    newlines, offset, line_start, pending = 0, 0, 0, b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_size)
            final = not chunk
            data = pending + chunk
            try:
                decoder.decode(chunk, final)
            except UnicodeDecodeError as e:
                # e.start indexes the decoder's buffered bytes + chunk, i.e. ``data``
                bad = e.start
                newlines += data.count(b"\n", 0, bad)
                last_nl = data.rfind(b"\n", 0, bad)
                column = bad - last_nl if last_nl >= 0 else offset - line_start + bad + 1
                byte = data[bad : bad + 1].hex()
                return DataError(
                    f"not UTF-8 text: byte 0x{byte} at byte {column} of the line "
                    f"(byte {offset + bad} of the file); save the file as UTF-8 (e.g. iconv "
                    "-f latin1 -t utf-8 FILE)",
                    source=path,
                    line=newlines + 1,
                )
            if final:
                break
            # bytes the decoder holds back (an unfinished multi-byte character) stay pending
            keep = decoder.getstate()[0]
            done = data[: len(data) - len(keep)]
            newlines += done.count(b"\n")
            nl = done.rfind(b"\n")
            if nl >= 0:
                line_start = offset + nl + 1
            offset += len(done)
            pending = keep
    return DataError("not UTF-8 text", source=path)  # pragma: no cover - decoded fine twice


_UNNAMED = re.compile(r"Unnamed: \d+")


def _index_columns(header: Sequence[str]) -> int:
    """How many leading columns are a pandas row index: unnamed (``to_csv`` writes the index
    with an empty name) or ``Unnamed: N`` (a frame read back and written again), followed by
    at least one named column."""
    n = 0
    while n < len(header) and (not header[n] or _UNNAMED.fullmatch(header[n])):
        n += 1
    return n if n < len(header) else 0


def _read_csv(path: str | os.PathLike) -> _Csv:
    """Parse a CSV file strictly: a header, then rows with exactly as many fields.

    A UTF-8 byte-order mark and CRLF line ends are accepted; leading pandas index columns
    (see :func:`_index_columns`) are dropped after the field count is checked.
    """
    path = str(path)
    if Path(path).is_file() and _looks_like_pickle(path):
        raise _pickle_error(path)
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
    except UnicodeDecodeError:
        raise _utf8_error(path) from None
    except FileNotFoundError:
        raise DataError("no such file", source=path) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected a CSV file", source=path) from None
    finally:
        csv.field_size_limit(old_limit)
    if not header or all(not h for h in header):
        raise DataError("the header line is empty", source=path, line=1)
    skip = _index_columns(header)
    if skip:
        header = header[skip:]
        rows = [r[skip:] for r in rows]
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if not h:
            raise DataError(f"column {j + 1 + skip} of the header has no name", source=path, line=1)
        if h in seen:
            raise DataError(
                f"duplicate column name (columns {seen[h] + 1 + skip} and {j + 1 + skip})",
                source=path,
                column=h,
                line=1,
            )
        seen[h] = j
    if not rows:
        raise DataError("no data rows (the table is empty)", source=path)
    lines_arr = np.asarray(lines, dtype=np.int64)
    return _Csv(path, header, rows, lines_arr, np.arange(len(rows), dtype=np.int64))


def _read_header(path: str) -> list[str]:
    if _looks_like_pickle(path):
        raise _pickle_error(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        # the text layer decodes ahead of the header: find the byte's own line
        raise _utf8_error(path) from None
    except csv.Error as e:
        raise DataError(f"cannot read the header: {e}", source=path, line=1) from None
    if not header:
        raise DataError("the file is empty (no header line)", source=path)
    header = [h.strip() for h in header]
    return header[_index_columns(header) :]


def _csv_files(path: str | os.PathLike) -> list[str]:
    """``path`` itself if it is a file, else the ``*.csv`` files of the folder, sorted by name."""
    p = Path(path)
    if p.is_dir():
        files = sorted(str(f) for f in p.glob("*.csv") if f.is_file())
        if not files:
            pickles = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in _PICKLE_SUFFIXES)
            if pickles:
                raise _pickle_error(pickles[0])
            raise DataError("no *.csv files in this folder", source=str(p))
        return files
    if p.is_file():
        return [str(p)]
    raise DataError("no such file or folder", source=str(p))


# ---------------------------------------------------------------------------------- missing cells
#: ``missing=`` choices: refuse incomplete rows (naming the first), or drop them with a warning.
MISSING = ("error", "drop")
_DROP_HINT = (
    "to drop the rows with empty score or cost cells (with a warning counting them) pass "
    "missing='drop' (command line: --drop-incomplete; config: data.missing: drop)"
)


class IncompleteRowsWarning(UserWarning):
    """``missing="drop"`` dropped requests with an empty score or cost cell; the message counts
    them per model and per task and names the file lines. Attributes: ``rows`` (count),
    ``per_model`` and ``per_task`` (dicts of counts)."""

    def __init__(self, message: str, rows: int, per_model: dict, per_task: dict):
        super().__init__(message)
        self.rows, self.per_model, self.per_task = rows, per_model, per_task


@dataclasses.dataclass
class _Dropped:
    """Incomplete rows dropped from one file (``missing="drop"``)."""

    path: str
    read: int  # data rows in the file
    lines: list[int]  # file line of each dropped row
    per_model: dict[str, int]  # rows in which the model's score or cost is empty
    per_task: dict[str, int]


def _check_missing(missing: str) -> str:
    if missing not in MISSING:
        raise ConfigError("missing", f"must be one of {', '.join(MISSING)}, got {missing!r}")
    return missing


def _is_missing(value: str) -> bool:
    """An empty cell, or NaN (pandas writes NaN as an empty cell; some exports write 'nan')."""
    s = value.strip()
    return not s or s.lower() == "nan"


def _incomplete_rows(
    c: _Csv,
    model_columns: Mapping[str, Sequence[str]],
    tasks: Sequence[str],
    missing: str,
) -> tuple[_Csv, _Dropped | None]:
    """Rows with a missing cell in any model's score or cost columns: an error naming the first
    (file, column, line) and the drop option, or (``missing="drop"``) removed from ``c``."""
    cols = [(m, col, c.index(col)) for m, names in model_columns.items() for col in names]
    R = len(c.rows)
    empty = np.zeros((R, len(cols)), dtype=bool)
    for k, (_, _, j) in enumerate(cols):
        empty[:, k] = [_is_missing(r[j]) for r in c.rows]
    bad = empty.any(axis=1)
    n_bad = int(bad.sum())
    if not n_bad:
        return c, None
    if missing == "error":
        i = int(np.argmax(bad))
        k = min(np.flatnonzero(empty[i]), key=lambda k: cols[k][2])  # leftmost in the file
        model, column, j = cols[k]
        value = c.rows[i][j].strip()
        what = "empty cell" if not value else f"missing value {value!r}"
        raise c.error(
            f"{what}: no score or cost of model {model!r} for this request ({n_bad} of {R} "
            f"rows have such cells); {_DROP_HINT}",
            column=column,
            i=i,
        )
    per_model = {}
    for m in model_columns:
        ks = [k for k, (mm, _, _) in enumerate(cols) if mm == m]
        n = int(empty[:, ks].any(axis=1).sum())
        if n:
            per_model[m] = n
    per_task: dict[str, int] = {}
    for i in np.flatnonzero(bad):
        per_task[tasks[i]] = per_task.get(tasks[i], 0) + 1
    dropped = _Dropped(c.path, R, c.lines[bad].tolist(), per_model, per_task)
    if n_bad == R:
        raise DataError(
            f"no usable rows: all {R} rows have an empty score or cost cell and were dropped "
            f"(missing='drop'; per model: {_counts(per_model)})",
            source=c.path,
        )
    keep = np.flatnonzero(~bad)
    kept = _Csv(c.path, c.header, [c.rows[i] for i in keep], c.lines[keep], c.positions[keep])
    return kept, dropped


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _warn_incomplete(parts: Sequence[_Part]) -> dict[str, int]:
    """One :class:`IncompleteRowsWarning` for everything the parts dropped; per-task counts."""
    drops = [p.dropped for p in parts if p.dropped is not None]
    if not drops:
        return {}
    per_model: dict[str, int] = {}
    per_task: dict[str, int] = {}
    for d in drops:
        for k, v in d.per_model.items():
            per_model[k] = per_model.get(k, 0) + v
        for k, v in d.per_task.items():
            per_task[k] = per_task.get(k, 0) + v
    n = sum(len(d.lines) for d in drops)
    read = sum(p.dropped.read if p.dropped else len(p.texts) for p in parts)
    where = "; ".join(
        f"{d.path} line{'s' * (len(d.lines) > 1)} "
        + ", ".join(str(x) for x in d.lines[:8])
        + (f" and {len(d.lines) - 8} more" if len(d.lines) > 8 else "")
        for d in drops
    )
    warnings.warn(
        IncompleteRowsWarning(
            f"dropped {n} of {read} requests with an empty score or cost cell "
            f"(missing='drop'): per model {_counts(per_model)}; per task {_counts(per_task)}; "
            f"at {where}",
            n,
            per_model,
            per_task,
        ),
        stacklevel=3,
    )
    return per_task


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
    dropped: _Dropped | None = None


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
    dropped = _warn_incomplete(parts)
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
        dropped=dropped,
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


def _read_messplus(path: str, cost: str, missing: str = "error") -> _Part:
    c = _read_csv(path)
    models = _messplus_models(c)
    model_columns = {
        m: [
            f"label_{m}",
            *(a for a in (f"acc_{m}", f"acc_norm_{m}") if a in c.header),
            f"energy_consumption_{m}",
            f"inference_time_{m}",
        ]
        for m in models
    }
    c, dropped = _incomplete_rows(c, model_columns, c.column("benchmark_name"), missing)
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
        dropped,
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
    path: str | os.PathLike,
    cost: str = "energy",
    *,
    name: str | None = None,
    missing: str = "error",
) -> RoutingTable:
    """Load MESS+ inference logs: a folder of per-task CSVs (read in sorted file order) or one CSV.

    Args:
      path: a log folder (every ``*.csv`` in it) or a single CSV file.
      cost: ``"energy"`` (``energy_consumption_<m>``, unit ``"J"``) or ``"time"``
        (``inference_time_<m>``, unit ``"s"``). Both columns are validated either way.
      name: the zoo name; default the folder/file name without a ``messplus-`` prefix.
      missing: ``"error"`` (default): an empty (or NaN) label, acc, energy or time cell is an
        error naming file, column and line; ``"drop"``: such rows are dropped with an
        :class:`IncompleteRowsWarning` counting them per model and per task.

    Returns:
      A table with models sorted cheapest first by mean cost, ``ids`` = ``doc_id``,
      ``tasks`` = ``benchmark_name``, ``source`` = ``path``.
    """
    if cost not in COST_KINDS:
        raise ConfigError("cost", f"unknown cost {cost!r}; choose one of {', '.join(COST_KINDS)}")
    _check_missing(missing)
    parts = [_read_messplus(f, cost, missing) for f in _csv_files(path)]
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


def _read_routerbench(path: str, models: Sequence[str] | None, missing: str = "error") -> _Part:
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
    model_columns = {m: [m, f"{m}|total_cost"] for m in models}
    c, dropped = _incomplete_rows(c, model_columns, c.column("eval_name"), missing)
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
        dropped,
    )
    _check_values(part, list(models), [f"{m}|total_cost" for m in models])
    return part


def load_routerbench(
    path: str | os.PathLike,
    models: Sequence[str] | None = None,
    *,
    name: str | None = None,
    missing: str = "error",
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
      missing: ``"error"`` (default) or ``"drop"``: requests with an empty (or NaN) score or
        cost cell of a kept model (public exports have a few that some model never answered)
        are an error naming the file, column and line, or are dropped with an
        :class:`IncompleteRowsWarning` counting them per model and per task.

    A leading unnamed column (the row index pandas' ``to_csv`` writes), a UTF-8 BOM and CRLF
    line ends are accepted; pickles (RouterBench is published as ``.pkl``) are refused with
    the command that converts them.
    """
    _check_missing(missing)
    parts = [_read_routerbench(f, models, missing) for f in _csv_files(path)]
    return _assemble(parts, cost_unit="$", name=name or _default_name(path), source=str(path))


# ---------------------------------------------------------------------------------- RouteLLM
_ROUTELLM_TASK = ("task", "eval_name")
_ROUTELLM_ID = ("id", "sample_id")
_ROUTELLM_RESPONSE = "_response"


def _read_routellm(path: str, prices: Mapping[str, float], missing: str = "error") -> _Part:
    c = _read_csv(path)
    c.index("prompt")
    task_col = next((h for h in _ROUTELLM_TASK if h in c.header), None)
    id_col = next((h for h in _ROUTELLM_ID if h in c.header), None)
    candidates = [h for h in c.header if h not in ("prompt", *_ROUTELLM_TASK, *_ROUTELLM_ID)]
    # '<model>_response' holds a model's answer text (RouteLLM's GSM8K file), not a model
    models = [
        h
        for h in candidates
        if not (h.endswith(_ROUTELLM_RESPONSE) and h[: -len(_ROUTELLM_RESPONSE)] in candidates)
    ]
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
    task_of = c.column(task_col) if task_col else [Path(path).stem] * len(c.rows)
    c, dropped = _incomplete_rows(c, {m: [m] for m in models}, task_of, missing)
    labels = np.stack([c.bools(m) for m in models], axis=1)
    costs = np.broadcast_to(
        np.array([prices[m] for m in models], dtype=np.float64), labels.shape
    ).copy()
    tasks = c.strings(task_col) if task_col else [Path(path).stem] * len(c.rows)
    ids = [s.strip() for s in c.strings(id_col)] if id_col else [str(i) for i in c.positions]
    return _Part(
        c,
        c.strings("prompt", allow_empty=True),
        labels,
        costs,
        models,
        tasks,
        ids,
        id_col or "<row index>",
        dropped,
    )


def load_routellm(
    path: str | os.PathLike,
    prices: Mapping[str, float],
    *,
    name: str | None = None,
    missing: str = "error",
) -> RoutingTable:
    """Load a RouteLLM evaluation CSV (or a folder of them) with per-request model prices.

    Columns: ``prompt`` plus one True/False column per model id (``True``/``False``/``true``/
    ``false``/``1``/``0``); optional ``task`` or ``eval_name`` (default: the file stem) and
    ``id`` or ``sample_id`` (default: the 0-based data row index). ``<model>_response`` columns
    (answer texts, as in RouteLLM's GSM8K file) are not models; every other column is a model
    column. ``costs[t, m] = prices[m]`` (``cost_unit="$"``). A folder is one CSV per subject
    (RouteLLM's ``mmlu/responses/mmlu_<subject>.csv``): the task is the file stem.
    ``missing``: as in :func:`load_routerbench` (empty True/False cells).

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
    _check_missing(missing)
    parts = [_read_routellm(f, prices, missing) for f in _csv_files(path)]
    return _assemble(parts, cost_unit="$", name=name or _default_name(path), source=str(path))


def parse_price(text: str) -> tuple[str, float]:
    """``"MODEL=DOLLARS"`` (the command line's ``--price``) as ``(model, dollars)``; model ids
    may contain ``/`` and ``=`` (split at the last ``=``)."""
    model, sep, value = str(text).rpartition("=")
    if not sep or not model.strip():
        raise ConfigError(
            "price", f"expected MODEL=DOLLARS (e.g. gpt-4-1106-preview=0.01), got {text!r}"
        )
    try:
        dollars = float(value)
    except ValueError:
        raise ConfigError(f"price {model.strip()}", f"not a number: {value!r}") from None
    if not np.isfinite(dollars) or dollars < 0:
        raise ConfigError(f"price {model.strip()}", f"must be a finite number >= 0, got {value!r}")
    return model.strip(), dollars


def read_prices(path: str | os.PathLike) -> dict[str, float]:
    """A price table ``{model id: dollars per request}`` from a JSON or YAML file (a mapping)."""
    import json

    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("no such price file", source=str(p)) from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the price file: {e}", source=str(p)) from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise DataError(
            f"not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {e}", source=str(p)
        ) from None
    if not isinstance(data, dict) or not data:
        raise DataError(
            "expected a mapping of model id to dollars per request, e.g. "
            '{"gpt-4-1106-preview": 0.01, "mixtral-8x7b-instruct-v0.1": 0.0006}',
            source=str(p),
        )
    return dict(parse_price(f"{k}={v}") for k, v in data.items())


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
        dropped={t: a.dropped.get(t, 0) + b.dropped.get(t, 0) for t in {**a.dropped, **b.dropped}},
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
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    cost: str = "energy",
    *,
    missing: str = "error",
    prices: Mapping[str, float] | None = None,
) -> RoutingTable:
    """A zoo by name (see :data:`ZOOS`: ``llama3``, ``qwen2``, ``llama3+qwen2``) or by path.

    Names are looked up under ``data_dir`` (default ``$MESSJAX_DATA_DIR``); ``a+b`` of known
    names is the inner :func:`join_zoos` of the two. A path to a folder or CSV is read by its
    columns: MESS+ (``label_*``), RouterBench (``<model>|total_cost``; ``cost`` must stay
    ``"energy"``, the default, as the costs are dollars) or RouteLLM (``prompt`` plus
    True/False model columns; needs ``prices``, dollars per request per model).
    ``missing``: ``"error"`` or ``"drop"`` rows with empty score or cost cells (see
    :func:`load_routerbench`).
    """
    if cost not in COST_KINDS:
        raise ConfigError("cost", f"unknown cost {cost!r}; choose one of {', '.join(COST_KINDS)}")
    _check_missing(missing)
    key = str(name_or_path)
    if key in ZOOS or (
        isinstance(name_or_path, str) and "+" in key and all(p in ZOOS for p in key.split("+"))
    ):
        if prices:
            raise ConfigError(
                "prices", f"zoo {key!r} has costs of its own; prices are for RouteLLM files"
            )
        return _load_named(key, data_dir, cost, missing)
    path = Path(name_or_path)
    if path.exists():
        fmt = detect_format(path)
        if fmt != "routellm" and prices:
            raise ConfigError(
                "prices",
                f"{path} is a {'MESS+' if fmt == 'messplus' else 'RouterBench'} log with cost "
                "columns; prices (--price/--prices) are only for RouteLLM files, which have none",
            )
        if fmt == "messplus":
            return load_messplus(path, cost=cost, missing=missing)
        if fmt == "routerbench":
            if cost != "energy":
                raise ConfigError("cost", f"RouterBench logs have dollar costs only, got {cost!r}")
            return load_routerbench(path, missing=missing)
        if not prices:
            raise DataError(
                "looks like a RouteLLM CSV (prompt plus True/False model columns): it has no "
                "costs, so give a price per model: --price MODEL=DOLLARS "
                "(repeatable) or --prices FILE (JSON/YAML) with messjax evaluate, run or data "
                "describe; in Python "
                "messjax.data.load_routellm(path, prices={model: dollars, ...})",
                source=str(path),
            )
        return load_routellm(path, prices, missing=missing)
    if os.sep in key or "/" in key or key.endswith(".csv"):
        raise DataError("no such file or folder", source=key)
    raise DataError(
        f"unknown zoo {key!r}{_did_you_mean(key, list(ZOOS))}; known zoos: "
        f"{', '.join(ZOOS)} (or give a path to a log folder or CSV file)",
        source=None,
    )


def _load_named(
    name: str, data_dir: str | os.PathLike | None, cost: str, missing: str = "error"
) -> RoutingTable:
    spec = ZOOS.get(name) or ZooSpec(name, join=tuple(name.split("+")))
    if spec.folder is not None:
        folder = _data_root(name, data_dir) / spec.folder
        if not folder.is_dir():
            raise DataError(
                f"zoo {name!r}: the data folder has no {spec.folder}/", source=str(folder.parent)
            )
        return load_messplus(folder, cost=cost, name=name, missing=missing)
    tables = [_load_named(part, data_dir, cost, missing) for part in spec.join]
    joined = tables[0]
    for t in tables[1:]:
        joined = join_zoos(joined, t)
    return joined.replace(name=name)


# ---------------------------------------------------------------------------------- describe
def _fmt_cost(x: float) -> str:
    """Mean costs: whole numbers from 100 up, else 3 significant digits (62.5, 0.281, 0.00121)."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def describe(table: RoutingTable, width: int = 110) -> str:
    """A text summary: per task the request count and per model accuracy (%) and mean cost,
    then the totals over the zoo; models cheapest first; the requests dropped on load
    (``missing="drop"``) counted per task.

    Zoos whose table would be wider than ``width`` characters (many models, long ids) are
    printed transposed: a models table (number, id, accuracy, mean cost), then per task the
    accuracy and the mean cost of each model under its number.
    """
    unit = table.cost_unit
    n_tasks = len(table.task_names)
    out = [
        f"zoo {table.name}: {len(table)} requests, {n_tasks} task{'s' * (n_tasks != 1)}, "
        f"{table.num_models} models (cheapest first), cost unit {unit}",
        f"source {table.source}",
    ]
    if table.dropped_rows:
        out.append(
            f"dropped on load: {table.dropped_rows} requests with an empty score or cost cell "
            f"(per task: {_counts(table.dropped)})"
        )
    w = max(14, *(len(m) for m in table.models))
    tw = max(8, *(len(t) for t in table.task_names), len("total"))
    if tw + 9 + table.num_models * (w + 3) <= width:
        out += _describe_wide(table, w, tw)
    else:
        out += _describe_long(table, tw)
    return "\n".join(s.rstrip() for s in out)


def _task_tables(table: RoutingTable) -> list[tuple[str, RoutingTable]]:
    rows = [(t, table.take(np.flatnonzero(table.tasks == t))) for t in table.task_names]
    return [*rows, ("total", table)]


def _describe_wide(table: RoutingTable, w: int, tw: int) -> list[str]:
    """One column pair (accuracy, mean cost) per model, models named in full."""
    unit = table.cost_unit
    drop = bool(table.dropped)
    dh = f" {'dropped':>7}" if drop else ""
    head1 = f"{'':<{tw}} {'':>8}" + " " * len(dh) + "".join(f" | {m:^{w}}" for m in table.models)
    sub = f"{'acc %':>6} {'cost ' + unit:>{w - 7}}"
    head2 = f"{'task':<{tw}} {'requests':>8}{dh}" + "".join(f" | {sub:>{w}}" for _ in table.models)

    def line(label: str, t: RoutingTable) -> str:
        cells = "".join(
            f" | {100 * acc:>6.1f} {_fmt_cost(c):>{w - 7}}"
            for acc, c in zip(t.accuracy(), t.mean_cost(), strict=True)
        )
        n_drop = table.dropped_rows if label == "total" else table.dropped.get(label, 0)
        d = f" {n_drop:>7}" if drop else ""
        return f"{label:<{tw}} {len(t):>8}{d}" + cells

    rows = _task_tables(table)
    out = [head1, head2, "-" * len(head2)]
    out += [line(label, t) for label, t in rows[:-1]]
    return [*out, "-" * len(head2), line(*rows[-1])]


def _describe_long(table: RoutingTable, tw: int) -> list[str]:
    """Transposed for big zoos: a models table, then per task one number per model."""
    unit = table.cost_unit
    M = table.num_models
    mw = max(len("model"), *(len(m) for m in table.models))
    out = [
        "",
        f"{'#':>3}  {'model':<{mw}}  {'acc %':>6}  {'mean cost ' + unit:>12}",
    ]
    for k, (m, acc, c) in enumerate(
        zip(table.models, table.accuracy(), table.mean_cost(), strict=True)
    ):
        out.append(f"{k + 1:>3}  {m:<{mw}}  {100 * acc:>6.1f}  {_fmt_cost(c):>12}")
    rows = _task_tables(table)
    drop = bool(table.dropped)
    top = float(np.max(table.mean_cost()))
    # per-task costs on one scale (e.g. 1e-05 $), so that every cell is short
    e = int(np.floor(np.log10(top))) - 2 if top > 0 and not 1 <= top < 1e5 else 0
    cost_label = f"mean cost ({unit}) per model" if e == 0 else f"mean cost (1e{e} {unit})"
    for title, cell in (
        (
            "accuracy % per model (numbers as above)",
            lambda t: [f"{100 * a:.1f}" for a in t.accuracy()],
        ),
        (cost_label, lambda t: [_fmt_cost(c / 10.0**e) for c in t.mean_cost()]),
    ):
        cw = max(len(str(M)), *(len(v) for _, t in rows for v in cell(t)))
        dh = f" {'dropped':>7}" if drop else ""
        head = f"{'task':<{tw}} {'requests':>8}{dh} |" + "".join(
            f" {k + 1:>{cw}}" for k in range(M)
        )
        out += ["", title, head, "-" * len(head)]
        for label, t in rows:
            if label == "total":
                out.append("-" * len(head))
            n_drop = table.dropped_rows if label == "total" else table.dropped.get(label, 0)
            d = f" {n_drop:>7}" if drop else ""
            out.append(f"{label:<{tw}} {len(t):>8}{d} |" + "".join(f" {v:>{cw}}" for v in cell(t)))
    return out
