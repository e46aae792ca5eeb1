"""Atomic file writing and output folders that messjax claims before writing into them.

Atomic writes. Every file messjax writes goes through :func:`atomic_path`: the content is
written to a hidden temporary sibling (``.<name>.<random>.messjax-tmp``), flushed to disk and
renamed over the target with :func:`os.replace`. A kill at any moment therefore leaves either
the old complete file or the new complete one, never a truncated file; at worst a hidden
temporary file stays behind, which the next claim of the folder removes.

Output folders. :func:`claim_output_dir` takes an output folder for one command (``sweep``,
``reproduce``) before anything is written. A marker file ``.messjax.json`` in the folder
lists every file and tree messjax wrote there; a folder is accepted when it is new, empty, or
carries a marker of the same command and holds nothing the marker does not list. Anything else
is refused with an :class:`~messjax.errors.OutputFolderError` naming the foreign files
(``force=True`` writes anyway, still never deleting a file messjax did not write, and refusing
to adopt a sub-folder it manages, such as ``checkpoints/``, that is already there).
``restart=True`` deletes exactly what the marker lists (outputs, figures of tasks no longer in
the config, checkpoints) and nothing else; a managed sub-folder is renamed away before it is
deleted, so a kill mid-way leaves no half-deleted checkpoints under their own name. Entries are
recorded in the marker *before* the file is written, so a kill between the two never makes
messjax's own file look foreign. Names from the data (task names) become file names through
:func:`safe_filename`, and :meth:`OutputDir.file` refuses any path outside the folder.

Testing hook: with ``MESSJAX_FAULT_SLEEP=<seconds>`` in the environment, every atomic write
prints ``messjax-fault: temp written for <path>`` to stderr once the temporary file is
complete and sleeps that long before the rename, so a test can kill the writer at exactly that
point (``MESSJAX_FAULT_AT=<n>``: sleep at the n-th write of the process only).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from messjax.errors import OutputFolderError

TMP_SUFFIX = ".messjax-tmp"
TRASH_SUFFIX = ".messjax-trash"
MARKER = ".messjax.json"
MARKER_FORMAT = 1
FAULT_ENV = "MESSJAX_FAULT_SLEEP"
FAULT_AT_ENV = "MESSJAX_FAULT_AT"
_writes = [0]


# ---------------------------------------------------------------------------- atomic files
def temp_sibling(path: str | os.PathLike, tag: str = TMP_SUFFIX) -> Path:
    """A fresh hidden name next to ``path`` (same folder, so a rename is atomic)."""
    path = Path(path)
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}{tag}"


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def remove_temp_files(folder: str | os.PathLike, older_than_s: float = 0.0) -> int:
    """Remove the hidden temporary files (:func:`is_temp_name`) that writes killed before
    their rename left in ``folder`` (not its sub-folders), those untouched for more than
    ``older_than_s`` seconds (a positive age spares a concurrent writer's file). Returns how
    many were removed."""
    now, gone = time.time(), 0
    for p in Path(folder).glob(f".*{TMP_SUFFIX}"):
        try:
            if p.is_file() and now - p.stat().st_mtime > older_than_s:
                p.unlink()
                gone += 1
        except OSError:  # removed meanwhile by another process
            pass
    return gone


def is_trash_name(name: str) -> bool:
    """A folder :meth:`OutputDir.clear` renamed away before deleting it."""
    return name.startswith(".") and name.endswith(TRASH_SUFFIX)


def safe_filename(name: str) -> str:
    """A file or folder name for a label from the data (a task name): one path component.

    A name made only of ``[A-Za-z0-9_.+-]`` that does not start with a dot is kept as it is;
    any other gets its other characters replaced by ``_`` and ``~`` plus 8 hex digits of its
    sha256 appended, so two names that differ only in punctuation (``a b``, ``a_b``) never
    share a file, and no name (``..``, ``../x``) can point outside its folder."""
    clean = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    if clean == name and name and not name.startswith("."):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean.lstrip('.') or '_'}~{digest}"


def _fault_hook(path: Path) -> None:
    delay = os.environ.get(FAULT_ENV)
    if delay:
        _writes[0] += 1
        print(f"messjax-fault: temp written for {path}", file=sys.stderr, flush=True)
        at = os.environ.get(FAULT_AT_ENV)
        if not at or int(at) == _writes[0]:
            time.sleep(float(delay))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write the content of ``path`` to; on success it is synced
    and renamed onto ``path``; on any exception (or interrupt) it is removed."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _fault_hook(path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary sibling + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (``\\n`` line ends on every platform)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_savez(path: str | os.PathLike, compressed: bool = True, **arrays: Any) -> Path:
    """``numpy.savez[_compressed]`` to ``path`` atomically."""
    import numpy as np

    path = Path(path)
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        save(f, **arrays)
    return path


def atomic_savefig(fig, path: str | os.PathLike, **kwargs: Any) -> Path:
    """``fig.savefig(path)`` atomically (the format comes from ``path``'s suffix)."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return path


# --------------------------------------------------------------------- atomic folder swap
_RENAME_EXCHANGE = 2


def _renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange_paths(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system cannot (then nothing was changed)."""
    fn = _renameat2() if sys.platform.startswith("linux") else None
    if fn is None:
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot swap
            return False
        raise OSError(err, os.strerror(err), str(b))
    return True


def replace_dir(new: str | os.PathLike, target: str | os.PathLike, old_tag: str) -> None:
    """Put the complete folder ``new`` at ``target``, replacing the folder there (if any).

    The swap is atomic where the file system supports it; elsewhere the old folder is first
    renamed to a hidden sibling ending in ``old_tag`` (so a kill between the two renames
    leaves it recoverable there), then ``new`` is renamed into place; the old copy is deleted
    last."""
    new, target = Path(new), Path(target)
    if not target.exists():
        os.rename(new, target)
        _fsync_dir(target.parent)
        return
    if exchange_paths(new, target):
        _fsync_dir(target.parent)
        shutil.rmtree(new)  # now holds the old folder
        return
    old = temp_sibling(target, old_tag)
    os.rename(target, old)
    os.rename(new, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old)


# --------------------------------------------------------------------------- output folders
def _listing(paths: Iterable[str], limit: int = 6) -> str:
    paths = sorted(paths)
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


class OutputDir:
    """An output folder claimed by :func:`claim_output_dir`.

    ``file(rel)`` records a file (relative path, ``/``-separated) in the marker and returns
    its absolute path; the ``write_*`` / ``savefig`` / ``savez`` helpers record and write
    atomically. ``tree(name)`` records a whole sub-folder that messjax manages (checkpoints,
    wandb runs).
    """

    def __init__(self, path: Path, command: str, files: Iterable[str], trees: Iterable[str]):
        self.path = path
        self.command = command
        self.files: set[str] = set(files)
        self.trees: set[str] = set(trees)

    # ------------------------------------------------------------------ recording
    def _save_marker(self) -> None:
        meta = {
            "format": MARKER_FORMAT,
            "written_by": "messjax",
            "command": self.command,
            "files": sorted(self.files),
            "trees": sorted(self.trees),
        }
        atomic_write_text(self.path / MARKER, json.dumps(meta, indent=1) + "\n")

    def record(self, files: Iterable[str] = (), trees: Iterable[str] = ()) -> None:
        files, trees = set(files) - self.files, set(trees) - self.trees
        if files or trees:
            self.files |= files
            self.trees |= trees
            self._save_marker()

    def _inside(self, rel: str) -> str:
        """``rel`` as a ``/``-path, refused unless it names a path inside the folder."""
        p = Path(rel)
        if p.is_absolute() or not p.parts or any(part in ("..", ".") for part in p.parts):
            raise OutputFolderError(
                f"refusing to write {rel!r}: not a path inside the output folder {self.path}"
            )
        return p.as_posix()

    def file(self, rel: str) -> Path:
        """Record ``rel`` and return its path (its folder created)."""
        rel = self._inside(rel)
        self.record(files=[rel])
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def tree(self, rel: str) -> Path:
        """Record the sub-folder ``rel`` as messjax's (deleted whole by ``--restart``).

        A folder of that name that is already there and not recorded is the user's (only
        ``--force`` gets this far): it is refused, never adopted."""
        rel = self._inside(rel)
        if rel not in self.trees and (self.path / rel).exists():
            raise OutputFolderError(
                f"{self.path / rel} exists and messjax did not make it; refusing to write into "
                "it (with --force, --restart would later delete it whole): move it away or "
                "choose another folder"
            )
        self.record(trees=[rel])
        return self.path / rel

    def write_text(self, rel: str, text: str) -> Path:
        return atomic_write_text(self.file(rel), text)

    def write_bytes(self, rel: str, data: bytes) -> Path:
        return atomic_write_bytes(self.file(rel), data)

    def savefig(self, fig, rel: str, **kwargs: Any) -> Path:
        return atomic_savefig(fig, self.file(rel), **kwargs)

    def savez(self, rel: str, compressed: bool = True, **arrays: Any) -> Path:
        return atomic_savez(self.file(rel), compressed, **arrays)

    def remove(self, rel: str) -> None:
        """Delete a recorded file (if present) and forget it."""
        rel = Path(rel).as_posix()
        if rel not in self.files:
            return
        (self.path / rel).unlink(missing_ok=True)
        self.files.discard(rel)
        self._save_marker()
        _remove_empty_parents(self.path, rel)

    def clear(self) -> list[str]:
        """Delete every recorded file and tree (``--restart``); returns what was deleted.

        Each tree is first renamed to a hidden ``.<name>.<random>.messjax-trash`` sibling
        (atomic), then deleted: a kill mid-way never leaves a half-deleted checkpoint folder
        under its own name for a later run to resume from; the next claim deletes the
        leftover."""
        gone, trash = [], []
        for rel in sorted(self.trees):
            p = self.path / rel
            if p.exists():
                t = temp_sibling(p, TRASH_SUFFIX)
                os.rename(p, t)
                trash.append(t)
                gone.append(rel + "/")
        if trash:
            _fsync_dir(self.path)
        for t in trash:
            shutil.rmtree(t)
        for rel in sorted(self.files):
            p = self.path / rel
            if p.is_file() or p.is_symlink():
                p.unlink()
                gone.append(rel)
        for rel in sorted(self.files):
            _remove_empty_parents(self.path, rel)
        self.files.clear()
        self.trees.clear()
        self._save_marker()
        return gone


def _remove_empty_parents(root: Path, rel: str) -> None:
    parent = (root / rel).parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()  # only when empty
        except OSError:
            return
        parent = parent.parent


def _read_marker(path: Path) -> dict[str, Any] | None:
    marker = path / MARKER
    if not marker.exists():
        return None
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("written_by") != "messjax":
            raise ValueError("not a messjax marker")
        files, trees = meta.get("files"), meta.get("trees")
        if not isinstance(files, list) or not isinstance(trees, list):
            raise ValueError("no file list")
        return meta
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise OutputFolderError(
            f"{marker} is unreadable ({type(e).__name__}: {e}); delete it and rerun with "
            "--force if every file in the folder is yours to overwrite"
        ) from None


def _scan(path: Path, files: set[str], trees: set[str]) -> tuple[list[str], list[Path]]:
    """(foreign entries, leftover temporary files) of a folder, given what messjax wrote.

    Folders that hold recorded files are looked into; recorded trees are not."""
    dirs = {""} | {str(Path(f).parent.as_posix()) for f in files}
    dirs = {"" if d == "." else d for d in dirs}
    own_dirs = set()
    for f in files:  # every ancestor folder of a recorded file is messjax's
        parts = Path(f).parts[:-1]
        for i in range(1, len(parts) + 1):
            own_dirs.add(Path(*parts[:i]).as_posix())
    foreign, temps = [], []
    for d in sorted(dirs):
        folder = path / d if d else path
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            rel = entry.relative_to(path).as_posix()
            if rel == MARKER or rel in files or rel in trees or rel in own_dirs:
                continue
            if (is_temp_name(entry.name) and entry.is_file()) or (
                is_trash_name(entry.name) and entry.is_dir()
            ):
                temps.append(entry)
                continue
            foreign.append(rel + ("/" if entry.is_dir() else ""))
    return foreign, temps


def claim_output_dir(
    path: str | os.PathLike, command: str, *, force: bool = False, restart: bool = False
) -> OutputDir:
    """Take the folder ``path`` for the outputs of ``command`` (see the module docstring).

    Raises :class:`~messjax.errors.OutputFolderError` when ``path`` is a file, or holds files
    messjax did not write (unless ``force``), or was made by another command (unless
    ``force``). Leftover temporary files of interrupted writes are removed."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"output folder {path} is a file; choose another folder")
    path.mkdir(parents=True, exist_ok=True)
    meta = _read_marker(path)
    files = set(meta["files"]) if meta else set()
    trees = set(meta["trees"]) if meta else set()
    if meta is not None and meta.get("command") != command and not force:
        raise OutputFolderError(
            f"{path} holds the outputs of `messjax {meta.get('command')}`, not `messjax "
            f"{command}`: choose another folder (or --force to write into it anyway)"
        )
    foreign, temps = _scan(path, files, trees)
    for tmp in temps:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    if foreign and not force:
        what = "files messjax did not write" if meta else "files (and no messjax marker)"
        raise OutputFolderError(
            f"{path} holds {what}: {_listing(foreign)}; refusing to write there: choose a new "
            "or empty folder (or --force to write into it anyway; files of the same name are "
            "then overwritten, nothing else is touched)"
        )
    out = OutputDir(path, command, files, trees)
    if restart:
        out.clear()
    else:
        out._save_marker()
    return out
