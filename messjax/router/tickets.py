"""The router's records: a decision (:class:`RouteDecision`), the ticket of a request in
flight (:class:`Ticket`, JSON-able), the running counts (:class:`RouterStats`), the errors
of feedback the router cannot take, and the checks of numbers given to it."""

from __future__ import annotations

import base64
import dataclasses
import zlib
from typing import Any

import numpy as np

from messjax.core.types import Decision, float_dtype
from messjax.errors import MessjaxError


def _numbers(value, name: str, expected: str) -> np.ndarray:
    """``value`` as a float64 array, or a one-line error for text, None and other objects."""
    if value is None or isinstance(value, str | bytes | dict):
        raise MessjaxError(f"{name} must be {expected}, got {type(value).__name__} {value!r:.60}")
    try:
        v = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise MessjaxError(f"{name} must be {expected}: {e}") from None
    if v.dtype.kind not in "biuf":
        raise MessjaxError(f"{name} must be {expected}, got {v.dtype} values {value!r:.60}")
    return v.astype(np.float64)


def check_model_names(models) -> tuple[str, ...]:
    """The router's model names as a tuple: a list of unique, non-empty strings."""
    if isinstance(models, str):
        raise MessjaxError(f"models must be a list of names, got the string {models!r}")
    models = tuple(models)
    bad = [m for m in models if not isinstance(m, str) or not m.strip()]
    if bad:
        raise MessjaxError(f"model names must be non-empty strings, got {bad[0]!r}")
    if len(set(models)) != len(models):
        twice = sorted({m for m in models if models.count(m) > 1})
        raise MessjaxError(f"model names must be unique; given twice: {', '.join(twice)}")
    return models


