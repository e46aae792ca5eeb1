"""``router.yaml`` for ``messjax serve``: upstreams, router settings, limits, security.

    host: 127.0.0.1            # bind address (default: loopback only)
    port: 8000
    served_model: messjax      # the model name clients ask for (and /v1/models lists)
    api_key_env: MESSJAX_API_KEY   # env var with the clients' bearer key (optional)
    state_dir: messjax-state   # checkpoints + feedback journal (restored on start)
    checkpoint_every: 60       # seconds between checkpoints (and one on shutdown)
    feedback_expiry: 86400     # seconds a request's feedback is accepted
    max_body_bytes: 1000000
    upstream_timeout: 120      # seconds per upstream call
    retries: 1                 # retries of an upstream call (connection errors, timeouts, 5xx, 429)
    router:                    # policy + its settings (make_hparams + featurizer, head, seed)
      policy: messjax          # messjax (default) or messplus (the paper's MESS+)
      featurizer: hash
      alpha: 0.8               # SLA target; unset keys take the policy's defaults
    upstreams:                 # smallest first; the last is the largest (served on explorations)
      - name: small
        base_url: http://127.0.0.1:9001/v1
        model: llama-3.2-1b
        api_key_env: SMALL_API_KEY       # optional; the key itself never goes in this file
        cost_per_input_token: 0.0
        cost_per_output_token: 0.0
        cost_per_request: 0.0

Every mistake is a :class:`~messjax.errors.ConfigError` naming the key
(``upstreams[1].base_url``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any

from messjax.core.policy import POLICY_PARAM_NAMES, default_hparams, default_policy_params
from messjax.core.types import make_hparams
from messjax.errors import ConfigError, did_you_mean
from messjax.runs.config import read_yaml

HPARAM_KEYS = (
    "alpha",
    "V",
    "c",
    "learning_rate",
    "epochs",
    "feedback_rate",
    "cost_estimator",
    "relative_V",
)
ROUTER_KEYS = (*HPARAM_KEYS, "featurizer", "head", "seed", "policy", *POLICY_PARAM_NAMES)
#: Settings of every live router (any policy).
COMMON_DEFAULTS: dict[str, Any] = {"featurizer": "hash", "head": "mlp", "seed": 0, "alpha": 0.8}
#: Defaults of a ``messplus`` live router: unit-free V (costs may be dollars, joules or tokens)
#: and the running-mean cost estimate of the paper's live system. A ``messjax`` router takes
#: :data:`messjax.core.policy.DEFAULT_HPARAMS` (its one setting for every zoo) for unset keys.
ROUTER_DEFAULTS: dict[str, Any] = {
    "featurizer": "hash",
    "head": "mlp",
    "seed": 0,
    "alpha": 0.8,
    "V": 0.1,
    "c": 0.1,
    "learning_rate": 0.05,
    "epochs": 1,
    "feedback_rate": 1.0,
    "cost_estimator": "running_mean",
    "relative_V": 1,
}
UPSTREAM_KEYS = (
    "name",
    "base_url",
    "model",
    "api_key_env",
    "cost_per_input_token",
    "cost_per_output_token",
    "cost_per_request",
)
TOP_KEYS = (
    "host",
    "port",
    "served_model",
    "api_key_env",
    "state_dir",
    "checkpoint_every",
    "feedback_expiry",
    "max_body_bytes",
    "upstream_timeout",
    "retries",
    "journal_fsync",
    "router",
    "upstreams",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Upstream:
    """One OpenAI-compatible endpoint and its price (cost units per token / per request)."""

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    cost_per_input_token: float = 0.0
    cost_per_output_token: float = 0.0
    cost_per_request: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            self.cost_per_request
            + self.cost_per_input_token * input_tokens
            + self.cost_per_output_token * output_tokens
        )

    def api_key(self) -> str | None:
        """The key from the environment (read when the server starts; never stored)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(
                f"upstreams[{self.name}].api_key_env",
                f"environment variable {self.api_key_env} is not set",
            )
        return key


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    upstreams: tuple[Upstream, ...]
    router: dict[str, Any]
    host: str = "127.0.0.1"
    port: int = 8000
    served_model: str = "messjax"
    api_key_env: str | None = None
    state_dir: str = "messjax-state"
    checkpoint_every: float = 60.0
    feedback_expiry: float = 86400.0
    max_body_bytes: int = 1_000_000
    upstream_timeout: float = 120.0
    retries: int = 1
    journal_fsync: bool = False

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.upstreams)

    def api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError("api_key_env", f"environment variable {self.api_key_env} is not set")
        return key

    def router_identity(self) -> dict[str, Any]:
        """What a saved router state must match to be restored under this config."""
        return {"models": list(self.models), "router": self.router}


