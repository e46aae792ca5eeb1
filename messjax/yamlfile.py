"""messjax's YAML files (sweep and serve configs): PyYAML's safe loader, with ``1e-4`` read as a
float (YAML 1.2; PyYAML wants ``1.0e-4``), a key given twice refused, and every problem a
:class:`~messjax.errors.ConfigError`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from messjax.errors import ConfigError


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int):
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.2; PyYAML wants ``1.0e-4``) and
    refuses a mapping that gives a key twice (PyYAML silently keeps the last value)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key: PyYAML reports it below
                continue
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class _Dumper(yaml.SafeDumper):
    """Block-style mappings, flow-style lists (``alpha: [0.4, 0.5, 0.6]``)."""


_Dumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """The YAML ``text`` (``source`` names it in errors)."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except _DuplicateKey as e:
        raise ConfigError(
            str(e.key), f"given twice in {source} (lines {e.first} and {e.second})"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(source, f"not valid YAML: {e}") from None


def type_name(v: Any) -> str:
    """How a config error names the YAML type of ``v``."""
    return "null" if v is None else type(v).__name__


def dump_yaml(data: Any) -> str:
    """``data`` as YAML: block-style mappings in their order, flow-style lists."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping of the YAML file ``path`` (a missing, empty or non-mapping file is an
    error)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("--config", f"no such config file: {p}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(str(p), f"line {line}: not UTF-8 text ({e.reason})") from None
    raw = parse_yaml(text, source=str(p))
    if raw is None:
        raise ConfigError(
            str(p),
            "the config file is empty: give its keys (e.g. zoo, task, alpha), or leave "
            "--config out for the default config",
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(str(p), f"a config file must hold a mapping, got {type_name(raw)}")
    return dict(raw)
