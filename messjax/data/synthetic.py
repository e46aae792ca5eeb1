"""The embedded synthetic zoo: routing tables generated offline, calibrated to the MESS+ logs.

:func:`synthetic_zoo` builds a :class:`~messjax.data.table.RoutingTable` without any download.
The generator is an item-response-theory (IRT) model, per task:

- each request ``t`` has a latent difficulty ``z_t ~ N(0, 1)`` and a latent length
  ``l_t = rho * z_t + sqrt(1 - rho^2) * N(0, 1)`` (harder requests tend to be longer);
- model ``m`` satisfies request ``t`` with probability
  ``P(s[m, t] = 1) = sigmoid(k * (a_m - z_t) + eps[m, t])``, where ``k`` is the task's
  discrimination, ``a_m`` the model's skill on the task and ``eps[m, t] ~ N(0, tau^2)`` a small
  per-request, per-model perturbation: models share the difficulty (correlated labels) but no
  model dominates another request by request (not nested);
- labels are Bernoulli draws, written as ``s = 1[k * (a_m - z_t) + eps + L > 0]`` with logistic
  noise ``L``. The skill ``a_m`` is calibrated on the drawn sample: it is the threshold at which
  exactly ``round(accuracy * T)`` requests are satisfied, so the generated per-task accuracy equals
  the preset's target up to rounding (``1 / (2T)``) for every seed and every ``T``;
- cost ``E[m, t] = mean_cost[m] * f[m, t]`` with a lognormal factor
  ``log f = slope * l_t + sigma_m * N(0, 1)`` rescaled to sample mean 1, so the per-task mean
  cost equals the target and cost varies per request like measured GPU energy;
- the text of a request carries a learnable signal about ``z_t``: its words mix shared filler
  words, the task's own vocabulary and "difficulty" words that are drawn from a hard vocabulary
  with probability ``sigmoid(gamma * z_t)`` and from an easy one otherwise; its length grows with
  ``l_t``. A hashed n-gram featurizer plus a linear classifier predicts which models succeed
  better than chance, but not perfectly.

Randomness: one ``numpy.random.default_rng([seed, j])`` per task, ``j`` the task's index in the
preset, so a task's rows do not depend on which other tasks are generated. No global RNG.

The presets' targets (per task and model: accuracy, mean energy in joules; per model: spread of
log-energy; per task: mean words per text, mean pairwise label correlation) were computed from
the authors' logs in ``shared/data/messplus-llama3`` and ``shared/data/messplus-qwen2``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from messjax.data.table import RoutingTable
from messjax.errors import ConfigError, DataError

__all__ = ["SYNTHETIC_PRESETS", "SyntheticPreset", "synthetic_zoo"]


@dataclasses.dataclass(frozen=True)
class SyntheticPreset:
    """Targets and shape of one synthetic zoo.

    Attributes:
      models: model names, cheapest first (ascending mean cost over the preset's tasks).
      accuracy: task -> per-model target accuracy (fraction of satisfied requests).
      energy: task -> per-model target mean cost per request, in joules.
      cost_log_sd: per-model standard deviation of log-cost around the task mean (noise part).
      discrimination: task -> IRT discrimination ``k`` (larger: labels more determined by the
        shared difficulty, hence more correlated across models and more predictable from text).
      text_words: task -> mean number of words per request text.
      text_signal: ``gamma``: a difficulty word is "hard" with probability
        ``sigmoid(gamma * z_t)`` (larger: texts predict the labels better; at 0 only the
        text length still correlates with difficulty).
      num_requests: default number of requests per task.
      description: one line for listings.
    """

    models: tuple[str, ...]
    accuracy: Mapping[str, tuple[float, ...]]
    energy: Mapping[str, tuple[float, ...]]
    cost_log_sd: tuple[float, ...]
    discrimination: Mapping[str, float]
    text_words: Mapping[str, float]
    text_signal: float = 1.0
    num_requests: int = 1000
    description: str = ""

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.accuracy)


# Generator constants shared by the presets (see the module docstring).
_TAU = 0.5  # sd of the per-request, per-model logit perturbation eps
_LENGTH_RHO = 0.5  # correlation of the latent length with the difficulty
_LENGTH_LOG_SD = 0.35  # sd of log(words per text) explained by the latent length
_COST_LENGTH_SLOPE = 0.05  # d log(cost) / d latent length: +5% cost per sd of length
_DIFFICULTY_SHARE = 0.4  # share of a text's words that are difficulty words (at least 3)
_TASK_SHARE = 0.25  # share of a text's words from the task's vocabulary (at least 1)

# ------------------------------------------------------------------------------------ presets
# Per task: (accuracy per model, mean energy in J per model). Computed from
# shared/data/messplus-llama3/<task>.csv as the column means of label_<m> and
# energy_consumption_<m> (models small = Llama-3.2-1B, medium = Llama-3.1-8B 4-bit,
# large = Llama-3.3-70B 4-bit); request counts in the logs in the trailing comments.
_LLAMA3 = {
    "arc_challenge": ((0.3788, 0.5444, 0.6084), (79.87, 393.66, 2002.59)),  # 1172
    "arc_easy": ((0.6265, 0.7985, 0.8325), (81.54, 387.95, 2015.37)),  # 2000
    "boolq": ((0.6917, 0.8416, 0.8878), (43.57, 130.74, 1040.78)),  # 3270
    "logiqa": ((0.2719, 0.2903, 0.4931), (88.47, 412.69, 2098.22)),  # 651
    "piqa": ((0.7405, 0.7933, 0.8270), (38.62, 198.29, 1000.31)),  # 1838
    "sciq": ((0.9380, 0.9700, 0.9710), (97.46, 444.05, 2230.17)),  # 1000
    "social_iqa": ((0.4171, 0.4831, 0.4867), (67.69, 301.79, 1534.33)),  # 1954
    "winogrande": ((0.5967, 0.7364, 0.7908), (48.98, 200.45, 1018.42)),  # 1267
}
# Same for shared/data/messplus-qwen2/<task>.csv (xsmall = Qwen2-0.5B, small = Qwen2-1.5B,
# medium = Qwen2-7B 4-bit, large = Qwen2.5-32B 4-bit): a narrow cost spread. Note logiqa, where
# medium is cheaper than small on average, as in the logs.
_QWEN2 = {
    "arc_challenge": ((0.3003, 0.4010, 0.5094, 0.5828), (252.76, 275.53, 352.52, 547.62)),  # 1172
    "arc_easy": ((0.5488, 0.6662, 0.7542, 0.7820), (257.89, 282.89, 372.70, 560.59)),  # 2376
    "boolq": ((0.6309, 0.7627, 0.8413, 0.8960), (102.28, 105.10, 129.46, 227.15)),  # 3270
    "logiqa": ((0.2535, 0.2427, 0.3118, 0.4086), (254.48, 277.95, 257.32, 549.84)),  # 651
    "piqa": ((0.6915, 0.7606, 0.7949, 0.8041), (131.64, 142.45, 181.17, 279.01)),  # 1838
    "sciq": ((0.9120, 0.9440, 0.9550, 0.9670), (272.32, 298.10, 403.24, 589.26)),  # 1000
    "social_iqa": ((0.4335, 0.4637, 0.4821, 0.5092), (200.42, 219.44, 303.63, 429.85)),  # 1954
    "winogrande": ((0.5588, 0.6496, 0.7167, 0.7230), (137.61, 148.88, 207.16, 291.15)),  # 1267
}
# Mean words per input_text in the logs (the same questions in both zoos).
_TEXT_WORDS = {
    "arc_challenge": 22.6,
    "arc_easy": 19.8,
    "boolq": 8.7,
    "logiqa": 14.6,
    "piqa": 7.1,
    "sciq": 12.9,
    "social_iqa": 19.3,
    "winogrande": 19.1,
}
# IRT discrimination per task, tuned (bisection on 20,000 simulated requests) so that the mean
# pairwise correlation of the generated labels across models is close to the logs' (llama3 /
# qwen2 mean pairwise phi: arc_challenge
# .54/.49, arc_easy .52/.48, boolq .38/.28, logiqa .18/.16, piqa .67/.62, sciq .55/.55,
# social_iqa .70/.58, winogrande .33/.22).
_LLAMA3_K = {
    "arc_challenge": 3.5,
    "arc_easy": 3.7,
    "boolq": 2.6,
    "logiqa": 1.1,
    "piqa": 5.6,
    "sciq": 5.6,
    "social_iqa": 5.4,
    "winogrande": 1.9,
}
_QWEN2_K = {
    "arc_challenge": 3.0,
    "arc_easy": 3.0,
    "boolq": 1.8,
    "logiqa": 1.1,
    "piqa": 4.4,
    "sciq": 5.1,
    "social_iqa": 3.6,
    "winogrande": 1.3,
}
# Text signal: with 0.8, a bag-of-words logistic regression trained on 500 requests of a task
# reaches a held-out AUC of about 0.70 (0.55 .. 0.76 by task) for the smallest model's label.
# The real logs' question texts are weaker (the same probe gives about 0.50 .. 0.60): the
# synthetic zoo is meant to show learning, not to predict how well a real encoder does.
_TEXT_SIGNAL = 0.8

SYNTHETIC_PRESETS: dict[str, SyntheticPreset] = {
    "llama3": SyntheticPreset(
        models=("small", "medium", "large"),
        accuracy={t: acc for t, (acc, _) in _LLAMA3.items()},
        energy={t: en for t, (_, en) in _LLAMA3.items()},
        # sd of log(energy_consumption_<m>) within a task, averaged over the 8 tasks.
        cost_log_sd=(0.31, 0.04, 0.05),
        discrimination=_LLAMA3_K,
        text_words=_TEXT_WORDS,
        text_signal=_TEXT_SIGNAL,
        description="Llama-3 zoo (1B / 8B / 70B), 8 benchmarks, calibrated to the MESS+ logs",
    ),
    "qwen2": SyntheticPreset(
        models=("xsmall", "small", "medium", "large"),
        accuracy={t: acc for t, (acc, _) in _QWEN2.items()},
        energy={t: en for t, (_, en) in _QWEN2.items()},
        cost_log_sd=(0.18, 0.21, 0.52, 0.04),
        discrimination=_QWEN2_K,
        text_words=_TEXT_WORDS,
        text_signal=_TEXT_SIGNAL,
        description="Qwen2 zoo (0.5B / 1.5B / 7B / 32B), narrow cost spread, 8 benchmarks",
    ),
    "toy": SyntheticPreset(
        models=("small", "medium", "large"),
        accuracy={"toy": (0.5, 0.7, 0.85)},
        energy={"toy": (10.0, 40.0, 200.0)},
        cost_log_sd=(0.3, 0.1, 0.05),
        discrimination={"toy": 3.0},
        text_words={"toy": 14.0},
        text_signal=1.6,
        num_requests=400,
        description="tiny 3-model, 1-task zoo for unit tests",
    ),
}

# ------------------------------------------------------------------------------ vocabularies
_FILLER = tuple(
    """the a an of to in is which what when how and or that this for with on by
from be are was it as at most likely would does best following can will if not some its their
why should do has have into after before because then""".split()
)
_EASY = tuple(
    """simple basic common everyday familiar obvious direct plain clear usual routine
single small daily home water sun food friend school play walk warm cold red big happy quick
easy known typical ordinary standard short first same open light kind""".split()
)
_HARD = tuple(
    """multistep counterfactual implicit ambiguous abstract paradoxical nuanced
indirect obscure contradictory hypothetical nonlinear recursive latent subtle conditional
probabilistic asymmetric exceptional inverse derived compound technical specialized intricate
esoteric convoluted theoretical unusual rare stochastic heterogeneous tacit negated nested
oblique deductive inferential qualified equivocal""".split()
)
_TASK_VOCAB = {
    "arc_challenge": """energy force cell planet rock mineral circuit gravity organism atom heat
        magnet erosion climate orbit molecule reaction species fossil solar""",
    "arc_easy": """plant animal weather moon soil seed rain season habitat insect light sound
        metal bird tree river ocean shadow magnet star""",
    "boolq": """season series movie country law state team island river novel city episode
        character president election court actor album league border""",
    "logiqa": """argument premise conclusion assume therefore statement survey company
        researchers evidence claim policy unless only all none employees professor committee
        proposal""",
    "piqa": """bottle glue knife towel paint shirt cup oven rope tape spoon box paper nail
        brush door ice soap pan wood""",
    "sciq": """protein electron enzyme photosynthesis nucleus wavelength density acid bacteria
        membrane isotope vertebrate mitosis glucose ecosystem velocity neuron carbon chromosome
        pressure""",
    "social_iqa": """Alex Jordan Taylor Casey Riley feel wanted friends party help gift angry
        proud thank apologize invite upset surprise borrow promise""",
    "winogrande": """trophy suitcase jar lid Sarah Mark Emily Kevin garden kitchen couch car job
        interview diet gym blanket painting window recipe""",
    "toy": "alpha beta gamma delta omega sigma kappa theta lambda zeta",
}


def _task_vocab(task: str) -> tuple[str, ...]:
    return tuple(_TASK_VOCAB.get(task, "item object thing case example").split())


# ------------------------------------------------------------------------------ generation
def _resolve(preset: str, tasks, num_requests) -> tuple[SyntheticPreset, list[str], dict]:
    if not isinstance(preset, str) or preset not in SYNTHETIC_PRESETS:
        raise ConfigError(
            "preset",
            f"unknown synthetic preset {preset!r}; known presets: {', '.join(SYNTHETIC_PRESETS)}",
        )
    p = SYNTHETIC_PRESETS[preset]
    if tasks is None:
        names = list(p.tasks)
    else:
        names = [tasks] if isinstance(tasks, str) else list(tasks)
        if not names:
            raise ConfigError("tasks", "no tasks selected")
        for t in names:
            if t not in p.accuracy:
                raise DataError(
                    f"unknown task {t!r} in synthetic preset {preset!r}; known tasks: "
                    f"{', '.join(p.tasks)}",
                    source=None,
                )
        dup = sorted({t for t in names if names.count(t) > 1})
        if dup:
            raise ConfigError("tasks", f"duplicate task(s) {', '.join(dup)}")
    if num_requests is None:
        counts = dict.fromkeys(names, p.num_requests)
    elif isinstance(num_requests, Mapping):
        extra = sorted(set(num_requests) - set(names))
        if extra:
            raise ConfigError(
                "num_requests",
                f"counts given for task(s) {', '.join(extra)} "
                f"not selected; selected: {', '.join(names)}",
            )
        counts = {t: num_requests.get(t, p.num_requests) for t in names}
    else:
        counts = dict.fromkeys(names, num_requests)
    for t, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
            raise ConfigError(
                "num_requests", f"must be a positive integer, got {n!r} for task {t!r}"
            )
    return p, names, {t: int(n) for t, n in counts.items()}


def _labels(rng: np.random.Generator, z: np.ndarray, acc: np.ndarray, k: float) -> np.ndarray:
    """``[T, M]`` 0/1 labels: IRT latent + Bernoulli noise, skill calibrated on the sample."""
    T, M = len(z), len(acc)
    eps = rng.normal(0.0, _TAU, size=(T, M))
    u = rng.uniform(size=(T, M))
    logistic = np.log(u) - np.log1p(-u)
    # s = 1[k * (a_m - z) + eps + L > 0]  <=>  score > -k * a_m with score = -k z + eps + L.
    score = -k * z[:, None] + eps + logistic
    labels = np.zeros((T, M), dtype=np.float32)
    for m in range(M):
        n_sat = int(np.clip(np.round(acc[m] * T), 0, T))
        if n_sat:  # the n_sat highest scores: -k * a_m sits between ranks n_sat and n_sat + 1
            labels[np.argsort(-score[:, m], kind="stable")[:n_sat], m] = 1.0
    return labels


def _costs(
    rng: np.random.Generator, length: np.ndarray, mean_cost: np.ndarray, log_sd: np.ndarray
) -> np.ndarray:
    T, M = len(length), len(mean_cost)
    log_f = _COST_LENGTH_SLOPE * length[:, None] + log_sd[None, :] * rng.normal(size=(T, M))
    f = np.exp(log_f - log_f.max(axis=0, keepdims=True))
    return (mean_cost[None, :] * f / f.mean(axis=0, keepdims=True)).astype(np.float32)


def _texts(
    rng: np.random.Generator,
    z: np.ndarray,
    length: np.ndarray,
    task: str,
    mean_words: float,
    gamma: float,
) -> list[str]:
    T = len(z)
    vocab_task = _task_vocab(task)
    n_words = np.clip(
        np.round(mean_words * np.exp(_LENGTH_LOG_SD * length - _LENGTH_LOG_SD**2 / 2)), 5, 120
    )
    n_words = n_words.astype(np.int64)
    n_diff = np.maximum(3, np.round(_DIFFICULTY_SHARE * n_words)).astype(np.int64)
    n_task = np.maximum(1, np.round(_TASK_SHARE * n_words)).astype(np.int64)
    n_fill = np.maximum(1, n_words - n_diff - n_task)
    p_hard = 1.0 / (1.0 + np.exp(-gamma * z))
    # Draw every word index up front (vectorised), then assemble each text.
    tot_diff, tot_task, tot_fill = int(n_diff.sum()), int(n_task.sum()), int(n_fill.sum())
    hard = rng.uniform(size=tot_diff) < np.repeat(p_hard, n_diff)
    diff_words = np.where(
        hard,
        np.asarray(_HARD, dtype=object)[rng.integers(len(_HARD), size=tot_diff)],
        np.asarray(_EASY, dtype=object)[rng.integers(len(_EASY), size=tot_diff)],
    )
    task_words = np.asarray(vocab_task, dtype=object)[rng.integers(len(vocab_task), size=tot_task)]
    fill_words = np.asarray(_FILLER, dtype=object)[rng.integers(len(_FILLER), size=tot_fill)]
    order_keys = rng.uniform(size=int((n_diff + n_task + n_fill).sum()))
    texts = []
    i_d = i_t = i_f = i_o = 0
    for t in range(T):
        words = np.concatenate(
            [
                diff_words[i_d : i_d + n_diff[t]],
                task_words[i_t : i_t + n_task[t]],
                fill_words[i_f : i_f + n_fill[t]],
            ]
        )
        n = len(words)
        words = words[np.argsort(order_keys[i_o : i_o + n], kind="stable")]
        i_d, i_t, i_f, i_o = i_d + n_diff[t], i_t + n_task[t], i_f + n_fill[t], i_o + n
        text = " ".join(words.tolist())
        texts.append(text[0].upper() + text[1:] + "?")
    return texts


def _generate_task(p: SyntheticPreset, task: str, index: int, n: int, seed: int):
    rng = np.random.default_rng([seed, index])
    z = rng.normal(size=n)
    length = _LENGTH_RHO * z + np.sqrt(1.0 - _LENGTH_RHO**2) * rng.normal(size=n)
    labels = _labels(
        rng, z, np.asarray(p.accuracy[task], dtype=np.float64), float(p.discrimination[task])
    )
    costs = _costs(
        rng,
        length,
        np.asarray(p.energy[task], dtype=np.float64),
        np.asarray(p.cost_log_sd, dtype=np.float64),
    )
    texts = _texts(rng, z, length, task, float(p.text_words[task]), float(p.text_signal))
    return texts, labels, costs


def synthetic_zoo(
    preset: str = "llama3",
    *,
    tasks: str | Sequence[str] | None = None,
    num_requests: int | Mapping[str, int] | None = None,
    seed: int = 0,
) -> RoutingTable:
    """A synthetic routing table shaped like the MESS+ logs; needs no download.

    Args:
      preset: a key of :data:`SYNTHETIC_PRESETS` (``"llama3"``, ``"qwen2"``, ``"toy"``).
      tasks: task name(s) to generate, in this order (default: all of the preset's tasks).
      num_requests: requests per task: one int for every task, or task -> int (tasks not named
        get the preset's default); default the preset's ``num_requests`` (1000; toy 400).
      seed: non-negative int; the same seed gives identical tables.

    Returns:
      A :class:`RoutingTable` with ``cost_unit="J"``, ``name=f"synthetic-{preset}"``,
      ``source=f"<synthetic:{preset}>"``, the preset's models (cheapest first over the whole
      preset), rows grouped by task in the order requested, ids ``"0".."T-1"`` within each task.
      Per task, the accuracy of each model equals the preset's target up to ``1/(2T)`` and its
      mean cost equals the target mean energy (up to float32 rounding).

    Raises:
      ConfigError: unknown preset, bad ``num_requests`` (<= 0, not an int) or bad ``seed``.
      DataError: unknown task name (the message lists the preset's tasks).
    """
    p, names, counts = _resolve(preset, tasks, num_requests)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError("seed", f"must be a non-negative integer, got {seed!r}")
    texts, labels, costs, task_col, ids = [], [], [], [], []
    for task in names:
        n = counts[task]
        tx, lb, cs = _generate_task(p, task, p.tasks.index(task), n, int(seed))
        texts.extend(tx)
        labels.append(lb)
        costs.append(cs)
        task_col.extend([task] * n)
        ids.extend(str(i) for i in range(n))
    return RoutingTable(
        texts=np.asarray(texts, dtype=object),
        labels=np.concatenate(labels),
        costs=np.concatenate(costs),
        models=p.models,
        tasks=np.asarray(task_col, dtype=object),
        ids=np.asarray(ids, dtype=object),
        cost_unit="J",
        name=f"synthetic-{preset}",
        source=f"<synthetic:{preset}>",
    )
