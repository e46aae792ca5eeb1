"""``messjax serve``: an OpenAI-compatible HTTP server that routes with messjax (or MESS+).

Endpoints (Starlette on uvicorn; upstream calls with httpx):

- ``POST /v1/chat/completions`` (streaming and not): routes the request's last user message,
  forwards the request to the chosen upstream (``model`` replaced by the upstream's), and
  returns its answer with ``model`` = the upstream's name, ``id`` = the ticket id for feedback,
  and a ``messjax`` object (``id``, ``model``, ``explore``, ``query``, ``models``; when more
  than the served upstream is queried, the others' answers in ``alternatives``). The queried
  upstreams are the decision's ``query`` set, called concurrently: under ``policy: messplus``
  an exploration queries every upstream (the largest, the last, is served); under ``messjax``
  (the default) the served one plus at most one extra (every upstream on the first
  request). Headers ``X-Messjax-Id``, ``X-Messjax-Model``, ``X-Messjax-Explore`` say the same.
- ``POST /v1/feedback`` ``{"id": ..., "satisfied": 1}`` (a number in [0, 1] or a bool; on an
  exploration a list with one value per queried upstream (``query`` order) or per upstream, or a
  ``{name: value}`` mapping over every upstream; ``null`` =
  the user will not say). Accepted once per id the server issued, within ``feedback_expiry``.
- ``GET /v1/models``; ``GET /v1/router`` (the router's counts, queue and state fingerprint);
  ``GET /metrics`` (Prometheus text format, no key needed, no secrets in it).

Costs are computed from the upstream's ``usage`` (prompt and completion tokens) and the
config's prices; an upstream that reports no usage is charged by an estimate (4 characters a
token). A failed upstream call costs 0. Requests whose served upstream fails get 502 (504 on a
timeout) after ``retries`` retries, and their ticket is closed without feedback; when a
non-served upstream of an exploration fails, the answer is served and the exploration closed
without feedback (its outcome vector would be incomplete).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from messjax.errors import MessjaxError
from messjax.router import (
    Router,
    TicketClosed,
    TicketError,
    TicketExpired,
    TicketIncomplete,
    UnknownTicket,
)
from messjax.serve.config import ServeConfig
from messjax.serve.metrics import CONTENT_TYPE, ServeMetrics
from messjax.serve.persist import PersistentRouter
from messjax.serve.upstream import UpstreamFailure, Upstreams, answer_text, tokens

log = logging.getLogger("messjax.serve")


class HTTPError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class _NotFinite(ValueError):
    """A request body holding NaN, Infinity or a number beyond float range."""


def _refuse_constant(name: str):
    raise _NotFinite(f"not valid JSON for this API: {name} is not a number")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise _NotFinite(f"not valid JSON for this API: {text} is beyond float range")
    return v


def error_response(status: int, message: str, kind: str = "invalid_request_error", **headers):
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": status}},
        status_code=status,
        headers=headers or None,
    )


def make_router(cfg: ServeConfig) -> Router:
    from messjax.features import get_featurizer

    r = dict(cfg.router)
    featurizer = r.pop("featurizer")
    dim = get_featurizer(featurizer).dim
    return Router.create(
        list(cfg.models),
        dim,
        head=r.pop("head"),
        featurizer=featurizer,
        seed=r.pop("seed"),
        expiry=cfg.feedback_expiry,
        **r,
    )


def request_text(body: dict[str, Any]) -> str:
    """The text the router decides on: the last user message (all text parts joined)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPError(400, "'messages' must be a non-empty list of {role, content} objects")
    texts = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise HTTPError(400, f"messages[{i}] must be an object with a string 'role'")
        content = m.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            parts = []
            for j, p in enumerate(content):
                if not isinstance(p, dict):
                    raise HTTPError(400, f"messages[{i}].content[{j}] must be an object")
                if p.get("type") == "text":
                    if not isinstance(p.get("text"), str):
                        raise HTTPError(400, f"messages[{i}].content[{j}].text must be a string")
                    parts.append(p["text"])
            text = "\n".join(parts)
        elif content is None:
            text = ""
        else:
            raise HTTPError(400, f"messages[{i}].content must be a string or a list of parts")
        texts.append((m["role"], text))
    users = [t for role, t in texts if role == "user"]
    return users[-1] if users else "\n".join(t for _, t in texts)


