"""Orbax checkpoints of the live router.

:func:`save_router` / :func:`restore_router` (also ``Router.save`` / ``Router.restore``)
write the whole policy state (MESS+'s
:class:`~messjax.core.types.RouterState`: predictor parameters, optimiser state, queues, cost
estimate, request counter ``t``, PRNG key; or messjax's
:class:`~messjax.core.policy.PolicyState`) and the hyperparameters (and messjax's
:class:`~messjax.core.policy.PolicyParams`) as an Orbax pytree, with the model names, seed,
featurizer, routing policy (``meta.policy``; checkpoints without it are messplus) and
:class:`~messjax.core.types.EngineConfig` as JSON next to it, and the in-flight tickets (their
decisions as JSON, their embeddings as an array). A restored router decides exactly like one
that never stopped and still takes the outcomes of the requests in flight when it was saved.
"""

from __future__ import annotations

import dataclasses
import glob
import shutil
import warnings
from pathlib import Path

import jax
import numpy as np

from messjax.core.policy import (
    HOLD_RULE,
    POLICY_PARAM_NAMES,
    default_policy_params,
    init_policy,
)
from messjax.core.step import init_state
from messjax.core.types import EngineConfig, check_policy_params, make_hparams
from messjax.errors import CheckpointError, ConfigError, brief
from messjax.fileio import replace_dir, temp_sibling

ROUTER_FORMAT = 1
#: The messjax policy's leaves in checkpoints that do not list theirs (saved before
#: ``price_cap``); leaves a checkpoint lacks take their defaults on restore.
_EARLY_POLICY_PARAMS = ("prior", "ts_temp", "margin", "impute_z", "l2")


#: What Orbax writes at the top of a router checkpoint folder; anything else there is foreign.
ROUTER_ENTRIES = frozenset(
    {"_CHECKPOINT_METADATA", "commit_success.txt", "router", "meta", "live", "tickets"}
)
#: Written by Orbax once a checkpoint is complete.
COMMIT_MARKER = "commit_success.txt"
_ROUTER_TMP = ".messjax-router-tmp"
_ROUTER_OLD = ".messjax-router-old"


def _is_router_checkpoint(path: Path) -> tuple[bool, list[str]]:
    """(whether ``path`` is a folder laid out as a router checkpoint, its foreign entries)."""
    if not path.is_dir() or path.is_symlink():
        return False, []
    names = [p.name for p in path.iterdir()]
    foreign = sorted(n for n in names if n not in ROUTER_ENTRIES)
    return (not foreign and bool(names) and (path / "meta").is_dir()), foreign


