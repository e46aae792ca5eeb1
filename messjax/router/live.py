"""The live :class:`Router`: ``route`` issues tickets, ``observe`` closes them in any order
(see :mod:`messjax.router`)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from messjax.core import policy as mj_policy
from messjax.core.types import (
    COST_ESTIMATORS,
    EngineConfig,
    Hyperparams,
    Request,
    RouterState,
    float_dtype,
    seed_array,
)
from messjax.errors import MessjaxError
from messjax.router.checkpoint import restore_router, save_router
from messjax.router.policies import _host, _policy
from messjax.router.tickets import (
    RouteDecision,
    RouterStats,
    Ticket,
    TicketClosed,
    TicketExpired,
    TicketIncomplete,
    UnknownTicket,
    _numbers,
    _require_finite,
    check_model_names,
    per_model,
)

_UNSET, _NOT_OBSERVED = object(), object()  # _NOT_OBSERVED: no model's cost was observed


class Router:
    """Stateful, thread-safe wrapper over the pure step: ``route`` issues tickets,
    ``observe`` closes them in any order."""

    def __init__(
        self,
        models: Sequence[str],
        config: EngineConfig,
        hparams: Hyperparams,
        seed: int = 0,
        featurizer: str | None = None,
        state: RouterState | mj_policy.PolicyState | None = None,
        expiry: float | None = None,
        policy: str = "messplus",
        policy_params: mj_policy.PolicyParams | None = None,
    ):
        self.models = check_model_names(models)
        if len(self.models) != config.num_models:
            raise MessjaxError(
                f"{len(self.models)} model names for a {config.num_models}-model config"
            )
        self.config, self.hparams, self.seed, self.featurizer = config, hparams, seed, featurizer
        self._policy = _policy(policy, config)
        if policy == "messjax" and policy_params is None:
            policy_params = mj_policy.default_policy_params()
        self.policy_params = pp = policy_params if policy == "messjax" else None
        key = jax.random.PRNGKey(seed_array(seed))
        self.state = state if state is not None else self._policy.init(key, hparams, pp)
        if expiry is not None and not expiry > 0:
            raise MessjaxError(f"expiry must be > 0 seconds (or None), got {expiry}")
        self.expiry = expiry
        #: wall clock for tickets' issue times and expiry (replaceable in tests)
        self.clock = time.time
        #: held by every state change; re-entrant, so callers may group calls under it
        self.lock = threading.RLock()
        self.routed = self._policy.num_observed(self.state)  # requests numbered so far
        self.stats = RouterStats.empty(config.num_models)
        self.stats.routed = self.routed
        self.stats.observed = self.routed
        self._tickets: dict[str, Ticket] = {}
        self._closed: dict[str, float] = {}  # id -> time closed (duplicate feedback refused)
        self._expired: set[str] = set()  # the closed ids that expired

    @property
    def policy(self) -> str:
        """The routing policy: ``messjax`` or ``messplus``."""
        return self._policy.name

    @classmethod
    def create(
        cls,
        models: Sequence[str],
        feature_dim: int,
        *,
        head: str = "mlp",
        featurizer: str | None = None,
        seed: int = 0,
        expiry: float | None = None,
        policy: str = "messjax",
        **hparams: Any,
    ) -> Router:
        """A fresh router running ``policy``: ``"messjax"`` (the default, messjax's own
        policy, :mod:`messjax.core.policy`) or ``"messplus"`` (the paper's MESS+).

        ``hparams`` as in :func:`messjax.core.types.make_hparams`; for ``messjax`` unset ones
        take :data:`messjax.core.policy.DEFAULT_HPARAMS` and the policy's own
        (``prior``, ``ts_temp``, ``margin``, ``impute_z``, ``l2``, ``price_cap``,
        ``infeasible_cap``, ``infeasible_z``, ``infeasible_min_labels``) may be given too.
        """
        config = EngineConfig(num_models=len(models), feature_dim=feature_dim, head=head)
        hp, pp = _policy(policy, config).make_params(dict(hparams))
        return cls(
            models,
            config,
            hp,
            seed=seed,
            featurizer=featurizer,
            expiry=expiry,
            policy=policy,
            policy_params=pp,
        )

    # ---------------------------------------------------------------------------- traffic
    def embed(self, request) -> np.ndarray:
        """The feature vector of a request: a text (featurized) or an embedding (checked)."""
        return self.embed_batch([request])[0]

    def embed_batch(self, requests) -> np.ndarray:
        """``[B, d]`` features of texts or embeddings (a list of either, or a ``[B, d]``
        array)."""
        if isinstance(requests, np.ndarray | jax.Array) and np.ndim(requests) == 2:
            xs = np.asarray(requests, float_dtype())
        else:
            requests = list(requests)
            if requests and all(isinstance(r, str) for r in requests):
                if self.featurizer is None:
                    raise MessjaxError(
                        "this router has no featurizer: pass an embedding, or "
                        "create it with featurizer='hash' or 'minilm'"
                    )
                from messjax.features import featurize

                xs = np.asarray(
                    featurize(requests, self.featurizer, cache_dir=False, progress=False),
                    float_dtype(),
                )
            else:
                rows = [
                    _numbers(r, "the request", "a text (str) or an embedding (a vector of floats)")
                    for r in requests
                ]
                for r in rows:
                    if r.shape != (self.config.feature_dim,):
                        raise MessjaxError(
                            f"embedding has shape {r.shape}, expected ({self.config.feature_dim},)"
                        )
                xs = np.stack(rows) if rows else np.zeros((0, self.config.feature_dim))
        if xs.ndim != 2 or xs.shape[1] != self.config.feature_dim:
            raise MessjaxError(
                f"embeddings have shape {xs.shape}, expected (B, {self.config.feature_dim})"
            )
        # A NaN in x would reach the predictor on the next exploration and make every later
        # s_hat NaN: refused before anything touches the state.
        _require_finite(xs, "embedding")
        return xs.astype(float_dtype())

    _embed = embed  # the name used before tickets

    def warm_start(self, requests, labels, costs) -> None:
        """messjax policy, before the first request: start from history every model answered
        (texts or embeddings; ``labels``, ``costs`` ``[N, M]``), as :func:`policy.warm_start`."""
        with self.lock:
            if self.policy != "messjax" or self.routed or self._tickets:
                raise MessjaxError("warm_start needs a messjax router before its first request")
            if np.any(np.asarray(self.state.cost_count) > 0):
                raise MessjaxError("this router is already warm-started (history counts once)")
            xs = self.embed_batch(requests)
            if len(xs) == 0:
                raise MessjaxError("warm_start needs at least one request of history, got none")
            hp, pp = self.hparams, self.policy_params
            self.state = self._policy.warm(self.state, xs, labels, costs, hp, pp, self.models)

    def _needs_costs(self, costs) -> None:
        if self.policy != "messplus":  # messjax estimates costs from what it observed
            return
        if costs is None and int(self.hparams.cost_estimator) == COST_ESTIMATORS.index("oracle"):
            raise MessjaxError("the oracle cost estimator needs this request's costs in route()")

    def _decision_costs(self, costs, rows: int | None = None):
        """``route()``'s per-model costs (``[M]``, or ``[rows, M]`` for a batch), checked."""
        if costs is None:
            return None
        M = self.config.num_models
        shape = (M,) if rows is None else (rows, M)
        cv = _numbers(costs, "costs", "one cost per model")
        if cv.size != int(np.prod(shape)):
            raise MessjaxError(
                f"route() costs need one value per model ({M}) per request, got shape {cv.shape}"
            )
        cv = cv.reshape(shape)
        _require_finite(cv, "costs")
        if np.any(cv < 0):
            raise MessjaxError(f"costs must be >= 0, got {cv.tolist()}")
        return cv.astype(float_dtype())

    def _issue(self, n: int, x, d, now: float, id: str | None) -> RouteDecision:
        tid = id if id is not None else "mj-" + secrets.token_hex(12)
        if tid in self._tickets or tid in self._closed:
            raise MessjaxError(f"ticket id {tid!r} is already in use")
        m = int(d["model"])
        queried = self._policy.queried(d)
        ticket = Ticket(
            id=tid,
            index=n,
            explore=bool(d["explore"]),
            model=m,
            feedback=bool(d["feedback"]),
            s_hat=d["s_hat"],
            cost_estimate=d["cost_estimate"],
            x=x,
            issued_at=now,
            queried=queried if self.policy != "messplus" else (),
        )
        self.add_ticket(ticket)
        return self._route_decision(ticket)

    def _route_decision(self, ticket: Ticket) -> RouteDecision:
        q = ticket.query_set(self.config.num_models)
        return RouteDecision(
            model=self.models[ticket.model],
            model_index=ticket.model,
            explore=ticket.explore,
            feedback=ticket.feedback,
            s_hat=ticket.s_hat,
            id=ticket.id,
            index=ticket.index,
            query=tuple(self.models[m] for m in q),
            query_index=q,
        )

    def add_ticket(self, ticket: Ticket) -> None:
        """Put ``ticket`` in flight as the next request (``route`` does; a journal replay
        re-issues recorded tickets with it)."""
        with self.lock:
            if ticket.index != self.routed + 1:
                raise MessjaxError(
                    f"ticket {ticket.id} is request {ticket.index}, expected {self.routed + 1}"
                )
            self._tickets[ticket.id] = ticket
            self.routed = ticket.index
            self.stats.routed = self.routed
            self.stats.explorations += ticket.explore

    def route(self, request, costs: Sequence[float] | None = None, *, id: str | None = None):
        """Decide for one request (text or embedding) and issue its ticket.

        The decision uses the state as it is now (every outcome observed so far). ``costs``
        (per model) are needed only by the ``oracle`` cost estimator; ``id`` overrides the
        generated ticket id (it must be unused).
        """
        if id is not None and (not isinstance(id, str) or not id):
            raise MessjaxError(f"a ticket id must be a non-empty string, got {id!r}")
        self._needs_costs(costs)
        x = self.embed(request)  # outside the lock: featurizing is the slow part
        c = self._decision_costs(costs)
        c = None if c is None else jnp.asarray(c)
        with self.lock:
            n = self.routed + 1
            d = self._policy.decide(self.state, x, self.hparams, self.policy_params, c, np.int32(n))
            d = _host(d)
            return self._issue(n, x, d, self.clock(), id)

    def route_batch(self, requests, costs=None) -> list[RouteDecision]:
        """Decide for many requests (texts, embeddings or a ``[B, d]`` array) in one compiled
        call, numbered in order; every decision uses the current state (as if all B were in
        flight at once). Batches are padded to a power of two (>= 8) to bound recompiles."""
        self._needs_costs(costs)
        xs = self.embed_batch(requests)
        B = xs.shape[0]
        if B == 0:
            return []
        size = max(8, 1 << (B - 1).bit_length())
        pad = np.zeros((size - B, xs.shape[1]), xs.dtype)
        xp = np.concatenate([xs, pad]) if size > B else xs
        c = self._decision_costs(costs, rows=B)
        if c is not None:
            c = np.concatenate([c, np.zeros((size - B, c.shape[1]), c.dtype)])
        with self.lock:
            n0 = self.routed + 1
            ts = np.arange(n0, n0 + size, dtype=np.int32)
            d = self._policy.decide_batch(self.state, xp, self.hparams, self.policy_params, c, ts)
            d = _host(d)
            now = self.clock()
            return [
                self._issue(n0 + i, xs[i], {k: v[i] for k, v in d.items()}, now, None)
                for i in range(B)
            ]

    async def aroute(self, request, costs=None, *, id: str | None = None) -> RouteDecision:
        """:meth:`route` in a worker thread, for asyncio code."""
        return await asyncio.to_thread(self.route, request, costs, id=id)

    async def aobserve(self, *args, **kwargs) -> dict[str, Any]:
        """:meth:`observe` in a worker thread, for asyncio code."""
        return await asyncio.to_thread(lambda: self.observe(*args, **kwargs))

    def ticket(self, id: str) -> Ticket:
        """The in-flight ticket ``id`` (raises :class:`UnknownTicket` / :class:`TicketClosed`)."""
        with self.lock:
            t = self._tickets.get(id)
            if t is None:
                if id in self._expired:
                    raise TicketExpired(
                        f"request {id} expired without feedback; its feedback is no longer accepted"
                    )
                if id in self._closed:
                    raise TicketClosed(f"request {id} already has its outcome")
                raise UnknownTicket(f"no request with id {id!r} was routed by this router")
            return t

    @property
    def in_flight(self) -> int:
        return len(self._tickets)

    def pending(self) -> list[Ticket]:
        """The in-flight tickets, oldest first."""
        with self.lock:
            return list(self._tickets.values())

    def record_costs(self, id: str, costs, *, unknown: Sequence[str] = ()) -> None:
        """Store a request's costs (its served model's, or every model's on an exploration)
        before its outcome is known; ``observe`` and expiry then charge them. ``unknown``
        names queried models whose cost was not observed (an upstream that failed): they
        are charged 0 and leave the router's cost estimate as it was."""
        with self.lock:
            t = self.ticket(id)
            v = np.array(self.per_model(costs, "costs", t), dtype=np.float64)
            _require_finite(v, "costs")
            if np.any(v < 0):
                raise MessjaxError(f"costs must be >= 0, got {v.tolist()}")
            for name in unknown:
                if name not in self.models:
                    raise MessjaxError(f"unknown model {name!r}; models: {list(self.models)}")
                v[self.models.index(name)] = np.nan  # stored as NaN: not observed
            self._tickets[id] = dataclasses.replace(t, costs=v)

    def observe(self, *args, satisfied=_UNSET, costs=_UNSET, check_expiry: bool = True):
        """Close a ticket with its outcome: ``observe(id, satisfied, costs=None)``.

        ``id`` is a ticket id or the :class:`RouteDecision`; without one
        (``observe(satisfied, costs)``) the single request in flight is meant. On an
        exploration ``satisfied`` and ``costs`` have one entry per model; otherwise a scalar
        each (the served model's), or full vectors. ``satisfied=None`` means no feedback: the
        decision queue stays and nothing trains, the cost is charged. ``costs`` may be left
        out when :meth:`record_costs` stored them.
        """
        ticket_id = None
        if args and isinstance(args[0], str | RouteDecision):
            ticket_id = args[0].id if isinstance(args[0], RouteDecision) else args[0]
            args = args[1:]
        if len(args) > 2:
            raise TypeError("observe() takes (id, satisfied, costs)")
        if args:
            if satisfied is not _UNSET:
                raise TypeError("observe(): satisfied given twice")
            satisfied = args[0]
        if len(args) > 1:
            if costs is not _UNSET:
                raise TypeError("observe(): costs given twice")
            costs = args[1]
        if satisfied is _UNSET:
            raise TypeError("observe() needs satisfied (None = no feedback)")
        with self.lock:
            if ticket_id is None:
                if not self._tickets:
                    raise MessjaxError("observe() called without a routed request")
                if len(self._tickets) > 1:
                    raise MessjaxError(
                        f"{len(self._tickets)} requests in flight: pass the id of the one "
                        "observed, observe(decision.id, satisfied, costs)"
                    )
                ticket_id = next(iter(self._tickets))
            t = self.ticket(ticket_id)
            if (
                check_expiry
                and self.expiry is not None
                and self.clock() - t.issued_at > self.expiry
            ):
                raise TicketExpired(
                    f"request {ticket_id} is older than the expiry ({self.expiry:g} s); "
                    "its feedback is no longer accepted"
                )
            return self._close(t, satisfied, None if costs is _UNSET else costs)

    def _close(self, t: Ticket, satisfied, costs) -> dict[str, Any]:
        M = self.config.num_models
        if costs is None:
            if t.costs is None:
                raise TicketIncomplete(
                    f"request {t.id} has no costs yet: pass costs, or record_costs() first"
                )
            cost_known = ~np.isnan(t.costs)  # NaN: recorded as not observed
            cost_v = np.where(cost_known, t.costs, 0.0)
        elif costs is _NOT_OBSERVED:
            cost_known, cost_v = np.zeros(M, bool), np.zeros(M)
        else:
            cost_v = self.per_model(costs, "costs", t)
            cost_known = np.ones(M, bool)
        # Everything is checked before the state is touched; a refused call leaves the
        # ticket open, so observe() can be called again with good values.
        _require_finite(cost_v, "costs")
        if np.any(cost_v < 0):
            raise MessjaxError(f"costs must be >= 0, got {cost_v.tolist()}")
        known = satisfied is not None
        if known:
            labels = self.per_model(satisfied, "satisfied", t)
            _require_finite(labels, "satisfied")
            if np.any((labels < 0) | (labels > 1)):
                raise MessjaxError(f"satisfied must be in [0, 1], got {labels.tolist()}")
        else:
            labels = np.zeros(M)
        dt = float_dtype()
        req = Request(x=t.x, labels=np.asarray(labels, dt), costs=np.asarray(cost_v, dt))
        self.state, out, queue = self._policy.observe(
            self.state, t, req, self.hparams, self.policy_params, np.bool_(known), cost_known
        )
        out, queue = jax.device_get((out, queue))  # one transfer for the scalars below
        del self._tickets[t.id]
        self._closed[t.id] = self.clock()
        s = self.stats
        counted = known and t.feedback
        s.observed += 1
        s.feedback += counted
        s.no_feedback += not known
        sat = float(out.satisfaction)
        s.satisfied += sat if counted else 0.0
        s.cost += float(out.cost)
        s.served[t.model] += 1
        for m in t.query_set(M):
            s.queried[m] += 1
        self._prune_closed()
        return {
            "satisfaction": sat if known else None,
            "cost": float(out.cost),
            "virtual_queue": float(queue),
        }

    def expire(self, now: float | None = None) -> list[str]:
        """Close every ticket older than ``expiry`` without feedback (charging its recorded
        costs, 0 where none were recorded); returns their ids, oldest first."""
        if self.expiry is None:
            return []
        with self.lock:
            now = self.clock() if now is None else now
            old = [t for t in self._tickets.values() if now - t.issued_at > self.expiry]
            for t in old:
                self.close_without_feedback(t.id, expired=True)
            return [t.id for t in old]

    def close_without_feedback(self, id: str, *, expired: bool = False) -> None:
        """Close ticket ``id`` without an outcome, charging its recorded costs (0 where none
        were recorded, e.g. its model failed: the cost estimate then stays as it was)."""
        with self.lock:
            t = self.ticket(id)
            self._close(t, None, None if t.costs is not None else _NOT_OBSERVED)
            self.stats.expired += expired
            if expired:  # its late feedback is "expired" (410), not a duplicate
                self._expired.add(id)

    def _prune_closed(self) -> None:
        # Closed ids are kept to refuse a second outcome; past the expiry any feedback is
        # refused anyway, so older ones may go (without an expiry keep the last 1,000,000).
        if self.expiry is not None:
            horizon = self.clock() - 2 * self.expiry
            while self._closed:
                first = next(iter(self._closed))
                if self._closed[first] >= horizon:
                    break
                del self._closed[first]
                self._expired.discard(first)
        while len(self._closed) > 1_000_000:
            self._expired.discard(first := next(iter(self._closed)))
            del self._closed[first]

    def per_model(self, value, name: str, ticket: Ticket) -> np.ndarray:
        """``value`` as a per-model vector (:func:`~messjax.router.tickets.per_model`)."""
        return per_model(value, name, ticket, self.models)

    @property
    def virtual_queue(self) -> float:
        """The decision queue: MESS+'s Q, or messjax's signed deficit D."""
        return self._policy.queues(self.state)[0]

    @property
    def ideal_queue(self) -> float:
        """The monitor of true outcomes: MESS+'s ideal queue, or messjax's realised deficit."""
        return self._policy.queues(self.state)[1]

    @property
    def cost_estimate(self) -> np.ndarray:
        """The policy's current per-model cost estimate E_hat."""
        return self._policy.cost_estimate(self.state)

    @property
    def num_requests(self) -> int:
        """Requests routed so far."""
        return self.routed

    @property
    def num_observed(self) -> int:
        """Requests closed so far (with or without feedback)."""
        return self._policy.num_observed(self.state)

    def fingerprint(self) -> str:
        """sha256 of everything that determines future decisions: the engine state (predictor,
        optimiser, queues, cost estimate, clock, key), the request counter, the in-flight
        tickets and the counts. Equal fingerprints = routers that will decide alike."""
        with self.lock:
            h = hashlib.sha256()
            for leaf in jax.tree.leaves(self.state):
                a = np.asarray(leaf)
                h.update(str((a.dtype, a.shape)).encode())
                h.update(np.ascontiguousarray(a).tobytes())
            h.update(str(self.routed).encode())
            for t in self._tickets.values():
                h.update(json.dumps(t.to_json(), sort_keys=True).encode())
            h.update(json.dumps(dataclasses.asdict(self.stats), sort_keys=True).encode())
            return h.hexdigest()

    # ---------------------------------------------------------------------- checkpoints
    def snapshot(self) -> Router:
        """A frozen copy for saving while traffic goes on (cheap: arrays are shared)."""
        with self.lock:
            snap = copy.copy(self)
            snap.lock = threading.RLock()
            snap._tickets = dict(self._tickets)
            snap._closed = dict(self._closed)
            snap._expired = set(self._expired)
            snap.stats = copy.deepcopy(self.stats)
            return snap

    def live_meta(self) -> dict[str, Any]:
        """The ticket table, request counter, closed ids and counts, JSON-able (saved with
        the state; the tickets' arrays are saved apart)."""
        return {
            "routed": self.routed,
            "expiry": self.expiry,
            "stats": dataclasses.asdict(self.stats),
            "closed": list(self._closed.items()),
            "expired": sorted(self._expired),
            "tickets": [
                {k: v for k, v in t.to_json().items() if k not in ("x", "x_dtype")}
                for t in self._tickets.values()
            ],
        }

    def load_live(self, meta: dict[str, Any], xs: np.ndarray | None) -> None:
        """Inverse of :meth:`live_meta` (``xs``: the tickets' embeddings, ``[K, d]``)."""
        self.routed = int(meta["routed"])
        self.expiry = meta.get("expiry")
        self.stats = RouterStats(**meta["stats"])
        self._closed = {k: float(v) for k, v in meta["closed"]}
        self._expired = set(meta.get("expired", ()))  # none saved before this existed
        self._tickets = {}
        for i, d in enumerate(meta["tickets"]):
            self._tickets[d["id"]] = Ticket.from_json(d, x=xs[i])

    def save(self, path) -> Path:
        """Save the whole router (state, hyperparameters, models, seed, config, in-flight
        tickets) with Orbax to the folder ``path``; see
        :func:`messjax.router.checkpoint.save_router`."""
        with self.lock:
            snap = self.snapshot()
        return save_router(snap, path)

    @classmethod
    def restore(cls, path) -> Router:
        """The router saved at ``path``; it continues exactly where the saved one stopped."""
        return restore_router(path, cls)
