"""Builders of routing-log files as public exports are written (used by the tests).

``routerbench_csv`` writes a RouterBench table as ``pandas.DataFrame.to_csv`` does: its row
index as a first column with an empty name, NaN as an empty cell, floats as ``repr``, minimal
quoting; ``crlf``/``bom`` give Windows line ends and a UTF-8 byte-order mark
(``to_csv(lineterminator="\\r\\n", encoding="utf-8-sig")``). ``routellm_folder`` writes
RouteLLM's evaluation files: one CSV per subject, ``prompt`` plus one True/False column per
model, some with ``<model>_response`` answer columns (as its GSM8K file).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: The 11 models of RouterBench, as its columns name them.
ROUTERBENCH_MODELS = (
    "WizardLM/WizardLM-13B-V1.2",
    "claude-instant-v1",
    "claude-v1",
    "claude-v2",
    "gpt-3.5-turbo-1106",
    "gpt-4-1106-preview",
    "meta/code-llama-instruct-34b-chat",
    "meta/llama-2-70b-chat",
    "mistralai/mistral-7b-chat",
    "mistralai/mixtral-8x7b-chat",
    "zero-one-ai/Yi-34B-Chat",
)
#: dollars per 1k characters (prompt + answer), roughly the public prices' ratios
PRICE_PER_KCHAR = (
    0.0002,
    0.0006,
    0.006,
    0.006,
    0.0005,
    0.0075,
    0.0002,
    0.0002,
    0.00005,
    0.00015,
    0.0002,
)
#: accuracy-like skill per model (a latent difficulty decides who answers)
SKILL = (0.45, 0.55, 0.62, 0.66, 0.6, 0.85, 0.42, 0.5, 0.38, 0.58, 0.6)


def _requests(n: int, rng: np.random.Generator, long_prompt_at: int | None):
    """Per request: difficulty in [0, 1] and a prompt whose words hint at it."""
    difficulty = rng.uniform(0, 1, n)
    prompts = []
    for i, d in enumerate(difficulty):
        words = "easy simple basic" if d < 0.4 else ("tricky" if d < 0.7 else "hard obscure proof")
        body = f"Question {i}: a {words} item, with commas, and 'quotes'"
        if i == long_prompt_at:
            body += " filler" * 30_000  # ~210 KB, beyond csv's default 128 KiB field limit
        prompts.append(str([body, f"Answer choices for {i}:\nA. yes\nB. no"]))  # list literal
    return difficulty, prompts


def routerbench_rows(
    n: int = 60,
    *,
    seed: int = 0,
    tasks: Sequence[str] = ("mmlu-anatomy",),
    models: Sequence[str] = ROUTERBENCH_MODELS,
    empty: Sequence[tuple[int, str]] = (),
    long_prompt_at: int | None = None,
    fractional: bool = False,
) -> tuple[list[str], list[list]]:
    """Header and rows (Python values; ``None`` = NaN) of a RouterBench frame."""
    rng = np.random.default_rng(seed)
    difficulty, prompts = _requests(n, rng, long_prompt_at)
    skill = np.asarray(SKILL[: len(models)])
    noise = rng.normal(0, 0.15, (n, len(models)))
    score = (skill[None, :] + noise > difficulty[:, None]).astype(float)
    if fractional:  # mt-bench style scores
        score = np.round(np.clip(score * 0.7 + rng.uniform(0, 0.3, score.shape), 0, 1), 2)
    header = ["sample_id", "prompt", "eval_name", *models]
    header += [f"{m}|model_response" for m in models]
    header += [f"{m}|total_cost" for m in models]
    header += ["oracle_model_to_route_to"]
    rows = []
    blank = set(empty)
    for i in range(n):
        task = tasks[i % len(tasks)]
        answers = [f"Answer of {m}, line one\nline two" for m in models]
        costs = [
            PRICE_PER_KCHAR[k % len(PRICE_PER_KCHAR)] * (len(prompts[i]) + len(answers[k])) / 1000
            for k in range(len(models))
        ]
        scores = [None if (i, m) in blank else float(score[i, k]) for k, m in enumerate(models)]
        ok = [k for k in range(len(models)) if score[i, k] >= 1]
        oracle = models[min(ok, key=lambda k: costs[k])] if ok else models[0]
        rows.append([f"{task}.{i}", prompts[i], task, *scores, *answers, *costs, oracle])
    return header, rows


def pandas_csv(header: Sequence[str], rows: Sequence[Sequence], *, crlf=False, bom=False) -> bytes:
    """What ``DataFrame(rows, columns=header).to_csv(path)`` writes (index included)."""

    def cell(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        return repr(v) if isinstance(v, float) else str(v)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["", *header])
    for i, r in enumerate(rows):
        w.writerow([i, *(cell(v) for v in r)])
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")


def routerbench_csv(path: Path, n: int = 60, *, crlf=False, bom=False, **kw) -> Path:
    header, rows = routerbench_rows(n, **kw)
    path.write_bytes(pandas_csv(header, rows, crlf=crlf, bom=bom))
    return path


def row_lines(path: Path) -> list[int]:
    """The file line on which each data row starts (header = line 1)."""
    old = csv.field_size_limit(2**31 - 1)  # the long prompt
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            next(reader)
            out, prev = [], reader.line_num
            for _ in reader:
                out.append(prev + 1)
                prev = reader.line_num
    finally:
        csv.field_size_limit(old)
    return out


ROUTELLM_MODELS = ("mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview")


def routellm_folder(
    folder: Path,
    subjects: Sequence[str] = ("mmlu_anatomy", "mmlu_astronomy", "gsm8k"),
    n: int = 40,
    *,
    responses: Sequence[str] = ("gsm8k",),
    seed: int = 0,
) -> Path:
    """One CSV per subject; files named in ``responses`` also carry ``<model>_response``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for subject in subjects:
        difficulty, prompts = _requests(n, rng, None)
        header = ["prompt", *ROUTELLM_MODELS]
        if subject in responses:
            header += [f"{m}_response" for m in ROUTELLM_MODELS]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for i in range(n):
            ok = [bool(k + rng.normal(0, 0.3) + 0.45 > difficulty[i]) for k in (0, 0.4)]
            text = f"{subject} {i}\nA. one\nB. two\nAnswer:" + prompts[i][2:40]
            row = [text, *ok]
            if subject in responses:
                row += [f" Step 1, then {m}.\n#### {i}" for m in ROUTELLM_MODELS]
            w.writerow(row)
        (folder / f"{subject}.csv").write_text(buf.getvalue(), encoding="utf-8")
    return folder
