"""Kill a `messjax sweep` at random moments, rerun it each time, and check nothing is lost.

    python experiments/stress_kill.py --kills 50

A small synthetic sweep (16 cells in chunks of 4, traces, 4 figures; a few seconds per run
on an idle 2-core CPU) is first run once uninterrupted into ``ref/``. Then the same command
is started again and again in ``out/`` and SIGKILLed:

- half of the kills at a uniformly random moment of the run (start-up, feature hashing,
  compiling, sweeping, checkpointing, writing);
- half during a write: the run is started with ``MESSJAX_FAULT_SLEEP`` / ``MESSJAX_FAULT_AT``
  so each atomic write announces itself once its temporary file is complete, and the k-th
  (random) waits there until it is killed (between the temporary write and the rename).

After every kill every output file present in ``out/`` (summary.csv, config.yaml, traces.npz,
figures, and the Orbax chunk files' ``sweep.json``) must be complete: byte-identical to the
reference, never 0 bytes; the marker ``.messjax.json`` must be valid JSON. While each run is
alive a poller reads the outputs every 200 ms with the same checks. After some kills the
command is rerun to completion (a resume) and the whole output set, marker included, is
compared with the reference byte for byte; some starts use ``--restart`` so kills also hit
fresh runs, the others hit reruns over a complete or partial folder. Prints kills, resumes,
completed runs, mismatches; exits 1 on any mismatch or truncated observation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """\
zoo: synthetic
task: arc_challenge
data: {preset: llama3, num_requests: 150, seed: 0}
featurizer: hash
head: linear
seeds: [1, 2]
alpha: [0.4, 0.5]
V: [1e-4, 1e-3]
c: [0.1, 1.0]
trace_every: 10
chunk_size: 4
wandb: {mode: disabled}
"""
MARKER = ".messjax.json"


def output_files(out: Path) -> dict[str, Path]:
    """Relative path -> path of every output file (not checkpoints, not temporary files)."""
    files = {}
    for folder, dirs, names in os.walk(out):
        if Path(folder) == out:
            dirs[:] = [d for d in dirs if d != "checkpoints"]  # Orbax's, changing under us
        for name in names:
            if not name.endswith("-tmp"):
                p = Path(folder) / name
                files[p.relative_to(out).as_posix()] = p
    return files


class Checker:
    """Compares what is in ``out/`` with the reference; counts what it saw."""

    def __init__(self, ref: dict[str, bytes]):
        self.ref = ref
        self.observations = 0
        self.bad: list[str] = []
        self.lock = threading.Lock()

    def check_partial(self, out: Path, when: str) -> None:
        """Every output present is complete: identical to the reference (the marker and
        sweep.json: valid JSON), none 0 bytes."""
        problems = []
        for rel, p in output_files(out).items():
            try:
                data = p.read_bytes()
            except FileNotFoundError:
                continue  # replaced or removed between listing and reading
            if not data:
                problems.append(f"{rel} is 0 bytes")
            elif rel == MARKER:
                try:
                    json.loads(data)
                except ValueError:
                    problems.append(f"{rel} is not valid JSON")
            elif rel not in self.ref:
                problems.append(f"{rel} is not an output of the reference run")
            elif data != self.ref[rel]:
                problems.append(f"{rel} differs from the reference ({len(data)} bytes)")
        meta = out / "checkpoints" / "sweep.json"
        try:
            if meta.exists():
                json.loads(meta.read_bytes())
        except FileNotFoundError:
            pass
        except ValueError:
            problems.append("checkpoints/sweep.json is not valid JSON")
        with self.lock:
            self.observations += 1
            self.bad += [f"{when}: {p}" for p in problems]

    def check_final(self, out: Path) -> list[str]:
        got = {rel: p.read_bytes() for rel, p in output_files(out).items()}
        diff = [
            rel for rel in sorted(set(got) | set(self.ref)) if got.get(rel) != self.ref.get(rel)
        ]
        return diff


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, stdout=open(log, "w"), stderr=subprocess.PIPE, text=True, cwd=ROOT
    )


def run_once(
    cmd: list[str],
    env: dict[str, str],
    log: Path,
    checker: Checker,
    out: Path,
    *,
    kill_after: float | None = None,
    kill_at_write: int | None = None,
) -> tuple[str, int | None, str]:
    """Run ``cmd``; kill it after ``kill_after`` s or at its ``kill_at_write``-th atomic write.
    Returns (``"killed"`` | ``"finished"``, return code, the write it was killed at)."""
    proc = start(cmd, env, log)
    writes, hit, target = [0], threading.Event(), [""]
    stderr_lines: list[str] = []

    def read_stderr():
        for line in proc.stderr:
            stderr_lines.append(line)
            if line.startswith("messjax-fault: temp written for "):
                writes[0] += 1
                if kill_at_write is not None and writes[0] == kill_at_write:
                    target[0] = line.split(" for ", 1)[1].strip()
                    proc.send_signal(signal.SIGKILL)
                    hit.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    t0 = time.perf_counter()
    killed = False
    run_once.last_seconds = None
    while proc.poll() is None:
        checker.check_partial(out, "while running")
        if kill_after is not None and time.perf_counter() - t0 >= kill_after:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        if hit.is_set():
            killed = True
            break
        time.sleep(0.2)
    rc = proc.wait()
    reader.join(timeout=10)
    run_once.last_seconds = time.perf_counter() - t0
    run_once.last_writes = writes[0]
    killed = killed or hit.is_set()
    if killed and rc == -signal.SIGKILL:
        return "killed", rc, target[0]
    if rc != 0:
        sys.stderr.write("".join(stderr_lines[-20:]))
    return "finished", rc, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="number of kills (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the kill moments")
    parser.add_argument(
        "--workdir", default=None, help="a new or empty folder for the runs (default: a temp)"
    )
    parser.add_argument("--resume-prob", type=float, default=0.2, help="P(run to completion)")
    parser.add_argument("--restart-prob", type=float, default=0.15, help="P(start with --restart)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    rng = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="messjax-stress-"))
    if work.exists() and (not work.is_dir() or any(work.iterdir())):
        # the runs delete and rewrite their folders in it: never a folder of the user's
        parser.error(f"--workdir {work} is not a new or empty folder; give another one")
    work.mkdir(parents=True, exist_ok=True)
    config = work / "stress.yaml"
    config.write_text(CONFIG)
    ref_dir, out = work / "ref", work / "out"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["MESSJAX_CACHE_DIR"] = str(work / "cache")
    # Every run announces its atomic writes (no sleep), so the kill points can be drawn from
    # the last completed run's duration and number of writes (a resumed run is faster and
    # writes less than the first one).
    env["MESSJAX_FAULT_SLEEP"] = "0"
    env.pop("MESSJAX_FAULT_AT", None)

    def cmd(folder: Path, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "messjax", "sweep", "--config", str(config),
            "--out", str(folder), "--no-progress", *extra,
        ]  # fmt: skip

    t_start = time.perf_counter()
    # The reference, uninterrupted; counting its atomic writes (fault hook with no sleep).
    ref_env = {**env, "MESSJAX_FAULT_SLEEP": "0"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd(ref_dir), env=ref_env, capture_output=True, text=True, cwd=ROOT)
    ref_seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    ref_writes = proc.stderr.count("messjax-fault: temp written for ")
    ref = {rel: p.read_bytes() for rel, p in output_files(ref_dir).items()}
    print(
        f"reference run: {ref_seconds:.1f} s, {len(ref)} output files, {ref_writes} atomic "
        f"writes (feature cache included)",
        flush=True,
    )

    checker = Checker(ref)
    last_seconds, last_writes = ref_seconds, ref_writes
    kills = kills_in_write = runs = resumes = completions = 0
    mismatches: list[str] = []
    killed_since_complete = False
    write_targets: dict[str, int] = {}
    while kills < args.kills:
        extra = ("--restart",) if rng.random() < args.restart_prob else ()
        runs += 1
        log = work / f"run_{runs:03d}.log"
        if rng.random() < 0.5:
            mode = "time"
            outcome, rc, target = run_once(
                cmd(out, *extra), env, log, checker, out,
                kill_after=rng.uniform(0.0, 1.05 * last_seconds),
            )  # fmt: skip
        else:
            mode = "write"
            k = rng.randint(1, max(last_writes, 1))
            fault_env = {**env, "MESSJAX_FAULT_SLEEP": "30", "MESSJAX_FAULT_AT": str(k)}
            outcome, rc, target = run_once(
                cmd(out, *extra), fault_env, log, checker, out, kill_at_write=k
            )
        if outcome == "killed":
            kills += 1
            kills_in_write += mode == "write"
            if target:
                name = Path(target).name
                write_targets[name] = write_targets.get(name, 0) + 1
            killed_since_complete = True
            checker.check_partial(
                out, f"after kill {kills} ({mode}{', ' + extra[0] if extra else ''})"
            )
            print(
                f"kill {kills:2d}/{args.kills}: {mode:5s} {' '.join(extra):9s} "
                f"{'at ' + Path(target).name if target else ''}",
                flush=True,
            )
            if rng.random() >= args.resume_prob:
                continue
            runs += 1
            log = work / f"run_{runs:03d}.log"
            outcome, rc, _ = run_once(cmd(out), env, log, checker, out)
        if outcome != "finished" or rc != 0:
            mismatches.append(f"run {runs} exited with {rc}")
            print(f"run {runs} failed (exit {rc}); see {log}", flush=True)
            continue
        completions += 1
        last_seconds, last_writes = run_once.last_seconds, run_once.last_writes
        text = log.read_text()
        if killed_since_complete:
            resumes += 1
        killed_since_complete = False
        diff = checker.check_final(out)
        mismatches += [f"run {runs}: {rel}" for rel in diff]
        resumed = text.split("chunk(s) computed, ")[-1].split(" resumed")[0] if text else "?"
        print(
            f"  completed (run {runs}, {resumed} chunk(s) resumed): {len(diff)} mismatches",
            flush=True,
        )

    # Finish: rerun to completion and compare once more.
    runs += 1
    log = work / f"run_{runs:03d}.log"
    outcome, rc, _ = run_once(cmd(out), env, log, checker, out)
    if outcome == "finished" and rc == 0:
        completions += 1
        resumes += killed_since_complete
        mismatches += [f"final: {rel}" for rel in checker.check_final(out)]
    else:
        mismatches.append(f"final run exited with {rc}")

    summary = {
        "kills": kills,
        "kills_during_writes": kills_in_write,
        "kills_at_random_times": kills - kills_in_write,
        "runs": runs,
        "completed_runs": completions,
        "resumes": resumes,
        "mismatches": len(mismatches),
        "truncated_or_foreign_observations": len(checker.bad),
        "observations": checker.observations,
        "writes_killed": dict(sorted(write_targets.items())),
        "reference_run_s": round(ref_seconds, 1),
        "total_s": round(time.perf_counter() - t_start, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        "command": " ".join(["python", "experiments/stress_kill.py", *sys.argv[1:]]),
    }
    for line in (mismatches + checker.bad)[:20]:
        print("  problem:", line)
    print(json.dumps(summary, indent=1))
    return 1 if mismatches or checker.bad else 0


if __name__ == "__main__":
    sys.exit(main())