def save_router(router, path: str | Path) -> Path:
    """Write ``router``'s state, hyperparameters and settings to the folder ``path``, with its
    in-flight tickets (``live``: JSON; ``tickets``: their embeddings, when there are any).

    Never deletes what it did not write: an existing path that is not a router checkpoint (a
    file, or a folder with anything besides Orbax's router layout) is refused with a
    :class:`~messjax.errors.CheckpointError`. The checkpoint is written to a hidden sibling
    folder first and then swapped into place, so an older checkpoint at ``path`` stays
    complete until the new one is."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    if path.exists() or path.is_symlink():
        ours, foreign = _is_router_checkpoint(path)
        if not ours:
            what = (
                "a file"
                if not path.is_dir()
                else f"a folder holding {', '.join(foreign[:5]) or 'nothing of a checkpoint'}"
            )
            raise CheckpointError(
                f"{path} is {what}, not a router checkpoint: refusing to replace it; "
                "save to a new path (or remove it yourself)"
            )
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot save a router to {path}: no folder {path.parent}")
    meta = {
        "format": ROUTER_FORMAT,
        "models": list(router.models),
        "seed": int(router.seed),
        "featurizer": router.featurizer,
        "config": dataclasses.asdict(router.config),
        "policy": router.policy,
    }
    if router.policy_params is not None:
        meta["policy_params"] = list(POLICY_PARAM_NAMES)
        meta["hold_rule"] = HOLD_RULE
    tree = {"state": router.state, "hparams": router.hparams}
    if router.policy_params is not None:
        tree["policy_params"] = router.policy_params
    live = router.live_meta()
    items = {
        "router": ocp.args.StandardSave(tree),
        "meta": ocp.args.JsonSave(meta),
        "live": ocp.args.JsonSave(live),
    }
    pending = router.pending()
    if pending:
        items["tickets"] = ocp.args.StandardSave({"x": np.stack([t.x for t in pending])})
    _drop_leftovers(path)
    tmp = temp_sibling(path, _ROUTER_TMP)
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
            ckptr.save(tmp, args=ocp.args.Composite(**items))
        if not (tmp / COMMIT_MARKER).is_file():  # Orbax writes it on local file systems
            (tmp / COMMIT_MARKER).write_text("messjax: checkpoint complete\n")
        replace_dir(tmp, path, _ROUTER_OLD)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _drop_leftovers(path: Path) -> None:
    """Remove what earlier saves to ``path`` cut short by a kill left beside it: hidden
    ``.<name>.<random>.messjax-router-tmp`` folders (a new checkpoint, finished or not, or the
    previous one after the swap) and ``...messjax-router-old`` ones (the previous checkpoint
    moved aside where the swap is not atomic). Only while ``path`` holds a complete
    checkpoint: otherwise a leftover may be the only copy, which :func:`restore_router`'s
    error names."""
    if not (path / COMMIT_MARKER).is_file():
        return  # a leftover may hold the only copy (``restore``'s error names it)
    name = glob.escape(path.name)
    for pattern in (f".{name}.*{_ROUTER_TMP}*", f".{name}.*{_ROUTER_OLD}"):
        for p in path.parent.glob(pattern):
            shutil.rmtree(p, ignore_errors=True)


def _restored_policy_params(path: Path, saved: dict):
    """The saved policy leaves, as saved; a value the current checks refuse (a router saved
    before they existed) is restored with a warning naming it."""
    try:
        check_policy_params(saved)
    except ConfigError as e:
        warnings.warn(
            f"router checkpoint {path}: {e} (saved before this was checked); restored as saved",
            stacklevel=4,
        )
    return default_policy_params(validate=False, **saved)


def _interrupted_save_hint(path: Path) -> str:
    name = glob.escape(path.name)
    new = [p for p in path.parent.glob(f".{name}.*{_ROUTER_TMP}") if (p / COMMIT_MARKER).is_file()]
    if new:  # the swap's second rename never happened: the new checkpoint is complete
        return (
            f"; an interrupted save left its complete new checkpoint at {new[0]}: rename it "
            f"to {path}"
        )
    old = sorted(path.parent.glob(f".{name}.*{_ROUTER_OLD}"))
    if old:
        return (
            f"; an interrupted save left the previous checkpoint at {old[-1]}: rename it to {path}"
        )
    return ""


def restore_router(path: str | Path, cls):
    """A router of class ``cls`` (:class:`~messjax.router.Router`, whose ``restore`` calls
    this) in the exact state saved at ``path``.

    Checks first that ``path`` is a complete checkpoint (Orbax's commit marker, readable
    metadata); every problem is one :class:`~messjax.errors.CheckpointError` line."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    if not path.is_dir():
        what = "no router checkpoint" if not path.exists() else "not a router checkpoint (a file)"
        raise CheckpointError(f"{what} at {path}{_interrupted_save_hint(path)}")
    ours, foreign = _is_router_checkpoint(path)
    if not ours:
        raise CheckpointError(
            f"{path} is not a router checkpoint (it holds {', '.join(foreign[:5]) or 'no meta/'})"
        )
    for marker in (path / COMMIT_MARKER, path / "router" / COMMIT_MARKER):
        if not marker.is_file():
            raise CheckpointError(
                f"router checkpoint {path} is incomplete (no {marker.relative_to(path)}: its save "
                "did not finish); restore an older copy or save the router again"
            )
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
            meta = ckptr.restore(path, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
            if not isinstance(meta, dict) or meta.get("format") != ROUTER_FORMAT:
                got = meta.get("format") if isinstance(meta, dict) else meta
                raise CheckpointError(f"{path}: unsupported router checkpoint format {got!r}")
            config = EngineConfig(**meta["config"])
            seed = int(meta["seed"])
            models, featurizer = list(meta["models"]), meta["featurizer"]
            policy = meta.get("policy", "messplus")  # checkpoints from before policies
            # The restore target: same tree structure, shapes and dtypes as a fresh router.
            hp = make_hparams(validate=False)
            if policy == "messjax":
                pp = default_policy_params()
                saved = meta.get("policy_params", _EARLY_POLICY_PARAMS)
                target = {
                    "state": init_policy(
                        jax.random.PRNGKey(seed), config.num_models, config.feature_dim, hp, pp
                    ),
                    "hparams": hp,
                    "policy_params": {k: getattr(pp, k) for k in saved},
                }
            elif policy == "messplus":
                target = {"state": init_state(jax.random.PRNGKey(seed), config), "hparams": hp}
            else:
                raise CheckpointError(f"{path}: unknown routing policy {policy!r}")
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
            tree = ckptr.restore(
                path, args=ocp.args.Composite(router=ocp.args.StandardRestore(abstract))
            )["router"]
            live, xs = None, None
            if (path / "live").is_dir():  # checkpoints from before tickets have none
                live = ckptr.restore(path, args=ocp.args.Composite(live=ocp.args.JsonRestore()))[
                    "live"
                ]
                if live["tickets"]:
                    xs = ckptr.restore(
                        path, args=ocp.args.Composite(tickets=ocp.args.StandardRestore())
                    )["tickets"]["x"]
    except (KeyboardInterrupt, CheckpointError):
        raise
    except Exception as e:  # orbax / tensorstore / json raise many kinds
        raise CheckpointError(
            f"router checkpoint {path} is corrupt ({brief(e)}); restore an older copy or save "
            "the router again"
        ) from None
    router = cls(
        models,
        config,
        tree["hparams"],
        seed=seed,
        featurizer=featurizer,
        state=tree["state"],
        policy=policy,
        policy_params=(
            _restored_policy_params(path, tree["policy_params"])
            if "policy_params" in tree
            else None
        ),
    )
    pp = router.policy_params
    if pp is not None and meta.get("hold_rule") != HOLD_RULE and np.isfinite(pp.infeasible_cap):
        warnings.warn(
            f"{path} was saved with the out-of-reach hold on (infeasible_cap = "
            f"{float(pp.infeasible_cap):g}) under its earlier rule (every model judged on "
            "infeasible_min_labels labels, p + z std < alpha); it now runs the per-request rule "
            "(the dearest model judged, each request's draws), with the saved "
            f"infeasible_min_labels = {float(pp.infeasible_min_labels):g} (the default is now "
            "100; see the README's out-of-reach hold)",
            stacklevel=3,
        )
    if live is not None:
        router.load_live(live, None if xs is None else np.asarray(xs))
    return router
