"""Time the text featurizers on a zoo folder's request texts.

Reads the ``input_text`` column of every CSV in the folder and encodes all texts, reporting
the time to load the model, tokenize, compile (one XLA program per padded batch shape) and run,
and the throughput. Caching is off: this measures computation.

    python experiments/encode_texts.py /work/shared/data/messplus-llama3
    python experiments/encode_texts.py $MESSJAX_DATA_DIR/messplus-llama3 --featurizer hash
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from messjax.features import FEATURIZERS
from messjax.features.minilm import MiniLMEncoder, find_weights, plan_batches


def read_texts(zoo: Path) -> list[str]:
    files = sorted(zoo.glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {zoo}")
    texts = []
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            texts.extend(row["input_text"] for row in csv.DictReader(fh))
    return texts


def time_minilm(texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
    # LOAD + TOKENIZE
    t0 = time.perf_counter()
    enc = MiniLMEncoder(find_weights())
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    tokens = enc.tokenize(texts)
    lengths = np.array([len(t) for t in tokens])
    t_tok = time.perf_counter() - t0
    plan = plan_batches(lengths, batch_size, enc.max_seq_length)
    shapes = sorted({(b.rows, b.length) for b in plan})
    print(
        f"tokens: {lengths.sum()} total, mean {lengths.mean():.1f}, max {lengths.max()}, "
        f"{int((lengths >= enc.max_seq_length).sum())} truncated; padded tokens "
        f"{sum(b.rows * b.length for b in plan)}; {len(plan)} batches, {len(shapes)} shapes"
    )

    # ENCODE (cold: each new batch shape is compiled on first use; the encoder times that)
    t0 = time.perf_counter()
    X = enc(texts, batch_size=batch_size, progress=progress)
    t_encode = time.perf_counter() - t0
    t_compile = enc.compile_seconds
    t_run = t_encode - t_compile
    print(
        f"load {t_load:.2f}s  tokenize {t_tok:.2f}s  compile {t_compile:.2f}s "
        f"({len(shapes)} shapes)  run {t_run:.2f}s ({len(texts) / t_run:.0f} texts/s)"
    )
    total = t_load + t_tok + t_encode
    print(
        f"TOTAL {total:.1f}s for {len(texts)} texts ({len(texts) / total:.0f} texts/s "
        "cold, including load, tokenize and compile)"
    )
    return X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_zoo = Path(os.environ.get("MESSJAX_DATA_DIR", "/work/shared/data")) / "messplus-llama3"
    ap.add_argument(
        "zoo",
        nargs="?",
        type=Path,
        default=default_zoo,
        help="folder of routing-log CSVs with an input_text column",
    )
    ap.add_argument("--featurizer", default="minilm", choices=sorted(FEATURIZERS))
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="encode only the first N texts")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()

    texts = read_texts(args.zoo)[: args.limit]
    print(
        f"{len(texts)} texts from {args.zoo}; featurizer {args.featurizer}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.default_backend()}"
    )
    if args.featurizer == "minilm":
        batch_size = args.batch_size or FEATURIZERS["minilm"].default_batch_size
        X = time_minilm(texts, batch_size, not args.no_progress)
    else:
        t0 = time.perf_counter()
        X = FEATURIZERS[args.featurizer](
            texts, batch_size=args.batch_size, progress=not args.no_progress
        )
        total = time.perf_counter() - t0
        print(f"TOTAL {total:.1f}s for {len(texts)} texts ({len(texts) / total:.0f} texts/s)")
    print(
        f"features {X.shape} {X.dtype}; row norms in "
        f"[{np.linalg.norm(X, axis=1).min():.4f}, {np.linalg.norm(X, axis=1).max():.4f}]"
    )


if __name__ == "__main__":
    main()