def _check_keys(where: str, raw: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for k in raw:
        if k not in known:
            key = f"{where}.{k}" if where else str(k)
            raise ConfigError(key, f"unknown key{did_you_mean(str(k), known, cutoff=0.5)}")


#: bound of a price (per token or request): any count of tokens then keeps the cost finite
MAX_PRICE = 1e6


def _number(
    key: str, v: Any, *, minimum: float = 0.0, strict: bool = False, maximum: float | None = None
) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(key, f"must be a number, got {v!r}")
    v = float(v)
    if not v == v or v in (float("inf"), float("-inf")):
        raise ConfigError(key, f"must be finite, got {v}")
    if v < minimum or (strict and v <= minimum):
        raise ConfigError(key, f"must be {'>' if strict else '>='} {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise ConfigError(key, f"must be <= {maximum:g}, got {v:g}")
    return v


def _string(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(key, f"must be a non-empty string, got {v!r}")
    return v


def _env_name(key: str, v: Any) -> str | None:
    if v is None:
        return None
    v = _string(key, v)
    if not _ENV_NAME.match(v):
        raise ConfigError(
            key,
            "must name an environment variable (letters, digits, _), not hold the key itself",
        )
    return v


def _upstream(i: int, raw: Any) -> Upstream:
    where = f"upstreams[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(where, f"must be a mapping, got {raw!r}")
    if "api_key" in raw:
        raise ConfigError(
            f"{where}.api_key",
            "keys never go in the config file: put the key in an environment variable and "
            "name it with api_key_env",
        )
    _check_keys(where, raw, UPSTREAM_KEYS)
    for k in ("name", "base_url", "model"):
        if k not in raw:
            raise ConfigError(f"{where}.{k}", "missing")
    url = _string(f"{where}.base_url", raw["base_url"]).rstrip("/")
    if not re.match(r"^https?://", url):
        raise ConfigError(f"{where}.base_url", f"must start with http:// or https://, got {url!r}")
    return Upstream(
        name=_string(f"{where}.name", raw["name"]),
        base_url=url,
        model=_string(f"{where}.model", raw["model"]),
        api_key_env=_env_name(f"{where}.api_key_env", raw.get("api_key_env")),
        **{
            k: _number(f"{where}.{k}", raw[k], maximum=MAX_PRICE)
            for k in ("cost_per_input_token", "cost_per_output_token", "cost_per_request")
            if k in raw
        },
    )


def serve_config_from_dict(raw: Mapping[str, Any]) -> ServeConfig:
    _check_keys("", raw, TOP_KEYS)
    ups = raw.get("upstreams")
    if not isinstance(ups, list) or len(ups) < 2:
        raise ConfigError("upstreams", "must list at least two upstream endpoints")
    upstreams = tuple(_upstream(i, u) for i, u in enumerate(ups))
    names = [u.name for u in upstreams]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError("upstreams", f"upstream name {n!r} appears twice")
    router_raw = raw.get("router") or {}
    if not isinstance(router_raw, Mapping):
        raise ConfigError("router", "must be a mapping")
    _check_keys("router", router_raw, ROUTER_KEYS)
    policy = router_raw.get("policy", "messjax")
    if policy not in ("messjax", "messplus"):
        raise ConfigError("router.policy", f"must be messjax or messplus, got {policy!r}")
    if policy == "messplus":
        own = [k for k in router_raw if k in POLICY_PARAM_NAMES]
        if own:
            raise ConfigError(
                f"router.{own[0]}", "is a messjax policy parameter (policy: messplus)"
            )
        router = {**ROUTER_DEFAULTS, **router_raw, "policy": policy}
    else:
        router = {**COMMON_DEFAULTS, **router_raw, "policy": policy}
    try:
        if policy == "messplus":
            make_hparams(**{k: router[k] for k in HPARAM_KEYS})
        else:
            default_hparams(**{k: router[k] for k in HPARAM_KEYS if k in router})
    except ConfigError as e:
        raise ConfigError(f"router.{e.key}", str(e).split(": ", 1)[1]) from None
    if policy == "messjax":
        for k in POLICY_PARAM_NAMES:
            v = router.get(k)
            if k in router and (
                isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0  # NaN too
            ):
                raise ConfigError(f"router.{k}", f"must be a number >= 0, got {v!r}")
        default_policy_params(**{k: router[k] for k in POLICY_PARAM_NAMES if k in router})
    if router["featurizer"] not in ("hash", "minilm"):
        raise ConfigError(
            "router.featurizer", f"must be hash or minilm, got {router['featurizer']!r}"
        )
    if router["head"] not in ("mlp", "linear"):
        raise ConfigError("router.head", f"must be mlp or linear, got {router['head']!r}")
    if isinstance(router["seed"], bool) or not isinstance(router["seed"], int):
        raise ConfigError("router.seed", f"must be an integer, got {router['seed']!r}")
    kw: dict[str, Any] = {}
    if "host" in raw:
        kw["host"] = _string("host", raw["host"])
    if "port" in raw:
        p = raw["port"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < 65536:
            raise ConfigError("port", f"must be an integer in [0, 65535], got {p!r}")
        kw["port"] = p
    if "served_model" in raw:
        kw["served_model"] = _string("served_model", raw["served_model"])
    if "api_key_env" in raw:
        kw["api_key_env"] = _env_name("api_key_env", raw["api_key_env"])
    if "state_dir" in raw:
        kw["state_dir"] = _string("state_dir", raw["state_dir"])
    for k in ("checkpoint_every", "feedback_expiry", "upstream_timeout"):
        if k in raw:
            kw[k] = _number(k, raw[k], strict=True)
    if "max_body_bytes" in raw:
        kw["max_body_bytes"] = int(_number("max_body_bytes", raw["max_body_bytes"], minimum=1))
    if "retries" in raw:
        r = raw["retries"]
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise ConfigError("retries", f"must be an integer >= 0, got {r!r}")
        kw["retries"] = r
    if "journal_fsync" in raw:
        if not isinstance(raw["journal_fsync"], bool):
            raise ConfigError("journal_fsync", "must be true or false")
        kw["journal_fsync"] = raw["journal_fsync"]
    return ServeConfig(upstreams=upstreams, router=router, **kw)


def load_serve_config(path) -> ServeConfig:
    return serve_config_from_dict(read_yaml(path))
