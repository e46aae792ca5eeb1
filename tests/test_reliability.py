"""Nothing lost, nothing poisoned (issue 12): each case a careful user ran into, performed.

- kills (SIGKILL, Ctrl-C) of a real ``messjax sweep`` subprocess at chosen points of its
  writes leave every output either old-and-complete or new-and-complete;
- an output folder holding someone else's files is refused (``--force`` overrides), and
  ``--restart`` clears exactly what messjax wrote (figures of dropped tasks included);
- ``Router.save`` never deletes what it did not write, replaces its own checkpoint
  atomically, and ``Router.restore`` names what is wrong with a damaged checkpoint;
- the Router refuses non-finite or mistyped embeddings, labels and costs before touching its
  state, and the training step skips non-finite gradients;
- truncated checkpoints, unwritable folders and interrupts end in one line (exit 2 / 130);
- empty and duplicate-key YAML, ``epochs: 0`` and ``trace_every: 0`` are refused.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from messjax import cli
from messjax.errors import CheckpointError, ConfigError, MessjaxError, OutputFolderError
from messjax.fileio import MARKER, atomic_write_text, claim_output_dir
from messjax.router import Router

ROOT = Path(__file__).resolve().parents[1]

# 1 seed x 2 alphas x 2 V = 4 cells in 2 chunks, 60 requests per task.
SMALL = """\
zoo: synthetic
tasks: [arc_challenge, boolq]
data: {preset: llama3, num_requests: 60, seed: 0}
featurizer: hash
head: linear
seeds: [1]
alpha: [0.4, 0.5]
V: [1e-4, 1e-3]
c: 0.5
trace_every: 10
chunk_size: 2
wandb: {mode: disabled}
"""
OUTPUTS = ("summary.csv", "config.yaml", "traces.npz")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MESSJAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "features"))
    monkeypatch.delenv("MESSJAX_DEBUG", raising=False)
    monkeypatch.delenv("MESSJAX_FAULT_SLEEP", raising=False)


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def sweep(config: Path, out: Path, *extra: str) -> int:
    return cli.main(["sweep", "--config", str(config), "--out", str(out), "--no-progress", *extra])


def snapshot(out: Path) -> dict[str, bytes]:
    """Every output file of a sweep folder (not checkpoints, not the marker) -> its bytes."""
    files = [out / f for f in OUTPUTS] + sorted((out / "figures").glob("[!.]*"))
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in files if p.exists()}


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ----------------------------------------------------------------- kills during writes
def _subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _run_until_write(args: list[str], nth: int, sig: int, env: dict[str, str]):
    """Start ``messjax ARGS`` with the fault hook; when its ``nth`` atomic write has its
    temporary file complete (and sleeps before the rename), send ``sig``. Returns
    (return code, stderr, path being written)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "messjax", *args],
        env={**env, "MESSJAX_FAULT_AT": str(nth)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen, target, lines = 0, None, []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("messjax-fault: temp written for "):
                seen += 1
                if seen == nth:
                    target = line.split(" for ", 1)[1].strip()
                    proc.send_signal(sig)
                    break
        rest = proc.stderr.read()
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, "".join(lines) + rest, target


def test_kill_during_rewrite_leaves_every_output_complete(small, tmp_path):
    """SIGKILL while a rerun replaces each output in turn: the old complete files stay
    (the bug: traces.npz left at 0 bytes and `messjax plot` failing with EOFError)."""
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    before = snapshot(out)
    assert len(before) == 3 + 2 * 4  # summary, config, traces, 4 figures per task
    env = _subprocess_env(MESSJAX_FAULT_SLEEP="60")
    args = ["sweep", "--config", str(small), "--out", str(out), "--no-progress"]
    targets = []
    for nth in (1, 2, 3, 4, 11):  # marker, summary.csv, config.yaml, traces.npz, a figure
        rc, err, target = _run_until_write(args, nth, signal.SIGKILL, env)
        assert rc == -signal.SIGKILL and target is not None, err
        targets.append(Path(target).name)
        assert snapshot(out) == before  # nothing lost, nothing truncated
        assert all(len(b) > 0 for b in before.values())
    assert {"summary.csv", "traces.npz"} <= set(targets)
    leftovers = [p.name for p in out.rglob("*.messjax-tmp")]
    assert leftovers  # the kill left hidden temporary files behind ...
    assert cli.main(["plot", str(out)]) == 0  # ... which the next claim removes
    assert not list(out.rglob("*.messjax-tmp"))
    assert sweep(small, out) == 0
    assert snapshot(out) == before


def test_kill_during_first_run_then_resume_is_byte_identical(small, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert sweep(small, ref) == 0
    env = _subprocess_env(MESSJAX_FAULT_SLEEP="60")
    args = ["sweep", "--config", str(small), "--out", str(out), "--no-progress"]
    # The 4th atomic write of a fresh run: the marker is recorded twice (claim, checkpoints),
    # then sweep.json, then the first chunk's files are Orbax's own (atomic by rename).
    rc, err, _ = _run_until_write(args, 4, signal.SIGKILL, env)
    assert rc == -signal.SIGKILL, err
    for p in out.rglob("*"):
        if p.is_file() and not p.name.endswith(".messjax-tmp"):
            assert p.stat().st_size > 0, p
    assert sweep(small, out) == 0
    assert snapshot(out) == snapshot(ref)


def test_ctrl_c_is_one_line_exit_130_and_resumes(small, tmp_path):
    out = tmp_path / "out"
    env = _subprocess_env(MESSJAX_FAULT_SLEEP="60")
    args = ["sweep", "--config", str(small), "--out", str(out), "--no-progress"]
    rc, err, _ = _run_until_write(args, 5, signal.SIGINT, env)
    assert rc == 130, err
    tail = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("messjax-fault")]
    assert tail == ["messjax sweep: interrupted: rerun the same command to resume"], err
    assert not list(out.rglob("*.messjax-tmp"))  # an interrupt cleans its temporary file
    assert sweep(small, out) == 0


def test_interrupt_in_process_and_debug_traceback(monkeypatch, capsys, small, tmp_path):
    from messjax.runs import sweep as sweep_runner

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_runner, "execute", boom)
    assert sweep(small, tmp_path / "o") == 130
    assert "interrupted: rerun the same command to resume" in one_line(capsys.readouterr().err)
    monkeypatch.setenv("MESSJAX_DEBUG", "1")
    with pytest.raises(KeyboardInterrupt):
        sweep(small, tmp_path / "o")


