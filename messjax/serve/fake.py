"""A small fake OpenAI-compatible upstream, for demos, tests and the HTTP benchmark.

    python -m messjax.serve.fake --name small --port 9001
    python -m messjax.serve.fake --name small --name large --port 0   # several, free ports

``POST /v1/chat/completions`` answers ``"<name> says: <the last user message>"`` with
``usage`` (whitespace-separated words as tokens), streaming (one chunk per word, then a usage
chunk when ``stream_options.include_usage``) or not. ``--fail`` answers 500, ``--hang S``
sleeps S seconds first, ``--key-env VAR`` requires ``Authorization: Bearer $VAR``.
``GET /stats`` counts the calls. :class:`ThreadedServer` runs any ASGI app on a free port of
127.0.0.1 in a background thread (the tests' and the benchmark's upstreams).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import threading
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


def fake_upstream(name: str, *, fail: bool = False, hang: float = 0.0, key: str | None = None):
    """The fake upstream's Starlette app; ``app.state.calls`` counts completions."""
    stats = {"calls": 0, "auth_failures": 0}

    async def completions(request: Request):
        stats["calls"] += 1
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            stats["auth_failures"] += 1
            # echoes what it got, as some servers do: the router must not pass it on
            got = request.headers.get("authorization", "")
            msg = f"bad upstream key: {got}"
            return JSONResponse({"error": {"message": msg}}, status_code=401)
        if hang:
            await asyncio.sleep(hang)
        if fail:
            return JSONResponse({"error": {"message": f"{name} is broken"}}, status_code=500)
        body = await request.json()
        prompt = " ".join(
            m["content"] for m in body["messages"] if isinstance(m.get("content"), str)
        )
        users = [m["content"] for m in body["messages"] if m.get("role") == "user"]
        answer = f"{name} says: {users[-1] if users else ''}"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(answer.split()),
            "total_tokens": len(prompt.split()) + len(answer.split()),
        }
        base = {"id": f"up-{stats['calls']}", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        want_usage = (body.get("stream_options") or {}).get("include_usage")

        async def events():
            words = answer.split(" ")
            for i, w in enumerate(words):
                delta = {"content": w if i == 0 else " " + w}
                if i == 0:
                    delta["role"] = "assistant"
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            end = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(end)}\n\n"
            if want_usage:
                u = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                yield f"data: {json.dumps(u)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def get_stats(request: Request):
        return JSONResponse(stats)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/stats", get_stats, methods=["GET"]),
        ]
    )
    app.state.stats = stats
    return app


class ThreadedServer:
    """An ASGI app served by uvicorn on ``127.0.0.1:<free port>`` in a daemon thread.

    ``with ThreadedServer(app) as s: s.url`` — stopped (and joined) on exit.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, lifespan: str = "off"):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan=lifespan,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import signal

    import uvicorn

    p = argparse.ArgumentParser(description="fake OpenAI-compatible upstreams")
    p.add_argument("--name", required=True, action="append", help="repeat for more upstreams")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001, help="first port (0: free ports)")
    p.add_argument("--fail", action="store_true")
    p.add_argument("--hang", type=float, default=0.0)
    p.add_argument("--key-env", default=None, help="require Bearer $KEY_ENV")
    a = p.parse_args(argv)
    key = os.environ[a.key_env] if a.key_env else None
    apps = [fake_upstream(n, fail=a.fail, hang=a.hang, key=key) for n in a.name]
    if len(apps) == 1 and a.port:
        uvicorn.run(apps[0], host=a.host, port=a.port, log_level="warning")
        return 0
    servers = []
    for i, (name, app) in enumerate(zip(a.name, apps, strict=True)):
        s = ThreadedServer(app, a.host, a.port + i if a.port else 0).start()
        servers.append(s)
        print(f"upstream {name} listening on {s.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    for s in servers:
        s.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
