"""A router that survives restarts: Orbax checkpoints plus a write-ahead journal.

Every change of the router's state (a request routed, its costs recorded, an outcome
observed, a ticket expired) is applied under ``Router.lock`` and appended, under the same lock
and before the client hears back, as one JSON line to ``STATE_DIR/journal-<seq>.jsonl``
(``os.write`` on an append-only descriptor: the line survives the process being killed;
``fsync=True`` also survives a power cut). A checkpoint takes a snapshot and rotates the
journal under the lock, then writes ``checkpoint-<seq>`` (Orbax, via a temporary name and a
rename) outside it and deletes the older checkpoints and journals. On start the newest
checkpoint is restored and the journal lines after it replayed: the router is then exactly
(bit for bit: same jitted ``observe``, recorded decisions) the router as of the last line
written, which includes every acknowledged feedback. A torn last line (a write cut by the
kill) was never acknowledged and is dropped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from messjax.errors import MessjaxError
from messjax.fileio import atomic_write_text
from messjax.router import Router, Ticket

IDENTITY = "server.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")
_JOURNAL = re.compile(r"^journal-(\d+)\.jsonl$")


class Journal:
    """Append-only JSON lines, numbered ``seq = 1, 2, ...`` across files."""

    def __init__(self, directory: Path, seq: int, fsync: bool = False):
        self.directory, self.seq, self.fsync = directory, seq, fsync
        self._fd: int | None = None
        self._open()

    def _open(self) -> None:
        path = self.directory / f"journal-{self.seq + 1:012d}.jsonl"
        # A file of this name holds no complete record after ``seq`` (those were replayed),
        # only a torn line at most: start it afresh.
        path.unlink(missing_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.path = path

    def write(self, record: dict[str, Any]) -> int:
        self.seq += 1
        line = json.dumps({"seq": self.seq, **record}, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode())
        if self.fsync:
            os.fsync(self._fd)
        return self.seq

    def rotate(self) -> None:
        self.close()
        self._open()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of one journal file; a torn last line is dropped, any other bad line is
    an error naming the file and line."""
    lines = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            if i == len(lines):  # no newline after it: the write was cut off
                break
            raise MessjaxError(f"file {path}, line {i}: not a journal record") from None
    return out


