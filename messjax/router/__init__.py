"""A live router for real traffic, on the same step code as the simulator.

    router = Router.create(models=["small", "medium", "large"], feature_dim=4096,
                           featurizer="hash", alpha=0.7, seed=0)      # policy="messjax"
    d = router.route("What is the capital of France?")       # d.id names the request
    # run the models d.query (served d.model, maybe one extra; all on request 1)
    router.observe(d.id, satisfied=[1] * len(d.query), costs=[270.0] * len(d.query))
    router.observe(other.id, satisfied=None, costs=90.0)     # no feedback: cost charged only

**Policies.** ``policy="messjax"`` (the default) runs :func:`messjax.core.policy.decide` /
:func:`messjax.core.policy.observe` (with the router's request number as ``t``);
``policy="messplus"`` runs the paper's :func:`messjax.core.step.decide` /
:func:`messjax.core.step.observe` (an exploration queries every model). A small adapter
(``_MessjaxPolicy`` / ``_MessPlusPolicy``) holds what differs: state init, decide (one and
vmapped), observe (with the no-feedback path), the query set, queues and cost estimate. Either
way a router fed a stream one request at a time decides exactly like an episode replaying it.
``observe`` takes one value per queried model (``RouteDecision.query`` order) or a full
per-model vector.

**Tickets.** Every ``route`` issues a ticket (``RouteDecision.id``) and numbers the request
``n = 1, 2, ...`` in routing order; request n's coins (exploration, feedback, dropout) are
``fold_in(key, n)`` as in an episode. Any number of tickets may be in flight and ``observe``
takes them in any order; a decision uses the state as it is when it is made (every outcome
observed so far). ``observe(id, satisfied=None)``, or a ticket older than ``expiry`` seconds
(:meth:`Router.expire`), is a request without feedback: the decision queue does not move, the
predictor does not train, the cost is still charged (the sparse-feedback model of MESSPLUS.md,
with the feedback coin replaced by the user's silence; under messjax the deficit moves by the
policy's pessimistic imputation of the served model's satisfaction instead).
All state changes hold ``Router.lock`` (a re-entrant lock), so threads may share a router;
from asyncio call ``aroute``/``aobserve`` (they run in a worker thread) or the plain methods
(they hold the lock for well under a millisecond without a text encoder).

**Delayed feedback and the guarantee.** The drift-plus-penalty bound of MESSPLUS.md assumes
``Q_t`` includes every outcome up to request t - 1. With k requests in flight the decision of
request t sees ``Q_{t-k}`` instead: the queue lags by the number in flight. With
``a = max(alpha, 1 - alpha)``, ``|Q_t - Q_{t-k}| <= k a``, so the rule that minimises
``V E_hat[m] + Q_{t-k} (alpha - s_hat[m])`` is within ``2 k a^2`` of the minimiser with
``Q_t`` and the drift bound reads ``L(Q') - L(Q) <= B + 2 k a^2 + (the usual terms)``: the
constant ``B`` becomes ``B + 2 k_max a^2`` (k_max = the most requests ever in flight) in the
violation and cost-gap bounds of ``messjax theory``. The SLA is still met in the long run; the
transient and the queue bound grow linearly in k_max, the cost gap as ``(B + 2 k_max a^2)/V``.
Requests that never get feedback do not move the decision queue at all (as in the sparse
model): the SLA is then enforced on the requests that do report.

**Modules.** :mod:`~messjax.router.live` (the :class:`Router`), :mod:`~messjax.router.tickets`
(decisions, tickets, counts, feedback errors), :mod:`~messjax.router.policies` (the policy
adapters) and :mod:`~messjax.router.checkpoint` (Orbax save and restore).
"""

from messjax.router.checkpoint import restore_router, save_router
from messjax.router.live import Router
from messjax.router.policies import POLICIES
from messjax.router.tickets import (
    RouteDecision,
    RouterStats,
    Ticket,
    TicketClosed,
    TicketError,
    TicketExpired,
    TicketIncomplete,
    UnknownTicket,
)

__all__ = [
    "POLICIES",
    "RouteDecision",
    "Router",
    "RouterStats",
    "Ticket",
    "TicketClosed",
    "TicketError",
    "TicketExpired",
    "TicketIncomplete",
    "UnknownTicket",
    "restore_router",
    "save_router",
]