# --------------------------------------------------------------------- output folders
def test_foreign_files_in_out_are_refused_and_kept(small, tmp_path, capsys):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "summary.csv").write_text("their,numbers\n1,2\n")
    (out / "config.yaml").write_text("theirs: true\n")
    assert sweep(small, out) == 2
    line = one_line(capsys.readouterr().err)
    assert "summary.csv" in line and "config.yaml" in line and "--force" in line
    assert (out / "summary.csv").read_text() == "their,numbers\n1,2\n"
    assert (out / "config.yaml").read_text() == "theirs: true\n"
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "summary.csv"]

    # A user file dropped into a messjax folder later is foreign too, and never deleted.
    mine = tmp_path / "mine"
    assert sweep(small, mine) == 0
    (mine / "notes.txt").write_text("keep me")
    assert sweep(small, mine) == 2
    assert "notes.txt" in one_line(capsys.readouterr().err)
    assert sweep(small, mine, "--force", "--restart") == 0
    assert (mine / "notes.txt").read_text() == "keep me"

    # --force writes into the foreign folder (overwriting same-name files only).
    (out / "their_notes.md").write_text("x")
    assert sweep(small, out, "--force") == 0
    assert (out / "their_notes.md").read_text() == "x"
    assert (out / "summary.csv").read_text().startswith("zoo,task")


def test_output_of_another_command_is_refused(tmp_path):
    out = tmp_path / "o"
    claim_output_dir(out, "reproduce").write_text("table.md", "x")
    with pytest.raises(OutputFolderError, match="messjax reproduce"):
        claim_output_dir(out, "sweep")
    with pytest.raises(OutputFolderError, match="is a file"):
        claim_output_dir(out / "table.md", "sweep")