class PersistentRouter:
    """A :class:`~messjax.router.Router` whose every change is journaled; see the module."""

    def __init__(self, state_dir, make_router, identity: dict[str, Any], fsync: bool = False):
        self.dir = Path(state_dir).absolute()
        self.dir.mkdir(parents=True, exist_ok=True)
        ident_path = self.dir / IDENTITY
        identity = json.loads(json.dumps(identity))
        if ident_path.is_file():
            old = json.loads(ident_path.read_text())
            if isinstance(old.get("router"), dict) and isinstance(identity.get("router"), dict):
                # state folders from before routing policies ran MESS+
                old["router"].setdefault("policy", "messplus")
            if old != identity:
                keys = [k for k in set(old) | set(identity) if old.get(k) != identity.get(k)]
                raise MessjaxError(
                    f"{self.dir} holds the state of a router with other settings "
                    f"(changed: {', '.join(sorted(keys))}); use another state_dir to start a "
                    "new router, or restore the old settings"
                )
        else:
            atomic_write_text(ident_path, json.dumps(identity, indent=1, sort_keys=True) + "\n")
        # a checkpoint cut short by a kill: its folder, and the save's own hidden temporaries
        # beside it (``..tmp-checkpoint-<seq>.<random>.messjax-router-tmp...``)
        for pattern in (".tmp-checkpoint-*", "..tmp-checkpoint-*"):
            for p in self.dir.glob(pattern):
                shutil.rmtree(p, ignore_errors=True)
        ckpts = sorted(
            (int(m.group(1)), p)
            for p in self.dir.iterdir()
            if (m := _CKPT.match(p.name)) and p.is_dir()
        )
        if ckpts:
            seq, path = ckpts[-1]
            self.router = Router.restore(path)
        else:
            seq, self.router = 0, make_router()
        self.checkpoint_seq = seq
        self.replayed = 0
        for rec in self._journal_records():
            if rec["seq"] > seq:
                self._apply(rec)
                self.replayed += 1
                seq = rec["seq"]
        self.journal = Journal(self.dir, seq, fsync)
        self._ckpt_lock = threading.Lock()

    @property
    def lock(self):
        return self.router.lock

    def _journal_files(self) -> list[tuple[int, Path]]:
        return sorted(
            (int(m.group(1)), p) for p in self.dir.iterdir() if (m := _JOURNAL.match(p.name))
        )

    def _journal_records(self):
        for _, path in self._journal_files():
            yield from read_journal(path)

    def _apply(self, rec: dict[str, Any]) -> None:
        r = self.router
        op = rec["op"]
        if op == "route":
            r.add_ticket(Ticket.from_json(rec["ticket"]))
        elif op == "costs":
            r.record_costs(rec["id"], rec["costs"], unknown=rec.get("unknown", ()))
        elif op == "observe":
            r.observe(rec["id"], rec["satisfied"], rec["costs"], check_expiry=False)
        elif op in ("expire", "drop"):
            r.close_without_feedback(rec["id"], expired=op == "expire")
        else:
            raise MessjaxError(f"journal record {rec['seq']}: unknown op {op!r}")

    # ------------------------------------------------------------------------- traffic
    def route(self, text: str):
        x = self.router.embed(text)  # outside the lock
        with self.lock:
            d = self.router.route(x)
            self.journal.write({"op": "route", "ticket": self.router.ticket(d.id).to_json()})
            return d

    def record_costs(self, id: str, costs, *, unknown=()) -> None:
        with self.lock:
            self.router.record_costs(id, costs, unknown=unknown)
            costs = np.nan_to_num(self.router.ticket(id).costs, nan=0.0).tolist()
            rec = {"op": "costs", "id": id, "costs": costs}
            if unknown:
                rec["unknown"] = list(unknown)
            self.journal.write(rec)

    def observe(self, id: str, satisfied) -> dict[str, Any]:
        with self.lock:
            t = self.router.ticket(id)
            if satisfied is not None:  # journal the normalised per-model vector
                import numpy as np

                v = self.router.per_model(satisfied, "satisfied", t)
                satisfied = np.asarray(v, np.float64).tolist()
            out = self.router.observe(id, satisfied, None)
            self.journal.write({"op": "observe", "id": id, "satisfied": satisfied, "costs": None})
            return out

    def close_without_feedback(self, id: str, *, expired: bool = False) -> None:
        with self.lock:
            self.router.close_without_feedback(id, expired=expired)
            self.journal.write({"op": "expire" if expired else "drop", "id": id})

    def expire(self) -> list[str]:
        r = self.router
        if r.expiry is None:
            return []
        with self.lock:
            now = r.clock()
            old = [t.id for t in r.pending() if now - t.issued_at > r.expiry]
            for id in old:
                self.close_without_feedback(id, expired=True)
            return old

    # ---------------------------------------------------------------------- checkpoints
    def checkpoint(self) -> Path | None:
        """Save a snapshot as ``checkpoint-<seq>`` and drop older checkpoints and journals.
        Nothing to do (None) if nothing changed since the last checkpoint."""
        with self._ckpt_lock:
            with self.lock:
                seq = self.journal.seq
                if seq == self.checkpoint_seq:
                    return None
                snap = self.router.snapshot()
                self.journal.rotate()
            final = self.dir / f"checkpoint-{seq:012d}"
            tmp = self.dir / f".tmp-checkpoint-{seq:012d}"
            shutil.rmtree(tmp, ignore_errors=True)
            snap.save(tmp)
            os.replace(tmp, final)
            self.checkpoint_seq = seq
            for s, p in self._journal_files():
                if s <= seq:
                    p.unlink(missing_ok=True)
            for p in self.dir.iterdir():
                m = _CKPT.match(p.name)
                if m and int(m.group(1)) < seq:
                    shutil.rmtree(p, ignore_errors=True)
            return final

    def close(self) -> None:
        self.checkpoint()
        self.journal.close()
