"""The upstream models of ``messjax serve``: OpenAI-compatible chat completions over one
httpx client, with retries (connection errors, timeouts, 429 and 5xx), each call counted in
the server's metrics; token counts and costs of their answers."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx

from messjax.serve.config import ServeConfig, Upstream
from messjax.serve.metrics import ServeMetrics


class UpstreamFailure(Exception):
    """An upstream call that failed; ``status`` is the upstream's HTTP status (or 502/504
    for no answer / a timeout), ``client_status`` what the client is told."""

    def __init__(self, upstream: Upstream, status: int, message: str):
        super().__init__(message)
        self.upstream, self.status, self.message = upstream, status, message

    @property
    def client_status(self) -> int:
        if self.status in (502, 504):
            return self.status
        if self.status >= 500 or self.status in (401, 403):  # its fault, or our key's
            return 502
        if self.status == 429:
            return 503
        return self.status  # the request itself was refused (400, 404, 413, 422, ...)


def answer_text(resp: dict[str, Any]) -> str:
    """The text of a completion's first choice (``""`` when it has none)."""
    try:
        return resp["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


#: token counts above this (or negative, or not integers) in an upstream's usage are not
#: believed: the cost is then estimated from the texts
MAX_TOKENS = 10**9


def tokens(usage: Any, prompt_text: str, answer_text: str) -> tuple[int, int]:
    """(prompt, completion) tokens: the upstream's ``usage``, else 4 characters a token."""
    if isinstance(usage, dict):
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        plausible = lambda n: type(n) is int and 0 <= n <= MAX_TOKENS  # noqa: E731
        if plausible(p) and plausible(c):
            return p, c
    return math.ceil(len(prompt_text) / 4), math.ceil(len(answer_text) / 4)


class Upstreams:
    """The upstreams' client (open between :meth:`open` and :meth:`close`), keys and retries."""

    def __init__(self, cfg: ServeConfig, metrics: ServeMetrics):
        self.cfg, self.metrics = cfg, metrics
        self.keys = {u.name: u.api_key() for u in cfg.upstreams}
        self.client: httpx.AsyncClient | None = None

    def open(self) -> None:
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=128)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.cfg.upstream_timeout), limits=limits
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def _headers(self, up: Upstream, stream: bool) -> dict[str, str]:
        h = {"content-type": "application/json"}
        if stream:
            h["accept"] = "text/event-stream"
        key = self.keys[up.name]
        if key is not None:
            h["authorization"] = f"Bearer {key}"
        return h

    async def _retrying(self, up: Upstream, attempt_fn):
        """Run ``attempt_fn()`` with retries on connection errors, timeouts, 429 and 5xx."""
        last: UpstreamFailure | None = None
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                await asyncio.sleep(min(2.0, 0.1 * 2 ** (attempt - 1)))
            self.metrics.upstream_calls.labels(up.name).inc()
            try:
                return await attempt_fn()
            except httpx.TimeoutException:
                last = UpstreamFailure(
                    up, 504, f"upstream {up.name!r} timed out after {self.cfg.upstream_timeout:g} s"
                )
                kind = "timeout"
            except httpx.TransportError as e:
                last = UpstreamFailure(
                    up, 502, f"upstream {up.name!r} unreachable: {type(e).__name__}"
                )
                kind = "connection"
            except UpstreamFailure as e:
                last, kind = e, f"http_{e.status}"
                if e.status < 500 and e.status != 429:
                    break  # the upstream refused this request: retrying will not help
            self.metrics.upstream_errors.labels(up.name, kind).inc()
        raise last

    def _message(self, up: Upstream, r: httpx.Response) -> str:
        """The upstream's error message (its key, should it echo it, redacted)."""
        try:
            msg, limit = str(r.json()["error"]["message"]), 500
        except (ValueError, KeyError, TypeError):
            msg, limit = r.text, 200
        key = self.keys[up.name]
        if key:  # an upstream may echo the key it was sent: it goes to the client and the log
            msg = msg.replace(key, "[redacted]")  # before cutting, which could split the key
        msg = msg[:limit]
        return f"upstream {up.name!r} answered {r.status_code}: {msg}"

    def _upstream_body(self, body: dict[str, Any], up: Upstream, stream: bool) -> dict[str, Any]:
        out = {**body, "model": up.model, "stream": stream}
        if stream:
            out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            out.pop("stream_options", None)
        return out

    async def call(self, up: Upstream, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming completion from ``up`` (with retries)."""

        async def attempt():
            r = await self.client.post(
                f"{up.base_url}/chat/completions",
                json=self._upstream_body(body, up, False),
                headers=self._headers(up, False),
            )
            if r.status_code != 200:
                raise UpstreamFailure(up, r.status_code, self._message(up, r))
            try:
                data = r.json()
            except ValueError:
                raise UpstreamFailure(up, 502, f"upstream {up.name!r} sent invalid JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
                raise UpstreamFailure(up, 502, f"upstream {up.name!r} sent no 'choices'")
            return data

        return await self._retrying(up, attempt)

    async def open_stream(self, up: Upstream, body: dict[str, Any]) -> httpx.Response:
        """A streaming response from ``up``, open and checked (retries before its first
        byte only)."""

        async def attempt():
            req = self.client.build_request(
                "POST",
                f"{up.base_url}/chat/completions",
                json=self._upstream_body(body, up, True),
                headers=self._headers(up, True),
            )
            r = await self.client.send(req, stream=True)
            if r.status_code != 200:
                await r.aread()
                await r.aclose()
                raise UpstreamFailure(up, r.status_code, self._message(up, r))
            return r

        return await self._retrying(up, attempt)
