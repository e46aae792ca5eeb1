"""Strict CSV reading: one file (or a folder's ``*.csv``) parsed with file lines kept for
error messages; byte-order marks, CRLF, long fields and pandas index columns accepted;
pickles refused, bytes that are not UTF-8 reported at their line."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from messjax.errors import DataError, did_you_mean

_TRUE = frozenset({"true", "1"})
#: a number as CSV files write it: decimal or scientific, or nan/inf (reported by the checks)
_SPACE = r"[ \t\r\n\f\v]*"
_NUMBER = re.compile(
    _SPACE
    + r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)"
    + _SPACE,
    re.IGNORECASE,
)
_FALSE = frozenset({"false", "0"})


@dataclasses.dataclass
class CsvTable:
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
                f"missing {what} {name!r}{did_you_mean(name, self.header)}; "
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
            out = np.array(values, dtype=np.float64)
        except ValueError:
            out = None
        if out is not None:
            joined = "".join(values)
            if joined.isascii() and "_" not in joined:  # numpy read plain CSV numbers only
                return out
        # Python's float() also takes "1_000" and non-ASCII digits: a CSV number is plain
        for i, v in enumerate(values):
            if not v.strip():
                raise self.error("empty cell (expected a number)", column=name, i=i)
            if not _NUMBER.fullmatch(v):
                raise self.error(f"not a number: {v!r}", column=name, i=i)
        if out is None:  # pragma: no cover - every cell is plain, so numpy reads them
            raise self.error("not a column of numbers", column=name)
        return out

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


def read_csv_file(path: str | os.PathLike) -> CsvTable:
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
    return CsvTable(path, header, rows, lines_arr, np.arange(len(rows), dtype=np.int64))


def read_header(path: str) -> list[str]:
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


def csv_files(path: str | os.PathLike) -> list[str]:
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
