"""Test tooling: read a wandb offline run folder without syncing it."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

_LOG_HEADER = 7  # ":W&B" + magic (2 bytes) + version (1 byte)
_BLOCK = 32768


def read_offline_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Config, summary and logged keys of an offline run folder (``.../offline-run-*``).

    Reads the run's ``.wandb`` record log (LevelDB log framing of protobuf ``Record``s) with
    wandb's own protobuf classes; for checks and quick looks without syncing.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(run_dir).glob("*.wandb")
    data = path.read_bytes()
    records, buf, pos = [], b"", _LOG_HEADER
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            break
        buf += data[pos : pos + length]
        pos += length
        if kind in (1, 4):  # FULL or LAST
            rec = pb.Record()
            rec.ParseFromString(buf)
            records.append(rec)
            buf = b""
    out: dict[str, Any] = {"config": {}, "summary": {}, "history_keys": set(), "run": {}}

    def key_of(item):
        return item.key or "/".join(item.nested_key)

    for rec in records:
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = {
                "project": rec.run.project,
                "group": rec.run.run_group,
                "job_type": rec.run.job_type,
                "run_id": rec.run.run_id,
            }
            for item in rec.run.config.update:
                out["config"][key_of(item)] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                out["config"][key_of(item)] = json.loads(item.value_json)
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"][key_of(item)] = json.loads(item.value_json)
        elif kind == "history":
            out["history_keys"].update(key_of(item) for item in rec.history.item)
    return out
