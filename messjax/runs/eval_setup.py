"""What ``messjax evaluate`` (and ``reproduce``, evaluate with the paper's settings) runs: the
methods, the SLA targets and the evaluation streams of a zoo.

This module imports no JAX, so the command line can build its options from it.

Streams (:func:`build_streams`): one per task (``tasks``, the default; each seed shuffles the
task), ``mixed`` (the selected tasks shuffled together into one stream with one alpha) or
``chain`` (the selected tasks concatenated in order, each segment shuffled per seed: the
paper's non-stationary stream, MESSPLUS.md section 2). Offline routers (RouteLLM- and
RouterDC-style) need training data, chosen per stream and named in the table:

- ``leave-one-task-out``: the zoo's other tasks (one stream per task, several tasks);
- ``other tasks``: a mixed stream or a chain of some tasks trains on the zoo's remaining tasks;
- ``split``: otherwise (one task, or a mixed stream of every task) a seeded train/test split of
  the stream (``train_fraction``, seeded by the first seed); then every method, MESS+
  included, is evaluated on the test part only, so all rows see the same requests.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from messjax.data.streams import permutation
from messjax.errors import ConfigError, did_you_mean
from messjax.paper import ALPHA_GRID, CHAIN_ALPHA, PAPER_ALPHA, predictor_preset

#: The paper's V = 1e-4 J^-1 times the largest model's mean energy per request on the authors'
#: Llama logs (Llama 3.3 70B: 1,618 J, the mean over the 8 paper tasks of its per-task means,
#: 1,000-2,230 J; `messjax data describe llama3`): 1e-4 * 1618 = 0.16. With ``relative_V = 1``
#: the argmin sees V * E_hat[m] / max_m E_hat[m], and max_m E_hat (the last exploration's costs)
#: is the 70B model's energy on that request, 1,618 J on average, so V_rel = 0.16 weighs cost
#: against the queue as the paper's absolute V does on its own logs, in any cost unit.
DEFAULT_RELATIVE_V = 0.16
DEFAULT_C = 0.1
DEFAULT_TRAIN_FRACTION = 0.25
TASKS, MIXED, CHAIN = "tasks", "mixed", "chain"
STREAMS = (TASKS, MIXED, CHAIN)
#: ``messjax reproduce``'s scenarios: ``main`` (one stream per task), ``chain`` (the paper's
#: non-stationary stream), ``sparse`` (as main with feedback on 20% of requests).
SCENARIOS = ("main", "chain", "sparse")
#: The non-stationary stream of the paper (MESSPLUS.md section 2, "Variants").
CHAIN_TASKS = ("arc_challenge", "piqa", "winogrande")
SPARSE_FEEDBACK_RATE = 0.2
#: The sparse scenario's default training rule: the authors' simulator.
SPARSE_TRAINING_DEFAULT = "all_explorations"


# ------------------------------------------------------------------------------ methods
@dataclasses.dataclass(frozen=True)
class Method:
    """A method name ``evaluate`` knows: what it is and whether it uses hindsight."""

    name: str
    help: str
    hindsight: bool = False


#: The registry of methods, in table order. The results come from
#: :func:`messjax.runs.evaluate.evaluate_stream` (MESS+, the project's policy, baselines);
#: ``single-<model>`` rows exist for every model of the zoo. A method plugs in with one line
#: here (and its result in ``evaluate_stream``).
METHODS: list[Method] = [
    Method("messplus", "MESS+ (the paper's rule; relative V by default, see --V)"),
    Method("messjax", "the project's own routing policy"),
    Method("oracle", "per-request LP floor with perfect hindsight", True),
    Method("mixture-lp", "cheapest model mixture meeting alpha from true accuracies", True),
    Method("educated-guess", "the authors' cost-blind mixture from true accuracies", True),
    Method("routellm-hindsight", "RouteLLM-style binary router, threshold set on the test", True),
    Method("routellm-train", "RouteLLM-style binary router, threshold set on training data"),
    Method("routerdc", "RouterDC-style router, argmax of its predictions (every alpha)"),
    Method("routerdc-alpha-hindsight", "RouterDC-style, per-alpha threshold on the test", True),
    Method("routerdc-alpha-train", "RouterDC-style, per-alpha threshold on training data"),
]
METHOD_ORDER = tuple(m.name for m in METHODS)
SINGLE = "single-"


def known_methods(models: Sequence[str]) -> list[str]:
    """Every method name ``--method`` accepts for a zoo with these models, in table order."""
    return [*METHOD_ORDER, *(f"{SINGLE}{m}" for m in reversed(models))]


def ordered_methods(names: Sequence[str], models: Sequence[str]) -> list[str]:
    """``names`` in table order: MESS+, its variants (``messplus-*``), the other methods of
    :data:`METHOD_ORDER`, the single models (largest first), then any others."""
    singles = [f"{SINGLE}{m}" for m in reversed(models)]
    order = list(METHOD_ORDER[:1]) + [n for n in names if n.startswith("messplus-")]
    order += list(METHOD_ORDER[1:]) + singles
    return [n for n in order if n in names] + [n for n in names if n not in order]


def select_methods(requested: Sequence[str] | None, models: Sequence[str]) -> list[str] | None:
    """The ``--method`` names (comma lists and repeats allowed), checked; ``None`` = all.

    ``single`` selects every ``single-<model>`` row.
    """
    if not requested:
        return None
    known = known_methods(models)
    out: list[str] = []
    for item in (n.strip() for r in requested for n in r.split(",")):
        if not item:
            continue
        names = [n for n in known if n.startswith(SINGLE)] if item == "single" else [item]
        for n in names:
            if n not in known:
                raise ConfigError(
                    "method",
                    f"unknown method {n!r}{did_you_mean(n, known)}; "
                    f"known methods: {', '.join(known)}",
                )
            if n not in out:
                out.append(n)
    return out


# ------------------------------------------------------------------------------ alphas
def zoo_alphas(zoo: str) -> dict[str, float]:
    """The paper's SLA targets per task: the paper's for Llama (and the joined zoo), the middle
    of the authors' grid for Qwen (``qwen2``, ``synthetic-qwen2``)."""
    if zoo.endswith("qwen2") and "llama3" not in zoo:
        return {t: g[len(g) // 2] for t, g in ALPHA_GRID["qwen2"].items()}
    return dict(PAPER_ALPHA)


@dataclasses.dataclass(frozen=True)
class Alphas:
    """SLA targets from ``--alpha``: one for every task, per-task ones, or the paper's.

    ``--alpha 0.8`` (every task), ``--alpha boolq=0.8,arc_easy=0.75`` or repeated
    ``--alpha boolq=0.8 --alpha 0.7`` (per task, the plain value for the rest), ``--alpha paper``
    (the paper's per-task targets, :func:`zoo_alphas`, for its zoos).
    """

    default: float | None = None
    per_task: dict[str, float] = dataclasses.field(default_factory=dict)
    paper: bool = False

    @classmethod
    def parse(cls, values: Sequence[str] | None) -> Alphas:
        default, per_task, paper = None, {}, False
        for item in (v.strip() for raw in values or [] for v in str(raw).split(",")):
            if not item:
                continue
            if item == "paper":
                paper = True
            elif "=" in item:
                task, _, value = item.rpartition("=")
                if task.strip() in per_task:
                    raise ConfigError("alpha", f"two alphas given for task {task.strip()!r}")
                per_task[task.strip()] = _alpha(value, f"alpha {task.strip()}")
            else:
                if default is not None:
                    raise ConfigError("alpha", f"two plain alphas given ({default:g}, {item})")
                default = _alpha(item, "alpha")
        return cls(default, per_task, paper)

    def for_tasks(
        self, tasks: Sequence[str], zoo_tasks: Sequence[str], zoo: str
    ) -> dict[str, float]:
        """task -> alpha for every task; a missing alpha or an unknown task is an error."""
        for t in self.per_task:
            if t not in zoo_tasks:
                raise ConfigError(
                    "alpha",
                    f"alpha given for task {t!r}, which the zoo does not have"
                    f"{did_you_mean(t, zoo_tasks)}; "
                    f"tasks: {', '.join(zoo_tasks)}",
                )
        paper = zoo_alphas(zoo) if self.paper else {}
        out = {}
        for t in tasks:
            a = self.per_task.get(t, self.default if self.default is not None else paper.get(t))
            if a is None:
                raise ConfigError(
                    "alpha",
                    f"no alpha for task {t!r}: give --alpha A (every task) or --alpha {t}=A"
                    + (" (the paper has no alpha for it)" if self.paper else ""),
                )
            out[t] = a
        return out

    def single(self) -> float:
        """The one alpha of a mixed stream."""
        if self.per_task or self.paper or self.default is None:
            raise ConfigError(
                "alpha",
                "--stream mixed serves all tasks as one stream with one SLA target: give one "
                "plain --alpha A"
                + (" (not per-task alphas)" if self.per_task or self.paper else ""),
            )
        return self.default

    def default_tasks(self, zoo_tasks: Sequence[str], zoo: str) -> list[str]:
        """The tasks to evaluate when none are named: with the paper's targets (and no plain
        alpha), the tasks that have one; otherwise every task of the zoo."""
        if self.paper and self.default is None:
            has = set(self.per_task) | set(zoo_alphas(zoo))
            return [t for t in zoo_tasks if t in has] or list(zoo_tasks)
        return list(zoo_tasks)


def _alpha(value: str, key: str) -> float:
    try:
        a = float(value)
    except ValueError:
        raise ConfigError(key, f"not a number: {value!r}") from None
    if not 0.0 < a < 1.0:
        raise ConfigError(key, f"must be in (0, 1), got {value}")
    return a


# ------------------------------------------------------------------------------ streams
@dataclasses.dataclass
class StreamSpec:
    """One evaluation stream: the test table, its training table, alpha and MESS+ settings."""

    name: str
    test_index: np.ndarray  # rows of the zoo table, unshuffled (segments in chain order)
    train_index: np.ndarray  # rows the offline routers learn from
    alpha: float
    epochs: int
    learning_rate: float
    feedback_rate: float = 1.0
    segments: list[int] = dataclasses.field(default_factory=list)  # segment lengths, else [T]
    momentum: float = 0.9
    sparse_training: str = "feedback_only"
    #: the training rows are a split of this very stream (one task, or a mixed stream with no
    #: other task): the messjax policy starts from their labels, as the offline routers do
    train_is_split: bool = False

    def orders(self, seeds: Sequence[int]) -> dict[int, np.ndarray]:
        """Per seed: each segment shuffled with the seed (one segment = the sweep's order)."""
        out = {}
        for s in seeds:
            parts, start = [], 0
            for n in self.segments:
                parts.append(start + permutation(n, int(s)))
                start += n
            out[int(s)] = np.concatenate(parts)
        return out


def build_streams(
    table,
    tasks: Sequence[str],
    alphas: Alphas,
    stream: str = TASKS,
    zoo: str = "",
    *,
    feedback_rate: float = 1.0,
    sparse_training: str = SPARSE_TRAINING_DEFAULT,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    split_seed: int = 42,
) -> list[tuple[StreamSpec, str]]:
    """``[(StreamSpec, offline training label)]`` of ``stream`` (``tasks``, ``mixed`` or
    ``chain``) over ``tasks`` of ``table``; ``zoo`` names the paper's alphas (``--alpha
    paper``). With ``feedback_rate < 1`` the predictor trains by ``sparse_training``."""
    if stream not in STREAMS:
        raise ConfigError("stream", f"unknown stream {stream!r}; known: {', '.join(STREAMS)}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError("train-fraction", f"must be in (0, 1), got {train_fraction}")
    zoo_tasks = table.task_names
    for t in tasks:
        if t not in zoo_tasks:
            table.select_task(t)  # the DataError naming the known tasks
    rule = sparse_training if feedback_rate < 1 else "feedback_only"

    def split(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(test, train) rows: the first ``round(f n)`` of a seeded permutation train."""
        n_train = min(max(round(train_fraction * len(rows)), 1), len(rows) - 1)
        if len(rows) < 2:
            raise ConfigError("stream", f"cannot split a stream of {len(rows)} request(s)")
        perm = permutation(len(rows), split_seed)
        return np.sort(rows[perm[n_train:]]), np.sort(rows[perm[:n_train]])

    def spec(name, test, train, alpha, preset, segments, is_split=False) -> StreamSpec:
        epochs, lr, momentum = predictor_preset(preset)
        return StreamSpec(
            name, test, train, alpha, epochs, lr, feedback_rate, segments, momentum, rule, is_split
        )

    split_label = f"split ({train_fraction:.0%} of the stream trains, seed {split_seed})"
    if stream == CHAIN:  # a mixed stream: the default predictor preset
        per_task = alphas.for_tasks(tasks, zoo_tasks, zoo)
        parts = [np.flatnonzero(table.tasks == t) for t in tasks]
        sizes = [len(p) for p in parts]
        if tuple(tasks) == CHAIN_TASKS and all(per_task[t] == PAPER_ALPHA[t] for t in tasks):
            alpha = CHAIN_ALPHA  # the authors' notebook
        else:  # the request-weighted mean of the segments' alphas
            alpha = sum(per_task[t] * n for t, n in zip(tasks, sizes, strict=True)) / sum(sizes)
        train = np.flatnonzero(~np.isin(table.tasks, list(tasks)))
        if not len(train):
            raise ConfigError(
                "stream",
                "a chain of every task of the zoo leaves the offline routers no task to train "
                "on: leave one out",
            )
        test = np.concatenate(parts)
        name = "+".join(tasks)
        return [(spec(name, test, train, round(alpha, 4), CHAIN, sizes), "other tasks")]
    if stream == MIXED:
        alpha = alphas.single()
        alphas.for_tasks(tasks, zoo_tasks, zoo)  # unknown per-task names are still errors
        rows = np.flatnonzero(np.isin(table.tasks, list(tasks)))
        others = np.flatnonzero(~np.isin(table.tasks, list(tasks)))
        if len(others):
            test, train, label = rows, others, "other tasks"
        else:
            (test, train), label = split(rows), split_label
        is_split = not len(others)
        return [(spec(MIXED, test, train, alpha, MIXED, [len(test)], is_split), label)]
    per_task = alphas.for_tasks(tasks, zoo_tasks, zoo)
    specs = []
    for t in tasks:
        rows = np.flatnonzero(table.tasks == t)
        if len(zoo_tasks) > 1:
            test, train, label = rows, np.flatnonzero(table.tasks != t), "leave-one-task-out"
        else:
            (test, train), label = split(rows), split_label
        is_split = len(zoo_tasks) == 1
        specs.append((spec(t, test, train, per_task[t], t, [len(test)], is_split), label))
    return specs


def paper_streams(
    table,
    zoo: str,
    scenario: str = "main",
    tasks: Sequence[str] | None = None,
    sparse_training: str = SPARSE_TRAINING_DEFAULT,
) -> list[tuple[StreamSpec, str]]:
    """The streams of a ``messjax reproduce`` scenario over ``table`` at the paper's alphas
    (:func:`zoo_alphas`): ``main`` and ``sparse`` one per task with an alpha (or ``tasks``),
    ``chain`` the concatenation of ``tasks`` (default :data:`CHAIN_TASKS`)."""
    if scenario not in SCENARIOS:
        raise ConfigError("scenario", f"unknown scenario {scenario!r}; known: {SCENARIOS}")
    alphas = Alphas(paper=True)
    if scenario == "chain":
        return build_streams(table, list(tasks or CHAIN_TASKS), alphas, CHAIN, zoo)
    sparse = scenario == "sparse"
    return build_streams(
        table,
        list(tasks or alphas.default_tasks(table.task_names, zoo)),
        alphas,
        TASKS,
        zoo,
        feedback_rate=SPARSE_FEEDBACK_RATE if sparse else 1.0,
        sparse_training=sparse_training,
    )


# ------------------------------------------------------------------------------ zoos
def first_requests(table, n: int | None):
    """The first ``n`` rows of every task of ``table`` (to shrink a run); all with ``None``."""
    if not n:
        return table
    keep = [np.flatnonzero(table.tasks == t)[:n] for t in table.task_names]
    return table.take(np.sort(np.concatenate(keep)))


def load_table(
    zoo: str, data_dir: str | None, max_requests: int | None = None, command: str = "reproduce"
):
    """``(table, zoo name)``: a zoo name or log folder, or ``synthetic[:<preset>]`` (the
    embedded synthetic zoo); ``max_requests`` keeps the first rows of every task (to shrink a
    run). Loading notes go to stderr as ``messjax <command>: note: ...``."""
    from messjax.data import load_zoo, synthetic_zoo

    if zoo.startswith("synthetic"):
        preset = zoo.partition(":")[2] or "llama3"
        table = synthetic_zoo(preset, num_requests=max_requests)
        name = f"synthetic-{preset}"
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = load_zoo(zoo, data_dir=data_dir)
        for w in caught:
            print(f"messjax {command}: note: {w.message}", file=sys.stderr)
        name = zoo if zoo in ("llama3", "qwen2", "llama3+qwen2") else table.name
    return first_requests(table, max_requests), name
