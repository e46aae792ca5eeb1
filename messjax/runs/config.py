"""Sweep configs: a typed, validated dataclass read from YAML, with ``--set key=value`` overrides.

A config names the data (a zoo and its tasks), the predictor (featurizer, head) and the grid
(seeds x alpha x V x c x ...) of one sweep. Every value is checked when the config is built and
every error is a :class:`~messjax.errors.ConfigError` naming the key::

    cfg = load_config("configs/llama3/arc_challenge.yaml", ["V=[1e-4]", "wandb.mode=disabled"])
    cfg.axes_for("arc_challenge")             # the grid's axes for that task

Keys left out take the defaults of :class:`SweepConfig`; ``alpha``, ``learning_rate``,
``epochs`` and ``momentum`` left out (or ``null``) take the paper's values for each task
(:data:`messjax.paper.ALPHA_GRID`, :func:`messjax.paper.predictor_preset`). The key
``paper: <zoo>/<task>`` stands for the authors' whole sweep of that task
(:func:`paper_sweep`; :mod:`messjax.paper` is the one source of the paper's grids): the paper
configs ``configs/<zoo>/<task>.yaml`` give it and only the settings one may edit.
The default config of ``messjax run`` is :data:`DEFAULT_YAML`, shipped in the package (it
works from an installed wheel). Grid values are checked by the engine's own rules
(:func:`messjax.core.types.check_hparams`, :class:`~messjax.core.types.EngineConfig`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from messjax import paper
from messjax.core.names import COST_ESTIMATORS, HEADS, HPARAM_NAMES, SPARSE_TRAINING
from messjax.errors import ConfigError, did_you_mean
from messjax.yamlfile import dump_yaml, parse_yaml, read_yaml, type_name

#: Zoos a config may name besides a path to a log folder or CSV (see messjax.data.ZOOS).
SYNTHETIC = "synthetic"
REAL_ZOOS = ("llama3", "qwen2", "llama3+qwen2")
ZOO_NAMES = (SYNTHETIC, *REAL_ZOOS)
COSTS = ("energy", "time")
FEATURIZERS = ("hash", "minilm")
METHODS = ("fast", "generic")
WANDB_MODES = ("offline", "online", "disabled")

#: The default config of ``messjax run`` (package data: installed with the wheel).
DEFAULT_YAML = Path(__file__).with_name("default.yaml")


# ----------------------------------------------------------------------------- sections
@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the requests come from.

    Attributes:
      cost: ``energy`` (GPU joules, the paper's tables) or ``time`` (seconds) of MESS+ logs.
      num_requests: requests per task: generated for ``zoo: synthetic``; for a real zoo the
        first N requests of each task in file order (``null``: all).
      preset: synthetic zoo preset (``llama3``, ``qwen2``, ``toy``); synthetic only.
      seed: generator seed of the synthetic zoo (the request order is shuffled per sweep seed).
      missing: ``error`` (default) or ``drop``: what a log row with an empty score or cost cell
        does (``drop``: dropped with a warning counting them per model and task).
      prices: ``(model, dollars per request)`` pairs for RouteLLM logs (no cost columns); in
        YAML a mapping, a list of pairs, or the path of a JSON/YAML price file.
    """

    cost: str = "energy"
    num_requests: int | None = None
    preset: str = "llama3"
    seed: int = 0
    missing: str = "error"
    prices: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class WandbConfig:
    """Weights & Biases: one run per sweep, written under ``OUT/wandb``.

    Attributes:
      mode: ``offline`` (default; ``wandb sync OUT/wandb/offline-run-*`` uploads later),
        ``online`` or ``disabled``.
      project, group, job_type: the run's project, group (default ``<zoo>/<tasks>``) and job
        type, so that sweeps of one task land side by side.
      tags: extra run tags.
    """

    mode: str = "offline"
    project: str = "messjax"
    group: str | None = None
    job_type: str = "sweep"
    tags: tuple[str, ...] = ()


