"""Per-model prices (dollars per request) for RouteLLM files: ``MODEL=DOLLARS`` on the
command line, or a JSON/YAML mapping in a file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from messjax.errors import ConfigError, DataError


def parse_price(text: str) -> tuple[str, float]:
    """``"MODEL=DOLLARS"`` (the command line's ``--price``) as ``(model, dollars)``; model ids
    may contain ``/`` and ``=`` (split at the last ``=``)."""
    model, sep, value = str(text).rpartition("=")
    if not sep or not model.strip():
        raise ConfigError(
            "price", f"expected MODEL=DOLLARS (e.g. gpt-4-1106-preview=0.01), got {text!r}"
        )
    try:
        dollars = float(value)
    except ValueError:
        raise ConfigError(f"price {model.strip()}", f"not a number: {value!r}") from None
    if not np.isfinite(dollars) or dollars < 0 or dollars > float(np.finfo(np.float32).max):
        raise ConfigError(
            f"price {model.strip()}",
            f"must be a finite number >= 0 (at most {np.finfo(np.float32).max:.3g}), got {value!r}",
        )
    return model.strip(), dollars


def read_prices(path: str | os.PathLike) -> dict[str, float]:
    """A price table ``{model id: dollars per request}`` from a JSON or YAML file (a mapping)."""
    import json

    from messjax.yamlfile import parse_yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("no such price file", source=str(p)) from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the price file: {e}", source=str(p)) from None

    def no_repeats(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise DataError(f"model {k!r} is priced twice", source=str(p))
            seen[k] = v
        return seen

    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=no_repeats)
        else:
            data = parse_yaml(text, str(p))
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e}", source=str(p)) from None
    except ConfigError as e:  # parse_yaml: a key given twice, or not YAML
        raise DataError(f"not a valid price table: {e}", source=str(p)) from None
    if not isinstance(data, dict) or not data:
        raise DataError(
            "expected a mapping of model id to dollars per request, e.g. "
            '{"gpt-4-1106-preview": 0.01, "mixtral-8x7b-instruct-v0.1": 0.0006}',
            source=str(p),
        )
    return dict(parse_price(f"{k}={v}") for k, v in data.items())