def test_restart_clears_exactly_what_messjax_wrote(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    assert (out / "figures" / "queue_boolq.png").exists()
    marker = json.loads((out / MARKER).read_text())
    assert marker["command"] == "sweep" and "figures/queue_boolq.png" in marker["files"]
    assert marker["trees"] == ["checkpoints"]
    # Fewer tasks: the config changed, so a plain rerun is refused ...
    assert sweep(small, out, "--set", "tasks=[arc_challenge]") == 2
    assert "--restart" in one_line(capsys.readouterr().err)
    # ... and --restart drops the old task's figures, checkpoints and outputs.
    assert sweep(small, out, "--set", "tasks=[arc_challenge]", "--restart") == 0
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures and all("arc_challenge" in f for f in figures), figures
    assert not (out / "checkpoints" / "boolq").exists()
    marker = json.loads((out / MARKER).read_text())
    assert not any("boolq" in f for f in marker["files"])


# -------------------------------------------------------- damaged sweep checkpoints
@pytest.mark.parametrize("victim", ["sweep.json", "_METADATA", "array"])
def test_truncated_sweep_checkpoint_is_one_line_then_restart_recovers(
    victim, small, tmp_path, capsys
):
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    before = snapshot(out)
    ck = out / "checkpoints"
    if victim == "sweep.json":
        path = ck / "sweep.json"
    elif victim == "_METADATA":
        (path,) = (ck / "arc_challenge" / "chunk_1" / "default").glob("_METADATA")
    else:  # the largest data file of a chunk
        files = [p for p in (ck / "boolq" / "chunk_0").rglob("*") if p.is_file()]
        path = max(files, key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert sweep(small, out) == 2
    line = one_line(capsys.readouterr().err)
    assert "--restart" in line and "unreadable" in line, line
    assert snapshot(out) == before  # the refused run wrote nothing
    assert sweep(small, out, "--restart") == 0
    assert snapshot(out) == before


def test_truncated_traces_is_a_clear_error_for_plot(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    (out / "traces.npz").write_bytes(b"")
    capsys.readouterr()
    assert cli.main(["plot", str(out)]) == 2
    assert "traces.npz is unreadable" in one_line(capsys.readouterr().err)


# ------------------------------------------------------------------ unwritable folders
def test_unwritable_out_is_one_line(small, tmp_path, monkeypatch, capsys):
    target = tmp_path / "ro" / "out"
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
    else:  # root writes anywhere: make the folder creation fail as it would for a user
        real_mkdir = Path.mkdir

        def mkdir(self, *a, **k):
            if self == target:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_mkdir(self, *a, **k)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        assert sweep(small, target) == 2
    finally:
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    line = one_line(capsys.readouterr().err)
    assert "Permission denied" in line and str(target) in line and "--out" in line

    # A folder that becomes unwritable mid-run (the rename into place fails): same.
    out = tmp_path / "out2"

    def no_replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", no_replace)
    assert sweep(small, out) == 2
    assert "Permission denied" in one_line(capsys.readouterr().err)
    monkeypatch.undo()
    assert not list(out.rglob("*.messjax-tmp"))  # the failed write cleaned up


# ----------------------------------------------------------------------- Router.save
D = 8
MODELS = ["small", "medium", "large"]


def make_router(**kw) -> Router:
    hp = dict(alpha=0.7, V=1e-3, c=1.0, learning_rate=0.05, epochs=1)
    hp.update(kw)
    return Router.create(MODELS, D, head="mlp", seed=3, policy="messplus", **hp)


def feed(router: Router, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        d = router.route(rng.normal(size=D).astype(np.float32))
        labels = rng.integers(0, 2, size=3).astype(float)
        costs = np.array([1.0, 5.0, 20.0])
        if d.explore:
            router.observe(labels, costs)
        else:
            router.observe(labels[d.model_index], costs[d.model_index])


def same_state(a, b) -> bool:
    eq = jax.tree.map(lambda x, y: bool(np.array_equal(x, y, equal_nan=True)), a, b)
    return all(jax.tree.leaves(eq))


def test_save_never_deletes_what_it_did_not_write(tmp_path):
    router = make_router()
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(CheckpointError, match=r"notes\.txt.*refusing"):
        router.save(folder)
    assert (folder / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]

    a_file = tmp_path / "router.bin"
    a_file.write_bytes(b"precious")
    with pytest.raises(CheckpointError, match="a file"):
        router.save(a_file)
    assert a_file.read_bytes() == b"precious"

    # A user file put inside a checkpoint folder makes it foreign too.
    ck = tmp_path / "ck"
    router.save(ck)
    (ck / "README").write_text("mine")
    with pytest.raises(CheckpointError, match="README"):
        router.save(ck)
    assert (ck / "README").read_text() == "mine"
    assert not list(tmp_path.glob(".*messjax-router*"))


@pytest.mark.parametrize("swap", ["exchange", "two-renames"])
def test_save_replaces_its_own_checkpoint_atomically(tmp_path, monkeypatch, swap):
    from messjax import fileio
    from messjax.router import checkpoint

    if swap == "two-renames":
        monkeypatch.setattr(fileio, "exchange_paths", lambda a, b: False)
    ck = tmp_path / "ck"
    router = make_router()
    feed(router, 5)
    router.save(ck)
    old_state = router.state
    feed(router, 5, seed=1)

    # A save that dies before the swap leaves the old checkpoint complete, no temp folder.
    def die(new, target, tag):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "replace_dir", die)
    with pytest.raises(KeyboardInterrupt):
        router.save(ck)
    monkeypatch.undo()
    if swap == "two-renames":
        monkeypatch.setattr(fileio, "exchange_paths", lambda a, b: False)
    assert same_state(Router.restore(ck).state, old_state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]

    router.save(ck)  # replaces the older checkpoint of its own
    assert same_state(Router.restore(ck).state, router.state)
    assert Router.restore(ck).num_requests == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def _save_killed_after_moving_the_old_copy_aside(router, ck, monkeypatch, cleanup: bool):
    """``router.save(ck)`` where the folder swap takes two renames, stopped right after the
    first (the old copy moved aside); ``cleanup=False``: as a real kill, the save's own
    ``except`` deletes nothing."""
    from messjax import fileio
    from messjax.router import checkpoint

    monkeypatch.setattr(fileio, "exchange_paths", lambda a, b: False)
    if not cleanup:
        monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *a, **k: None)
    real_rename = os.rename

    def rename(src, dst):
        real_rename(src, dst)
        if Path(dst).name.endswith(".messjax-router-old"):
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        router.save(ck)
    monkeypatch.undo()


def test_save_killed_between_two_renames_is_recoverable(tmp_path, monkeypatch):
    ck = tmp_path / "ck"
    router = make_router()
    router.save(ck)
    _save_killed_after_moving_the_old_copy_aside(router, ck, monkeypatch, cleanup=True)
    with pytest.raises(CheckpointError, match="interrupted save left the previous checkpoint"):
        Router.restore(ck)
    (old,) = tmp_path.glob(".ck.*.messjax-router-old")
    old.rename(ck)
    assert same_state(Router.restore(ck).state, router.state)


def test_save_killed_between_two_renames_keeps_both_copies(tmp_path, monkeypatch):
    """A real kill (no cleanup runs) between the two renames leaves the previous copy aside
    and the complete new one in its temporary folder: restore names the new one, and a later
    save into the empty path deletes neither."""
    ck = tmp_path / "ck"
    router = make_router()
    router.save(ck)
    feed(router, 4)
    _save_killed_after_moving_the_old_copy_aside(router, ck, monkeypatch, cleanup=False)
    with pytest.raises(CheckpointError, match="complete new checkpoint"):
        Router.restore(ck)
    (new,) = tmp_path.glob(".ck.*.messjax-router-tmp")
    make_router().save(ck)  # ck was missing: both leftovers kept
    assert new.is_dir() and len(list(tmp_path.glob(".ck.*.messjax-router-old"))) == 1
    assert same_state(Router.restore(new).state, router.state)


def test_save_removes_what_killed_saves_left_beside_it(tmp_path):
    """Kills mid-save leave hidden temporaries next to the checkpoint; the next save removes
    them, but the previous checkpoint moved aside is kept while it may be the only copy."""
    ck = tmp_path / "ck"
    router = make_router()
    aside = tmp_path / ".ck.0123456789ab.messjax-router-old"
    aside.mkdir()
    router.save(ck)  # ck was missing: the copy moved aside may be the only one, kept
    assert aside.is_dir()
    leftovers = [
        tmp_path / ".ck.0123456789ab.messjax-router-tmp",
        tmp_path / ".ck.ba9876543210.messjax-router-tmp.orbax-checkpoint-tmp-17",
    ]
    for p in leftovers:
        p.mkdir()
    (tmp_path / ".ck.notes").write_text("mine")
    router.save(ck)  # ck complete: every leftover goes, the user's file stays
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.notes", "ck"]
    assert same_state(Router.restore(ck).state, router.state)


@pytest.mark.parametrize(
    "damage", ["no-commit", "truncated-meta", "truncated-array-metadata", "truncated-data"]
)
def test_restore_names_what_is_wrong(tmp_path, damage):
    ck = tmp_path / "ck"
    router = make_router()
    feed(router, 3)
    router.save(ck)
    if damage == "no-commit":
        (ck / "commit_success.txt").unlink()
        match = "incomplete.*commit_success.txt"
    else:
        if damage == "truncated-meta":
            path = ck / "meta" / "metadata"
        elif damage == "truncated-array-metadata":
            path = ck / "router" / "_METADATA"
        else:
            files = [p for p in (ck / "router").rglob("*") if p.is_file()]
            path = max(files, key=lambda p: p.stat().st_size)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        match = "corrupt"
    with pytest.raises(CheckpointError, match=match) as info:
        Router.restore(ck)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------- poisoned live routing
def test_router_refuses_non_finite_and_mistyped_inputs_before_touching_state():
    router = make_router(c=10.0)  # explores every request for t < c^4, as c = 1 does at first
    feed(router, 3)
    state = router.state
    good = np.ones(D, np.float32)
    for bad in (np.full(D, np.nan), np.r_[np.ones(D - 1), np.inf], None, "", [1.0] * (D - 1)):
        if isinstance(bad, str):
            continue  # no featurizer: covered below
        with pytest.raises(MessjaxError) as info:
            router.route(bad)
        assert "\n" not in str(info.value)
        assert router.in_flight == 0 and same_state(router.state, state)
    with pytest.raises(MessjaxError, match="no featurizer"):
        router.route("a text")

    d = router.route(good)
    assert d.explore
    labels, costs = np.array([0.0, 1.0, 1.0]), np.array([1.0, 5.0, 20.0])
    for sat, cost, match in (
        ([np.nan, 1, 1], costs, "satisfied has 1 NaN"),
        (labels, [1.0, np.inf, 2.0], "costs has 1 NaN or infinite"),
        ("yes", costs, "satisfied must be"),
        (labels, "cheap", "costs must be"),
        ({"ok": 1}, costs, "satisfied must be"),  # (None means "no feedback": a ticket)
        ([0.0, 2.0, 1.0], costs, r"in \[0, 1\]"),
        (labels, [1.0, -5.0, 2.0], ">= 0"),
        ([[0, 1, 1]], costs, "values"),
    ):
        with pytest.raises(MessjaxError, match=match):
            router.observe(d.id, sat, cost)
        assert same_state(router.state, state)  # refused before the state moved
    with pytest.raises(MessjaxError, match="no request with id 'yes'"):
        router.observe("yes", 1, 5.0)  # a string first is a ticket id
    assert same_state(router.state, state) and router.in_flight == 1
    router.observe(labels, costs)  # the pending request is still there for good values
    assert router.num_requests == 4
    assert np.isfinite(router.route(good).s_hat).all()


def test_oracle_route_costs_are_checked():
    router = make_router(cost_estimator="oracle")
    for bad in ([1.0, np.nan, 2.0], [1.0, 2.0], "x"):
        with pytest.raises(MessjaxError):
            router.route(np.ones(D, np.float32), costs=bad)
        assert router.in_flight == 0


def test_training_step_skips_non_finite_gradients():
    from messjax.core.predictor import init_predictor, train_on_batch, train_on_example
    from messjax.core.types import EngineConfig

    config = EngineConfig(num_models=3, feature_dim=D, head="mlp")
    params, opt = init_predictor(jax.random.PRNGKey(0), config)
    key = jax.random.PRNGKey(1)
    x, labels = np.ones(D, np.float32), np.array([0.0, 1.0, 1.0], np.float32)
    inf_labels = np.array([np.inf, 1.0, 0.0], np.float32)
    for bad_x, bad_labels in ((np.full(D, np.nan, np.float32), labels), (x, inf_labels)):
        p, s = train_on_example(params, opt, bad_x, bad_labels, key, 0.1, 2, config)
        assert same_state((p, s), (params, opt))
        p, s = train_on_batch(params, opt, bad_x[None], bad_labels[None], key, 0.1, 2, config)
        assert same_state((p, s), (params, opt))
    p, _ = train_on_example(params, opt, x, labels, key, 0.1, 2, config)
    assert not same_state(p, params)  # a finite example does train


# -------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    "text, key",
    [
        ("", "cfg.yaml"),
        ("# only a comment\n", "cfg.yaml"),
        ("zoo: synthetic\nalpha: 0.5\nV: 1e-3\nalpha: 0.6\n", "alpha"),
        ("zoo: synthetic\ndata: {seed: 1, seed: 2}\n", "seed"),
        ("zoo: synthetic\nepochs: 0\n", "epochs"),
        ("zoo: synthetic\nepochs: [1, 0]\n", "epochs"),
        ("zoo: synthetic\ntrace_every: 0\n", "trace_every"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(tmp_path, text, key):
    from messjax.runs.config import load_config

    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key.endswith(key), str(info.value)
    if key in ("alpha", "seed"):
        assert "given twice" in str(info.value) and "lines" in str(info.value)


def test_trace_every_null_means_no_traces(small, tmp_path):
    out = tmp_path / "out"
    assert sweep(small, out, "--set", "trace_every=null", "--set", "tasks=[boolq]") == 0
    assert not (out / "traces.npz").exists()
    assert (out / "config.yaml").read_text().count("trace_every: null") == 1
    assert sweep(small, out, "--set", "trace_every=null", "--set", "tasks=[boolq]") == 0


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    from messjax.fileio import atomic_path

    with pytest.raises(Boom), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise Boom
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_sweep_refuses_non_finite_features():
    from messjax.core.sweep import make_grid
    from messjax.data import synthetic_zoo
    from messjax.runs.experiment import sweep_table

    table = synthetic_zoo("toy", num_requests=20, seed=0)
    x = np.ones((20, D), np.float32)
    x[7, 3] = np.nan
    with pytest.raises(MessjaxError, match="row 7, column 3"):
        sweep_table(table, make_grid([1], alpha=[0.5], V=[1e-3], c=[0.5]), x=x)


def test_unfinished_orbax_chunk_is_dropped_on_resume(small, tmp_path):
    out = tmp_path / "out"
    assert sweep(small, out, "--set", "tasks=[boolq]") == 0
    before = snapshot(out)
    # What a kill in the middle of Orbax's save of a chunk leaves behind.
    tmp = out / "checkpoints" / "boolq" / "chunk_1.orbax-checkpoint-tmp-1700000000000000"
    (tmp / "default").mkdir(parents=True)
    (tmp / "default" / "_METADATA").write_bytes(b'{"tree_meta')
    assert sweep(small, out, "--set", "tasks=[boolq]") == 0
    assert not tmp.exists()
    assert snapshot(out) == before


# ------------------------------------------- folders messjax manages; names from the data
def test_force_never_adopts_a_users_folder_of_a_managed_name(small, tmp_path, capsys):
    """--force writes beside the user's files, but a `checkpoints/` of theirs is refused,
    not adopted (a later --restart would delete managed folders whole)."""
    out = tmp_path / "theirs"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "model.pt").write_text("mine")
    assert sweep(small, out, "--force") == 2
    line = one_line(capsys.readouterr().err)
    assert "checkpoints" in line and "messjax did not make it" in line
    assert sweep(small, out, "--force", "--restart") == 2
    capsys.readouterr()
    assert (out / "checkpoints" / "model.pt").read_text() == "mine"


def test_safe_filename_keeps_plain_names_and_separates_the_rest():
    from messjax.fileio import safe_filename

    assert safe_filename("arc_challenge") == "arc_challenge"
    assert safe_filename("mmlu-high_school.physics+1") == "mmlu-high_school.physics+1"
    names = ["a b", "a_b", "a/b", "..", ".", "", "../../victim/report", ".hidden", "é"]
    safe = [safe_filename(n) for n in names]
    assert len(set(safe)) == len(names)
    for s in safe:
        assert s and "/" not in s and not s.startswith(".") and s not in ("..", ".")


def test_output_paths_stay_inside_the_folder(tmp_path):
    out = claim_output_dir(tmp_path / "o", "sweep")
    for rel in ("../x", "/tmp/x", "a/../../x", ".", ""):
        with pytest.raises(OutputFolderError, match="not a path inside"):
            out.file(rel)
    assert not (tmp_path / "x").exists()


def test_restart_killed_mid_delete_leaves_nothing_to_resume(small, tmp_path, monkeypatch):
    """--restart renames a managed folder away before deleting it: a kill during the delete
    leaves a hidden leftover (removed by the next claim), never a half-deleted
    checkpoints/ that a later run would resume from."""
    import shutil

    from messjax.fileio import TRASH_SUFFIX

    out = tmp_path / "out"
    assert sweep(small, out) == 0
    before = snapshot(out)

    def killed(path, *a, **k):
        raise KeyboardInterrupt  # as if killed after the rename, before the delete

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        claim_output_dir(out, "sweep", restart=True)
    monkeypatch.undo()
    assert not (out / "checkpoints").exists()
    (leftover,) = [p for p in out.iterdir() if p.name.endswith(TRASH_SUFFIX)]
    assert sweep(small, out) == 0  # recomputed from scratch, the leftover removed
    assert not leftover.exists()
    assert snapshot(out) == before


def test_checkpoints_without_their_sweep_record_are_refused(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(small, out) == 0
    (out / "checkpoints" / "sweep.json").unlink()  # e.g. an older, interrupted delete
    assert sweep(small, out) == 2
    line = one_line(capsys.readouterr().err)
    assert "sweep.json" in line and "--restart" in line
    assert sweep(small, out, "--restart") == 0


def test_task_names_differing_in_punctuation_keep_their_own_checkpoints(tmp_path):
    from messjax.runs.checkpoint import SweepCheckpoint

    ck = SweepCheckpoint(tmp_path / "ck", {"what": 1})
    assert ck.chunk_dir("a b", 0) != ck.chunk_dir("a_b", 0)
    assert ck.chunk_dir("../x", 0).resolve().is_relative_to((tmp_path / "ck").resolve())


def test_router_refuses_bad_names_ids_params_and_empty_history():
    from messjax.errors import ConfigError

    for models, what in (
        (["a", "a", "b"], "unique"),
        (["", "b", "c"], "non-empty"),
        ("abc", "list"),
    ):
        with pytest.raises(MessjaxError, match=what):
            Router.create(models, D, policy="messjax", alpha=0.7)
    for key, value in (("prior", float("nan")), ("prior", -1.0), ("margin", float("inf")),
                       ("ts_temp", -1.0), ("l2", -5.0), ("price_cap", 0.0)):  # fmt: skip
        with pytest.raises(ConfigError, match=key):
            Router.create(MODELS, D, policy="messjax", alpha=0.7, **{key: value})
    router = Router.create(MODELS, D, policy="messjax", alpha=0.7, infeasible_cap=float("inf"))
    with pytest.raises(MessjaxError, match="at least one request"):
        router.warm_start(np.ones((0, D)), np.ones((0, 3)), np.ones((0, 3)))
    for bad in (7, ""):
        with pytest.raises(MessjaxError, match="non-empty string"):
            router.route(np.zeros(D, np.float32), id=bad)
    assert router.routed == 0 and not router.pending()


def test_duplicate_grid_values_are_refused(tmp_path, capsys):
    for axis in ("alpha=[0.5,0.5]", "V=[1e-4,1e-4]", "cost_estimator=[oracle,oracle]"):
        assert cli.main(["run", "--set", axis, "--out", str(tmp_path / "o")]) == 2
        assert "duplicate value" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("policy", ["messplus", "messjax"])
def test_no_outcome_trains_nothing_and_unobserved_costs_leave_the_estimate(policy):
    """Closing without an outcome must not train on the zeros standing in for labels (MESS+
    with all_explorations trains on explorations without feedback), and costs nobody
    observed (no costs recorded, or an upstream that failed) leave E_hat as it was."""
    extra = (
        dict(sparse_training="all_explorations", learning_rate=0.5) if policy == "messplus" else {}
    )
    r = Router.create(["a", "b", "c"], 4, seed=0, policy=policy, c=100.0, alpha=0.7, **extra)
    x = np.ones(4, np.float32)
    d = r.route(x)
    r.observe(d.id, [1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    before_cost = np.asarray(r.cost_estimate).copy()
    before = jax.tree.map(np.asarray, r.state)
    for _ in range(3):
        d = r.route(x)
        r.close_without_feedback(d.id)
    after = jax.tree.map(np.asarray, r.state)
    np.testing.assert_array_equal(np.asarray(r.cost_estimate), before_cost)
    if policy == "messplus":
        assert same_state(after.learner.params, before.learner.params)
    else:
        # no label counted (W only takes its per-request weight decay, as in the engine)
        assert same_state((after.n, after.k), (before.n, before.k))
    # an exploration whose upstream "c" failed: a and b's costs count, c's does not
    d = r.route(x)
    while not d.explore and policy == "messplus":
        r.close_without_feedback(d.id)
        d = r.route(x)
    failed = d.query_index[-1]
    r.record_costs(d.id, [5.0, 6.0, 7.0], unknown=[d.query[-1]])
    r.close_without_feedback(d.id)
    assert np.asarray(r.cost_estimate)[failed] == before_cost[failed]
    assert any(np.asarray(r.cost_estimate)[m] != before_cost[m] for m in d.query_index[:-1])


def test_seeds_beyond_32_bits_are_refused(tmp_path, capsys):
    """PRNGKey takes 32 bits: seed 2**32 + 7 would share every coin with seed 7."""
    from messjax.core.sweep import cell_keys
    from messjax.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[0, 2\*\*32\)"):
        cell_keys(np.array([7, 2**32 + 7]))
    with pytest.raises(ConfigError, match="seeds"):
        Router.create(MODELS, D, seed=2**32, policy="messjax", alpha=0.7)
    assert cli.main(["run", "--set", "seeds=[7,4294967303]", "--out", str(tmp_path / "o")]) == 2
    assert "2**32" in one_line(capsys.readouterr().err)
    np.testing.assert_array_equal(cell_keys(np.array([7])), jax.random.PRNGKey(7)[None])


def test_sweep_checkpoints_under_the_older_task_folder_name_resume(tmp_path):
    """Chunks saved before task names went through safe_filename (`a b` -> `a_b/`) are
    adopted; not when another task of the sweep maps to that older name."""
    from messjax.runs.checkpoint import SweepCheckpoint

    ident = {"tables": {"a b": "x", "c": "y"}}
    SweepCheckpoint(tmp_path / "ck", ident)  # the older run's sweep.json
    (tmp_path / "ck" / "a_b" / "chunk_0").mkdir(parents=True)
    ck = SweepCheckpoint(tmp_path / "ck", ident)
    ck.completed("a b")
    assert not (tmp_path / "ck" / "a_b").exists() and ck.chunk_dir("a b", 0).parent.is_dir()

    ambiguous = {"tables": {"a b": "x", "a_b": "y"}}
    SweepCheckpoint(tmp_path / "ck2", ambiguous)
    (tmp_path / "ck2" / "a_b").mkdir(parents=True)
    ck2 = SweepCheckpoint(tmp_path / "ck2", ambiguous)
    ck2.completed("a b")
    assert (tmp_path / "ck2" / "a_b").is_dir()  # left to the task named a_b


def test_first_sweep_json_cut_short_is_not_a_foreign_checkpoint(tmp_path):
    from messjax.runs.checkpoint import SweepCheckpoint

    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / ".sweep.json.0123456789ab.messjax-tmp").write_text('{"for')
    SweepCheckpoint(folder, {"what": 1})
    assert sorted(p.name for p in folder.iterdir()) == ["sweep.json"]


def test_router_saved_with_values_now_refused_restores_with_a_warning(tmp_path):
    from messjax.core import policy as mj_policy

    router = Router.create(MODELS, D, policy="messjax", alpha=0.7)
    # as an older version allowed: a negative margin
    router.policy_params = mj_policy.default_policy_params(validate=False, margin=-1.0)
    router.save(tmp_path / "ck")
    with pytest.warns(UserWarning, match="margin"):
        back = Router.restore(tmp_path / "ck")
    assert float(back.policy_params.margin) == -1.0


def test_control_characters_in_a_number_cell_are_a_clear_error(tmp_path):
    from messjax.data import load_routerbench
    from messjax.errors import DataError

    path = tmp_path / "rb.csv"
    path.write_text(
        "sample_id,prompt,eval_name,m1,m1|total_cost,m2,m2|total_cost\n"
        'a.0,hi,a,1,"\x1c0.01",0,0.001\n'
    )
    with pytest.raises(DataError, match="not a number"):
        load_routerbench(path)