#: Grid axes a config may list: every Hyperparams leaf.
AXES = HPARAM_NAMES


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """One sweep: data, predictor, grid, run settings. Build with :func:`config_from_dict`.

    Grid axes (``alpha`` .. ``training_cost``) are tuples (one value = a fixed setting);
    ``None`` for ``alpha`` / ``learning_rate`` / ``epochs`` / ``momentum`` means the paper's
    value per task.

    Attributes:
      zoo: ``synthetic``, ``llama3``, ``qwen2``, ``llama3+qwen2`` or a path to MESS+ /
        RouterBench logs.
      tasks: the tasks to sweep, one grid per task (empty: every task of the zoo).
      featurizer: ``hash`` (4096-d hashed n-grams) or ``minilm`` (frozen all-MiniLM-L6-v2).
      head: ``linear`` or ``mlp`` (the paper's Linear-LayerNorm-ReLU-Dropout-Linear).
      replay: exploration replay buffer of the predictor (0: the paper; see
        :class:`messjax.core.types.EngineConfig`).
      input_dropout, n_dup: the MLP head's dropout on the input embedding (paper: 0.1) and the
        copies of the example per gradient step (``None``: the paper's, 14 for 3 models; 1: off).
      method: ``fast`` (factorised learner/routing passes) or ``generic`` (the full step).
      seeds: episode seeds; each shuffles the request order and draws the coins.
      trace_every: keep running totals every k requests for the curves (``None``: none).
      chunk_size: cells per jitted call and per checkpoint (``None``: one chunk per task).
    """

    zoo: str = SYNTHETIC
    tasks: tuple[str, ...] = ()
    data: DataConfig = DataConfig()
    featurizer: str = "hash"
    head: str = "mlp"
    replay: int = 0
    input_dropout: float = 0.1
    n_dup: int | None = None
    method: str = "fast"
    seeds: tuple[int, ...] = paper.SEEDS
    alpha: tuple[float, ...] | None = None
    V: tuple[float, ...] = paper.V_GRID
    c: tuple[float, ...] = paper.C_GRID
    learning_rate: tuple[float, ...] | None = None
    epochs: tuple[int, ...] | None = None
    feedback_rate: tuple[float, ...] = (1.0,)
    cost_estimator: tuple[str, ...] = ("last_explore",)
    inference_cost: tuple[float, ...] = (0.0,)
    training_cost: tuple[float, ...] = (0.0,)
    relative_V: tuple[int, ...] = (0,)
    momentum: tuple[float, ...] | None = None
    sparse_training: tuple[str, ...] = ("feedback_only",)
    trace_every: int | None = 10
    chunk_size: int | None = None
    wandb: WandbConfig = WandbConfig()

    # --------------------------------------------------------------------- per task
    @property
    def is_synthetic(self) -> bool:
        return self.zoo == SYNTHETIC

    def alpha_for(self, task: str) -> tuple[float, ...]:
        """The alphas of ``task``: the config's, else the paper's grid for the zoo."""
        if self.alpha is not None:
            return self.alpha
        zoo = self.data.preset if self.is_synthetic else self.zoo
        grid = paper.ALPHA_GRID.get(zoo, {}).get(task)
        if grid is None:
            paper_tasks = list(paper.ALPHA_GRID.get(zoo, {}))
            hint = did_you_mean(task, paper_tasks, cutoff=0.5) if paper_tasks else ""
            raise ConfigError(
                "alpha",
                f"no paper alpha grid for zoo {zoo!r}, task {task!r}{hint} (paper tasks: "
                f"{', '.join(paper_tasks) or 'none'}): check the task name, or give alpha, "
                "e.g. --set alpha=[0.5,0.6]",
            )
        return tuple(grid)

    def predictor_for(
        self, task: str
    ) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
        """(epochs, learning_rate, momentum) of ``task``: the config's, else the authors'
        preset."""
        epochs, lr, momentum = paper.predictor_preset(task)
        return (
            self.epochs if self.epochs is not None else (epochs,),
            self.learning_rate if self.learning_rate is not None else (lr,),
            self.momentum if self.momentum is not None else (momentum,),
        )

    def axes_for(self, task: str) -> dict[str, tuple]:
        """Every grid axis of ``task`` with the per-task defaults filled in."""
        epochs, lr, momentum = self.predictor_for(task)
        axes = {k: getattr(self, k) for k in AXES}
        axes.update(alpha=self.alpha_for(task), epochs=epochs, learning_rate=lr, momentum=momentum)
        return axes

    def engine_options(self) -> dict[str, Any]:
        """The :class:`~messjax.core.types.EngineConfig` fields this config sets."""
        return dict(replay=self.replay, input_dropout=self.input_dropout, n_dup=self.n_dup)

    def num_cells(self, task: str) -> int:
        n = len(self.seeds)
        for v in self.axes_for(task).values():
            n *= len(v)
        return n

    def wandb_group(self) -> str:
        return self.wandb.group or f"{self.zoo}/{'+'.join(self.tasks) or 'all'}"

    # ---------------------------------------------------------------------- output
    def resolve(self, tasks: Sequence[str]) -> SweepConfig:
        """The config with ``tasks`` filled in and, for a single task, its paper defaults
        (alpha, learning rate, epochs, momentum) written out."""
        cfg = dataclasses.replace(self, tasks=tuple(tasks))
        if len(cfg.tasks) == 1:
            (task,) = cfg.tasks
            epochs, lr, momentum = cfg.predictor_for(task)
            cfg = dataclasses.replace(
                cfg,
                alpha=cfg.alpha_for(task),
                epochs=epochs,
                learning_rate=lr,
                momentum=momentum,
            )
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready dict; one-value axes are written as scalars."""

        def plain(v):
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            return v

        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if dataclasses.is_dataclass(v):
                out[f.name] = {k: plain(x) for k, x in dataclasses.asdict(v).items()}
            elif f.name in AXES and isinstance(v, tuple) and len(v) == 1:
                out[f.name] = v[0]
            else:
                out[f.name] = plain(v)
        return out

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())


# ------------------------------------------------------------------------ validation
def unknown_choice(what: str, value: str, known: Sequence[str]) -> str:
    hint = did_you_mean(value, known, cutoff=0.5)
    return f"unknown {what} {value!r}{hint} (known: {', '.join(known)})"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _as_int(key: str, v: Any, *, minimum: int | None = None, allow_none: bool = False):
    if v is None and allow_none:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(key, f"must be an integer, got {v!r} ({type_name(v)})")
    if minimum is not None and v < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {v}")
    return v


def _as_choice(key: str, v: Any, choices: Sequence[str]) -> str:
    if not isinstance(v, str):
        raise ConfigError(key, f"must be one of {', '.join(choices)}; got {v!r}")
    if v not in choices:
        raise ConfigError(key, unknown_choice("value", v, choices))
    return v


def _as_str(key: str, v: Any, *, allow_none: bool = False) -> str | None:
    if v is None and allow_none:
        return None
    if not isinstance(v, str) or not v:
        raise ConfigError(key, f"must be a non-empty string, got {v!r} ({type_name(v)})")
    return v


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def _axis(key: str, v: Any) -> tuple | None:
    """A grid axis: a value or a non-empty list of values, checked by
    :func:`messjax.core.types.check_hparams`."""
    if v is None:
        if key in ("alpha", "learning_rate", "epochs", "momentum"):
            return None
        raise ConfigError(key, "must be a value or a list of values, got null")
    values = _as_list(v)
    if not values:
        raise ConfigError(key, "empty list of values")
    out = _axis_values(key, values)
    if len(set(out)) != len(out):  # each cell would run twice and count twice in the tables
        raise ConfigError(key, f"duplicate value in {list(values)}")
    return out


def _axis_values(key: str, values: list) -> tuple:
    """The checked values of one grid axis (choices, ints or floats)."""
    if key in ("cost_estimator", "sparse_training"):
        choices = COST_ESTIMATORS if key == "cost_estimator" else SPARSE_TRAINING
        return tuple(_as_choice(key, x, choices) for x in values)
    if key == "epochs":  # 0 would never train the predictor: s_hat stays at its init
        values = [_as_int(key, x, minimum=1) for x in values]
    if key == "relative_V":
        values = [int(x) if isinstance(x, bool) else x for x in values]
    for x in values:
        if not _is_number(x):
            raise ConfigError(
                key, f"must be a number or a list of numbers, got {x!r} ({type_name(x)})"
            )
    from messjax.core.types import check_hparams

    check_hparams(**{key: values})
    if key in ("epochs", "relative_V"):
        return tuple(int(x) for x in values)
    return tuple(float(x) for x in values)


def _section(key: str, raw: Any, cls):
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"must be a mapping of {cls.__name__} keys, got {raw!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in known:
            raise ConfigError(f"{key}.{k}", unknown_choice("key", str(k), known))
    return dict(raw)


def _zoo(v: Any) -> str:
    v = _as_str("zoo", v)
    if v in ZOO_NAMES:
        return v
    if os.sep in v or "/" in v or v.endswith(".csv") or Path(v).exists():
        return v  # a log folder or CSV; read (and checked) when the sweep loads it
    raise ConfigError(
        "zoo", unknown_choice("zoo", v, ZOO_NAMES) + "; or give a path to a log folder or CSV file"
    )


def _prices(v: Any) -> tuple[tuple[str, float], ...]:
    """``data.prices``: a mapping, a list of ``[model, dollars]`` pairs or a price file path."""
    from messjax.data.loaders import parse_price, read_prices

    if isinstance(v, str):
        pairs = read_prices(v).items()
    elif isinstance(v, Mapping):
        pairs = [parse_price(f"{k}={x}") for k, x in v.items()]
    elif isinstance(v, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in v
    ):
        pairs = [parse_price(f"{k}={x}") for k, x in v]
    else:
        raise ConfigError("data.prices", f"expected a mapping model -> dollars, got {v!r}")
    return tuple(sorted((str(k), float(x)) for k, x in pairs))


def paper_sweep(name: str) -> dict[str, Any]:
    """What the key ``paper: <zoo>/<task>`` stands for: the authors' sweep of a paper task on
    the zoo's logs, from :mod:`messjax.paper` (its seeds, alphas for the zoo and task, V and c
    grids, the predictor preset of the task, and the wandb group ``<zoo>/<task>``)."""
    zoo, _, task = str(name).partition("/")
    if task not in paper.ALPHA_GRID.get(zoo, {}):
        known = [f"{z}/{t}" for z, grids in paper.ALPHA_GRID.items() for t in grids]
        raise ConfigError("paper", unknown_choice("paper sweep", str(name), known))
    epochs, lr, momentum = paper.predictor_preset(task)
    return {
        "zoo": zoo,
        "task": task,
        "seeds": list(paper.SEEDS),
        "alpha": list(paper.ALPHA_GRID[zoo][task]),
        "V": list(paper.V_GRID),
        "c": list(paper.C_GRID),
        "learning_rate": lr,
        "epochs": epochs,
        "momentum": momentum,
        "wandb": {"group": f"{zoo}/{task}"},
    }


def _with_paper_sweep(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with its ``paper`` key expanded (:func:`paper_sweep`) under its own keys (and
    sections)."""
    raw = dict(raw)
    if "paper" not in raw:
        return raw
    base = paper_sweep(raw.pop("paper"))
    if "task" in raw or "tasks" in raw:
        del base["task"]
    for k, v in base.items():
        if k not in raw:
            raw[k] = v
        elif isinstance(v, dict) and isinstance(raw[k], Mapping):
            raw[k] = {**v, **raw[k]}
    return raw