class ServeApp:
    """The server's state: config, persistent router, upstream client, metrics."""

    def __init__(self, cfg: ServeConfig, *, state_dir: str | None = None):
        self.cfg = cfg
        self.api_key = cfg.api_key()
        self.metrics = ServeMetrics()
        self.upstreams = Upstreams(cfg, self.metrics)
        self.live = PersistentRouter(
            state_dir or cfg.state_dir,
            lambda: make_router(cfg),
            cfg.router_identity(),
            fsync=cfg.journal_fsync,
        )
        self.router = self.live.router
        self.router.expiry = cfg.feedback_expiry
        self._tasks: list[asyncio.Task] = []
        self.metrics.watch(self.router)

    # ------------------------------------------------------------------------ lifecycle
    async def startup(self) -> None:
        self.upstreams.open()
        await anyio.to_thread.run_sync(self.warmup)
        self._tasks = [
            asyncio.create_task(self._every(self.cfg.checkpoint_every, self._checkpoint)),
            asyncio.create_task(self._every(min(5.0, self.cfg.feedback_expiry / 4), self._expire)),
        ]
        log.info(
            "router ready: models %s, %d requests routed, %d in flight, %d journal records "
            "replayed",
            ", ".join(self.cfg.models),
            self.router.routed,
            self.router.in_flight,
            self.live.replayed,
        )

    def warmup(self) -> None:
        """Compile decide and observe (on a throwaway copy) before the first request."""
        r = self.router.snapshot()
        x = r.embed("warm up")
        d = r.route(x)
        r.observe(d.id, None, np.zeros(len(r.models)))

    async def shutdown(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.upstreams.close()
        await anyio.to_thread.run_sync(self.live.close)
        log.info("router state saved to %s", self.live.dir)

    async def _every(self, seconds: float, fn) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await anyio.to_thread.run_sync(fn)
            except Exception:  # keep serving; the next round retries
                log.exception("background task %s failed", fn.__name__)

    def _checkpoint(self) -> None:
        path = self.live.checkpoint()
        if path is not None:
            log.info("checkpoint %s", path.name)

    def _expire(self) -> None:
        ids = self.live.expire()
        if ids:
            log.info("%d requests expired without feedback", len(ids))

    # -------------------------------------------------------------------------- helpers
    def check_auth(self, request: Request) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise HTTPError(401, "missing or wrong API key (Authorization: Bearer <key>)")

    async def read_json(self, request: Request) -> dict[str, Any]:
        limit = self.cfg.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise HTTPError(413, f"request body over the limit of {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"request body over the limit of {limit} bytes")
            chunks.append(chunk)
        try:
            body = json.loads(
                b"".join(chunks), parse_constant=_refuse_constant, parse_float=_finite_float
            )
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            why = str(e) if isinstance(e, _NotFinite) else "not valid JSON"
            raise HTTPError(400, f"request body is {why}") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "request body must be a JSON object")
        return body

    # ------------------------------------------------------------------------ endpoints
    async def chat_completions(self, request: Request) -> Response:
        self.check_auth(request)
        body = await self.read_json(request)
        model = body.get("model", self.cfg.served_model)
        if model not in (self.cfg.served_model, None):
            raise HTTPError(
                404,
                f"unknown model {model!r}: this server serves {self.cfg.served_model!r}",
                "model_not_found",
            )
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise HTTPError(400, "'stream' must be true or false")
        if not isinstance(body.get("stream_options") or {}, dict):
            raise HTTPError(400, "'stream_options' must be an object or null")
        text = request_text(body)
        t0 = time.perf_counter()
        d = await anyio.to_thread.run_sync(self.live.route, text)
        self.metrics.latency.observe(time.perf_counter() - t0)
        ups = self.cfg.upstreams
        served = ups[d.model_index]
        info = {
            "id": d.id,
            "model": served.name,
            "explore": d.explore,
            "query": list(d.query),
            "models": list(self.cfg.models),
        }
        headers = {
            "x-messjax-id": d.id,
            "x-messjax-model": served.name,
            "x-messjax-explore": str(d.explore).lower(),
        }
        # the decision's other queried upstreams (every one on a messplus exploration, one
        # extra under messjax), concurrently with the served one
        others = {
            ups[m].name: asyncio.create_task(self.upstreams.call(ups[m], body))
            for m in d.query_index
            if m != d.model_index
        }
        try:  # the request is routed: whatever goes wrong now closes its ticket
            if stream:
                upstream_resp = await self.upstreams.open_stream(served, body)
                gen = self._relay(d, served, text, upstream_resp, others, info, body)
                return StreamingResponse(gen, media_type="text/event-stream", headers=headers)
            answer = await self.upstreams.call(served, body)
            if not isinstance(answer, dict):
                raise UpstreamFailure(502, f"upstream {served.name!r} answered a non-object")
            usage = answer.get("usage")
            await self._charge(d, served, others, info, usage, text, answer_text(answer))
            answer.update(id=d.id, model=served.name, messjax=info)
            log.debug("route %s -> %s explore=%s", d.id, served.name, d.explore)
            return JSONResponse(answer, headers=headers)
        except UpstreamFailure as e:
            await self._fail(d.id, others)
            raise HTTPError(e.client_status, e.message, "upstream_error") from None
        except Exception as e:  # a malformed answer (e.g. NaN in it): nothing to serve
            log.warning("route %s: upstream %s's answer unusable: %s", d.id, served.name, e)
            await self._fail(d.id, others)
            msg = f"upstream {served.name!r} answered something unusable ({type(e).__name__})"
            raise HTTPError(502, msg, "upstream_error") from None

    async def _charge(self, d, served, others, info, usage, text, answer: str) -> None:
        """Charge the served model's answer (tokens priced by its upstream) and, when other
        models were queried, wait for their answers and settle the ticket with every cost;
        the one path of plain and streamed completions."""
        costs = np.zeros(len(self.cfg.upstreams))
        i, o = tokens(usage, text, answer)
        costs[d.model_index] = served.cost(i, o)
        try:
            if others:
                info["alternatives"], failed = await self._gather(others, text, costs)
                await self._settle(d.id, costs, failed)
            else:
                await anyio.to_thread.run_sync(
                    self.live.record_costs, d.id, float(costs[d.model_index])
                )
        except TicketError as e:  # closed meanwhile (it expired while being answered)
            log.warning("route %s: answered after its ticket closed (%s)", d.id, e)

    async def _gather(self, others, text, costs):
        """Answers of an exploration's other upstreams; costs filled in; the names of the
        upstreams that failed."""
        alternatives, failed = [], []
        for name, task in others.items():
            m = self.cfg.models.index(name)
            try:
                ans = await task
            except UpstreamFailure as e:
                failed.append(name)
                alternatives.append({"model": name, "error": e.message})
                continue
            content = answer_text(ans)
            i, o = tokens(ans.get("usage"), text, content)
            costs[m] = self.cfg.upstreams[m].cost(i, o)
            alternatives.append({"model": name, "content": content})
        return alternatives, failed

    async def _settle(self, id: str, costs: np.ndarray, failed: list[str]) -> None:
        # a failed upstream's cost was not observed: charged 0, the cost estimate untouched
        await anyio.to_thread.run_sync(
            functools.partial(self.live.record_costs, id, costs, unknown=failed)
        )
        if failed:  # an outcome vector with holes cannot train the predictor
            await anyio.to_thread.run_sync(self.live.close_without_feedback, id)

    async def _fail(self, id: str, others) -> None:
        for task in others.values():
            task.cancel()
        # their outcomes (cancelled or not) only; a cancellation of the caller still stops it
        await asyncio.gather(*others.values(), return_exceptions=True)
        # The served model failed: nothing was served; close the ticket at no cost (its
        # recorded costs, if any; a ticket closed meanwhile, e.g. expired, stays as it is).
        with contextlib.suppress(TicketError):
            await anyio.to_thread.run_sync(self.live.close_without_feedback, id)

    async def _relay(self, d, served, text, upstream_resp, others, info, body):
        """Relay the upstream's SSE stream: ids and model names rewritten, usage chunk kept
        only if the client asked for it; the messjax object in a last chunk. The ticket is
        settled by the charge at the stream's end; any other exit (the upstream broke, the
        client hung up: the generator cancelled or closed) closes it without feedback, in a
        shielded ``finally``."""
        settled = False
        chunks = self._relay_chunks(d, served, upstream_resp, body, info)
        try:
            while True:
                try:
                    out = await anext(chunks)
                except StopAsyncIteration:
                    break
                except (httpx.HTTPError, ValueError, TypeError, AttributeError) as e:
                    self.metrics.upstream_errors.labels(served.name, "stream").inc()
                    err = {"error": {"message": f"upstream {served.name!r} stream broke: {e}"}}
                    yield f"data: {json.dumps(err)}\n\n"
                    return  # the finally closes the ticket
                if isinstance(out, tuple):  # the stream's end: (usage, answer text)
                    await self._charge(d, served, others, info, out[0], text, out[1])
                    settled = True
                else:
                    yield out
        finally:
            with anyio.CancelScope(shield=True):
                await chunks.aclose()
                await upstream_resp.aclose()
                if not settled:
                    await self._fail(d.id, others)

    async def _relay_chunks(self, d, served, upstream_resp, body, info):
        """The client's SSE lines, then ``(usage, answer text)``, then the last lines."""
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pieces, usage, created = [], None, int(time.time())
        async for line in upstream_resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            created = chunk.get("created", created)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for ch in chunk.get("choices") or []:
                delta = (ch.get("delta") if isinstance(ch, dict) else None) or {}
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    pieces.append(delta["content"])
            if not chunk.get("choices") and chunk.get("usage") and not want_usage:
                continue
            chunk["id"], chunk["model"] = d.id, served.name
            yield f"data: {json.dumps(chunk, allow_nan=False)}\n\n"
        yield usage, "".join(pieces)
        last = {
            "id": d.id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": served.name,
            "choices": [],
            "messjax": info,
        }
        yield f"data: {json.dumps(last)}\n\n"
        yield "data: [DONE]\n\n"
        log.debug("route %s -> %s explore=%s (stream)", d.id, served.name, d.explore)

    async def feedback(self, request: Request) -> Response:
        self.check_auth(request)
        body = await self.read_json(request)
        id, sat = body.get("id"), body.get("satisfied", ...)
        if not isinstance(id, str):
            raise HTTPError(400, "'id' must be the string id of a chat completion")
        if sat is ...:
            raise HTTPError(400, "'satisfied' is missing (a number in [0, 1], or null)")
        if isinstance(sat, dict):
            unknown = [k for k in sat if k not in self.cfg.models]
            if unknown or len(sat) != len(self.cfg.models):
                raise HTTPError(
                    400,
                    f"'satisfied' as a mapping needs one value for each of {list(self.cfg.models)}",
                )
            sat = [sat[m] for m in self.cfg.models]

        def ok_value(v) -> bool:
            try:
                return isinstance(v, int | float) and math.isfinite(v)
            except OverflowError:  # an int beyond float range
                return False

        if sat is not None and not (
            ok_value(sat) or (isinstance(sat, list) and all(ok_value(v) for v in sat))
        ):
            raise HTTPError(400, "'satisfied' must be a number in [0, 1], a list of them, or null")
        try:
            out = await anyio.to_thread.run_sync(self.live.observe, id, sat)
        except UnknownTicket as e:
            self.metrics.feedback_refused.labels("unknown").inc()
            raise HTTPError(404, str(e), "unknown_id") from None
        except TicketClosed as e:
            self.metrics.feedback_refused.labels("duplicate").inc()
            raise HTTPError(409, str(e), "duplicate_feedback") from None
        except TicketExpired as e:
            self.metrics.feedback_refused.labels("expired").inc()
            raise HTTPError(410, str(e), "expired") from None
        except TicketIncomplete:
            self.metrics.feedback_refused.labels("in_progress").inc()
            raise HTTPError(
                409, f"request {id} is still being answered; send feedback after the answer"
            ) from None
        except MessjaxError as e:
            self.metrics.feedback_refused.labels("invalid").inc()
            raise HTTPError(400, str(e)) from None
        return JSONResponse({"id": id, "accepted": True, **out})

    async def models(self, request: Request) -> Response:
        self.check_auth(request)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.cfg.served_model,
                        "object": "model",
                        "created": 0,
                        "owned_by": "messjax",
                        "upstreams": list(self.cfg.models),
                    }
                ],
            }
        )

    async def router_state(self, request: Request) -> Response:
        self.check_auth(request)
        return JSONResponse(await anyio.to_thread.run_sync(self.describe))

    def describe(self) -> dict[str, Any]:
        r = self.router
        with r.lock:
            return {
                "policy": r.policy,
                "models": list(r.models),
                "routed": r.routed,
                "observed": r.num_observed,
                "in_flight": r.in_flight,
                "virtual_queue": r.virtual_queue,
                "ideal_queue": r.ideal_queue,
                "cost_estimate": r.cost_estimate.tolist(),
                "stats": {k: v for k, v in vars(r.stats).items() if not k.startswith("_")},
                "fingerprint": r.fingerprint(),
                "journal_seq": self.live.journal.seq,
            }

    async def scrape(self, request: Request) -> Response:
        """``GET /metrics``."""
        return Response(self.metrics.text(), media_type=CONTENT_TYPE)