def _require_finite(v: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        i = int(bad[0])
        raise MessjaxError(
            f"{name} has {bad.size} NaN or infinite value(s) (first at index {i}: "
            f"{v.reshape(-1)[i]}); refused, the router's state is unchanged"
        )


class TicketError(MessjaxError):
    """Feedback for a ticket the router cannot take it for (see subclasses)."""


class UnknownTicket(TicketError):
    """No request with this id was routed (or it was closed so long ago it was forgotten)."""


class TicketClosed(TicketError):
    """The request already received its outcome (or went without feedback)."""


class TicketExpired(TicketError):
    """The request is older than the router's expiry; it will be closed without feedback."""


class TicketIncomplete(TicketError):
    """The request's costs are not known yet (its answer is still being produced)."""


@dataclasses.dataclass(frozen=True)
class RouteDecision:
    """What to do with a request: serve ``model``; query (run and pay for) the models ``query``.

    ``query`` (names) / ``query_index`` (indices, ascending) always include the served model;
    under ``messplus`` an exploration (``explore``) queries every model, under ``messjax`` it
    queries the served model plus one extra model (every model on request 1). ``observe``
    takes one value per queried model (in ``query`` order) or a full per-model vector.
    ``id`` names the ticket for :meth:`Router.observe`; ``index`` is the request's number n
    (1-based, in routing order), whose coins are ``fold_in(key, n)``.
    """

    model: str
    model_index: int
    explore: bool
    feedback: bool
    s_hat: np.ndarray
    id: str = ""
    index: int = 0
    query: tuple[str, ...] = ()
    query_index: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Ticket:
    """A routed request waiting for its outcome: the decision and everything ``observe`` needs.

    ``costs`` (per model) may be recorded before the outcome (:meth:`Router.record_costs`),
    e.g. as soon as the model's answer (and its token counts) is known.
    """

    id: str
    index: int
    explore: bool
    model: int
    feedback: bool
    s_hat: np.ndarray
    cost_estimate: np.ndarray
    x: np.ndarray
    issued_at: float
    costs: np.ndarray | None = None
    #: the models queried (ascending); () = the messplus rule (all on an exploration, else
    #: the served one), as in tickets saved before policies
    queried: tuple[int, ...] = ()

    def query_set(self, num_models: int) -> tuple[int, ...]:
        if self.queried:
            return self.queried
        return tuple(range(num_models)) if self.explore else (self.model,)

    def decision(self) -> Decision:
        dt = float_dtype()
        return Decision(
            explore=np.bool_(self.explore),
            model=np.int32(self.model),
            s_hat=np.asarray(self.s_hat, dt),
            feedback=np.bool_(self.feedback),
            cost_estimate=np.asarray(self.cost_estimate, dt),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record (the embedding zlib-compressed, exact to the bit)."""
        x = np.ascontiguousarray(self.x)
        return {
            "id": self.id,
            "index": self.index,
            "explore": self.explore,
            "model": self.model,
            "feedback": self.feedback,
            "s_hat": np.asarray(self.s_hat, np.float64).tolist(),
            "cost_estimate": np.asarray(self.cost_estimate, np.float64).tolist(),
            "x": base64.b64encode(zlib.compress(x.tobytes(), 1)).decode(),
            "x_dtype": str(x.dtype),
            "issued_at": self.issued_at,
            "costs": None if self.costs is None else np.asarray(self.costs).tolist(),
            "queried": list(self.queried),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], x: np.ndarray | None = None) -> Ticket:
        """Inverse of :meth:`to_json`; ``x`` supplies the embedding when the record was saved
        without it (checkpoints store the embeddings as an array beside the records)."""
        dt = float_dtype()
        if x is None:
            x = np.frombuffer(zlib.decompress(base64.b64decode(d["x"])), d["x_dtype"])
        x = np.array(x, dt)  # a writable copy (frombuffer's array is read-only)
        return cls(
            id=d["id"],
            index=int(d["index"]),
            explore=bool(d["explore"]),
            model=int(d["model"]),
            feedback=bool(d["feedback"]),
            s_hat=np.asarray(d["s_hat"], dt),
            cost_estimate=np.asarray(d["cost_estimate"], dt),
            x=x,
            issued_at=float(d["issued_at"]),
            costs=None if d.get("costs") is None else np.asarray(d["costs"], np.float64),
            queried=tuple(int(m) for m in d.get("queried", ())),
        )


@dataclasses.dataclass
class RouterStats:
    """Running counts of a live router (saved with it).

    ``served[m]``: requests whose answer came from model m; ``queried[m]``: calls of model m
    (every model on an exploration); ``feedback``: closed requests whose outcome moved the
    decision queue; ``satisfied``: sum of the served answers' satisfaction over those;
    ``no_feedback``: closed without an outcome (``expired`` of them by expiry); ``cost``:
    total charged.
    """

    routed: int = 0
    explorations: int = 0
    observed: int = 0
    feedback: int = 0
    no_feedback: int = 0
    expired: int = 0
    satisfied: float = 0.0
    cost: float = 0.0
    served: list[int] = dataclasses.field(default_factory=list)
    queried: list[int] = dataclasses.field(default_factory=list)

    @classmethod
    def empty(cls, num_models: int) -> RouterStats:
        return cls(served=[0] * num_models, queried=[0] * num_models)


def per_model(value, name: str, ticket: Ticket, models) -> np.ndarray:
    """``value`` as a per-model vector: given for every model, or one value per queried
    model (in ascending model order; a scalar when only the served model was queried)."""
    M = len(models)
    q = ticket.query_set(M)
    v = np.atleast_1d(_numbers(value, name, f"a number or {M} numbers"))
    if v.ndim != 1:
        raise MessjaxError(f"{name} needs {len(q)} or {M} values, got shape {v.shape}")
    if v.shape == (M,):
        return v
    if len(q) == M:
        raise MessjaxError(
            f"this request was an exploration: {name} needs one value per "
            f"model ({M}), got {v.shape[0]}"
        )
    if v.shape != (len(q),):
        queried = [models[m] for m in q]
        raise MessjaxError(
            f"{name} needs {len(q)} value(s) (one per queried model {queried}) or {M}, "
            f"got {v.shape[0]}"
        )
    full = np.zeros(M)
    full[list(q)] = v
    return full