def config_from_dict(raw: Mapping[str, Any]) -> SweepConfig:
    """Validate a plain dict (e.g. parsed YAML) into a :class:`SweepConfig`.

    Raises :class:`ConfigError` naming the key for unknown keys (with the closest known key),
    wrong types and out-of-range values.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("<root>", f"a config must be a mapping of keys, got {type_name(raw)}")
    raw = _with_paper_sweep(raw)
    if "task" in raw:
        if "tasks" in raw:
            raise ConfigError("task", "give either task or tasks, not both")
        raw["tasks"] = raw.pop("task")
    known = [f.name for f in dataclasses.fields(SweepConfig)]
    for k in raw:
        if k not in known:
            raise ConfigError(str(k), unknown_choice("key", str(k), known))
    kw: dict[str, Any] = {}
    if "zoo" in raw:
        kw["zoo"] = _zoo(raw["zoo"])
    zoo = kw.get("zoo", SYNTHETIC)

    data = _section("data", raw.get("data"), DataConfig)
    dkw: dict[str, Any] = {}
    if "cost" in data:
        dkw["cost"] = _as_choice("data.cost", data["cost"], COSTS)
    if "num_requests" in data:
        dkw["num_requests"] = _as_int(
            "data.num_requests", data["num_requests"], minimum=1, allow_none=True
        )
    if "preset" in data:
        from messjax.data.synthetic import SYNTHETIC_PRESETS

        dkw["preset"] = _as_choice("data.preset", data["preset"], list(SYNTHETIC_PRESETS))
    if "seed" in data:
        dkw["seed"] = _as_int("data.seed", data["seed"], minimum=0)
    if "missing" in data:
        from messjax.data.loaders import MISSING

        dkw["missing"] = _as_choice("data.missing", data["missing"], list(MISSING))
    if data.get("prices") is not None:
        dkw["prices"] = _prices(data["prices"])
    kw["data"] = DataConfig(**dkw)
    if zoo == SYNTHETIC and kw["data"].cost != "energy":
        raise ConfigError("data.cost", "the synthetic zoo has energy costs only")

    if "tasks" in raw:
        tasks = raw["tasks"]
        tasks = [] if tasks is None else _as_list(tasks)
        tasks = [_as_str("tasks", t) for t in tasks]
        if len(set(tasks)) != len(tasks):
            raise ConfigError("tasks", f"duplicate task in {tasks}")
        if zoo == SYNTHETIC:
            from messjax.data.synthetic import SYNTHETIC_PRESETS

            preset_tasks = SYNTHETIC_PRESETS[kw["data"].preset].tasks
            for t in tasks:
                if t not in preset_tasks:
                    raise ConfigError(
                        "tasks",
                        unknown_choice(
                            f"task of synthetic preset {kw['data'].preset!r}:", t, preset_tasks
                        ),
                    )
        kw["tasks"] = tuple(tasks)

    for key, choices in (
        ("featurizer", FEATURIZERS),
        ("head", HEADS),
        ("method", METHODS),
    ):
        if key in raw:
            kw[key] = _as_choice(key, raw[key], choices)
    if "seeds" in raw:
        seeds = _as_list(raw["seeds"])
        if not seeds:
            raise ConfigError("seeds", "empty list of seeds")
        kw["seeds"] = tuple(_as_int("seeds", s, minimum=0) for s in seeds)
        from messjax.core.types import seed_array

        seed_array(kw["seeds"])  # PRNGKey takes 32 bits: a larger seed would wrap
        if len(set(kw["seeds"])) != len(kw["seeds"]):
            raise ConfigError("seeds", f"duplicate seed in {list(kw['seeds'])}")
    for key in AXES:
        if key in raw:
            kw[key] = _axis(key, raw[key])
    if "trace_every" in raw:  # null: no traces; 0 is refused (it reads like "every request")
        kw["trace_every"] = _as_int("trace_every", raw["trace_every"], minimum=1, allow_none=True)
    if "replay" in raw:
        kw["replay"] = _as_int("replay", raw["replay"])
    if "input_dropout" in raw:
        v = raw["input_dropout"]
        if not _is_number(v):
            raise ConfigError("input_dropout", f"must be a number, got {v!r}")
        kw["input_dropout"] = float(v)
    if "n_dup" in raw:
        kw["n_dup"] = _as_int("n_dup", raw["n_dup"], allow_none=True)
    engine = {k: kw[k] for k in ("replay", "input_dropout", "n_dup") if k in kw}
    if engine:  # the engine's own rules
        from messjax.core.types import EngineConfig

        EngineConfig(num_models=1, feature_dim=1, **engine)
    if "chunk_size" in raw:
        kw["chunk_size"] = _as_int("chunk_size", raw["chunk_size"], minimum=1, allow_none=True)

    wb = _section("wandb", raw.get("wandb"), WandbConfig)
    wkw: dict[str, Any] = {}
    if "mode" in wb:
        wkw["mode"] = _as_choice("wandb.mode", wb["mode"], WANDB_MODES)
    for k in ("project", "job_type"):
        if k in wb:
            wkw[k] = _as_str(f"wandb.{k}", wb[k])
    if "group" in wb:
        wkw["group"] = _as_str("wandb.group", wb["group"], allow_none=True)
    if "tags" in wb:
        wkw["tags"] = tuple(_as_str("wandb.tags", t) for t in _as_list(wb["tags"] or []))
    kw["wandb"] = WandbConfig(**wkw)
    cfg = SweepConfig(**kw)
    if cfg.alpha is None and cfg.tasks:
        for t in cfg.tasks:  # a missing paper grid is an error now, not mid-sweep
            try:
                cfg.alpha_for(t)
            except ConfigError:
                if cfg.is_synthetic or cfg.zoo in REAL_ZOOS:
                    raise
    return cfg


# ------------------------------------------------------------------------- overrides
def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b=VALUE"`` -> (["a", "b"], yaml value of VALUE)."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(item, "an override must look like KEY=VALUE (e.g. alpha=[0.5,0.6])")
    path = key.split(".")
    if any(not p for p in path):
        raise ConfigError(key, "empty part in a dotted key")
    return path, parse_yaml(value, source=key)


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``KEY=VALUE`` (dotted keys for sections) applied."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}
    for item in overrides:
        path, value = parse_override(item)
        if path == ["task"]:
            out.pop("tasks", None)
        elif path == ["tasks"]:
            out.pop("task", None)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    ".".join(path[: i + 1]), "is not a section (cannot set a sub-key)"
                )
            node = child
        node[path[-1]] = value
    return out


# ----------------------------------------------------------------------------- loading
def load_config(
    path: str | os.PathLike | None = None, overrides: Iterable[str] = ()
) -> SweepConfig:
    """Config from a YAML file (``None``: the default, :data:`DEFAULT_YAML`) plus
    ``KEY=VALUE`` overrides."""
    raw = default_config() if path is None else read_yaml(path)
    return config_from_dict(apply_overrides(raw, overrides))


def default_config() -> dict[str, Any]:
    """The default config of ``messjax run`` as a plain dict (a new one on every call)."""
    return read_yaml(DEFAULT_YAML)