def build_app(cfg: ServeConfig, *, state_dir: str | None = None) -> Starlette:
    """The Starlette application (state restored from ``state_dir`` / the config's)."""
    srv = ServeApp(cfg, state_dir=state_dir)

    def endpoint(name, fn):
        async def handler(request: Request) -> Response:
            try:
                resp = await fn(request)
            except HTTPError as e:
                extra = {"www-authenticate": "Bearer"} if e.status == 401 else {}
                resp = error_response(e.status, e.message, e.kind, **extra)
                if e.status >= 500:
                    log.warning("%s %s: %s", request.method, request.url.path, e.message)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                resp = error_response(500, "internal error (see the server log)", "server_error")
            srv.metrics.http_requests.labels(name, str(resp.status_code)).inc()
            return resp

        return handler

    @contextlib.asynccontextmanager
    async def lifespan(app) -> AsyncIterator[None]:
        await srv.startup()
        try:
            yield
        finally:
            await srv.shutdown()

    routes = [
        Route(
            "/v1/chat/completions",
            endpoint("chat_completions", srv.chat_completions),
            methods=["POST"],
        ),
        Route("/v1/feedback", endpoint("feedback", srv.feedback), methods=["POST"]),
        Route("/v1/models", endpoint("models", srv.models), methods=["GET"]),
        Route("/v1/router", endpoint("router", srv.router_state), methods=["GET"]),
        Route("/metrics", endpoint("metrics", srv.scrape), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.serve = srv
    return app
