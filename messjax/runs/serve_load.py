"""Load test of ``messjax serve``: concurrent clients, every feedback counted, kill -9, restore.

Starts three fake OpenAI-compatible upstreams (:mod:`messjax.serve.fake`, one process) and
``messjax serve`` as another process on free local ports, then runs ``--clients``
concurrent clients that each send ``--requests`` chat completions and, for each answer, one
feedback (an outcome per model on explorations; a seeded random satisfaction). It checks:

- every request answered (HTTP 200) and every feedback acknowledged;
- the server's counters equal the clients': requests routed, feedback counted (``/v1/router``
  and ``/metrics``), and each upstream's call count equals the model calls the router counted;
- after ``kill -9`` of the server and a restart on the same state folder, the router's state
  fingerprint (predictor, optimiser, queues, cost estimate, request counter, in-flight tickets,
  counts) equals the one read before the kill, and every acknowledged feedback is refused as a
  duplicate (so none was lost).

    python experiments/serve_load.py --clients 64 --requests 100 --json results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from messjax.fileio import atomic_write_text

QUESTIONS = [
    "What is the capital of France?",
    "Prove that there are infinitely many primes.",
    "Which gas do plants absorb for photosynthesis?",
    "Write a haiku about routers.",
    "Explain the Lyapunov drift-plus-penalty method in two sentences.",
    "How many legs does a spider have?",
]
UPSTREAM_KEY_ENV = "MESSJAX_LOAD_UPSTREAM_KEY"
CLIENT_KEY_ENV = "MESSJAX_LOAD_CLIENT_KEY"


def write_config(path: Path, upstreams: dict[str, str], state_dir: Path, **extra: Any) -> Path:
    import yaml

    prices = {"small": 1e-7, "medium": 5e-7, "large": 3e-6}
    cfg = {
        "host": "127.0.0.1",
        "port": 0,
        "state_dir": str(state_dir),
        "api_key_env": CLIENT_KEY_ENV,
        "checkpoint_every": 5.0,
        "router": {"alpha": 0.75, "c": 0.5, "seed": 0},
        "upstreams": [
            {
                "name": name,
                "base_url": url + "/v1",
                "model": f"fake-{name}",
                "api_key_env": UPSTREAM_KEY_ENV,
                "cost_per_input_token": prices.get(name, 1e-6),
                "cost_per_output_token": 2 * prices.get(name, 1e-6),
            }
            for name, url in upstreams.items()
        ],
        **extra,
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


class ServeProcess:
    """``messjax serve`` in a subprocess; its stdout/stderr go to ``log``."""

    def __init__(self, config: Path, log: Path, env: dict[str, str]):
        self.config, self.log, self.env = config, log, env
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 180.0) -> ServeProcess:
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "messjax", "serve", "--config", str(self.config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            if self.proc.poll() is not None:
                raise RuntimeError(f"messjax serve exited: {text[-3000:]}")
            if "Application startup complete" in text:
                self.url = re.findall(r"listening on (http://\S+)", text)[-1]
                return self
            time.sleep(0.1)
        raise RuntimeError(f"messjax serve did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._out.close()

    def stop(self) -> int:
        """SIGTERM: graceful shutdown (final checkpoint); the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._out.close()
        return rc


def start_upstreams(names, env: dict[str, str]) -> subprocess.Popen:
    """Fake upstreams (one process, apart from the clients); URLs on its stdout."""
    args = [sys.executable, "-m", "messjax.serve.fake", "--port", "0"]
    args += ["--key-env", UPSTREAM_KEY_ENV]
    for n in names:
        args += ["--name", n]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)


def satisfied_for(answer: dict[str, Any], rng: np.random.Generator):
    info = answer["messjax"]
    query = info.get("query", info["models"] if info["explore"] else [info["model"]])
    if len(query) > 1:  # one outcome per queried upstream, in query order
        return [int(rng.random() < p) for p in np.linspace(0.5, 0.9, len(query))]
    return int(rng.random() < 0.8)


async def run_clients(
    url: str, key: str, clients: int, requests: int, *, feedback: bool = True, seed: int = 0
) -> dict[str, Any]:
    """``clients`` concurrent clients x ``requests`` chat completions (+ feedback each)."""
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
    acked: list[str] = []
    errors: list[str] = []
    answered = 0
    latencies: list[float] = []

    async def client(k: int, http: httpx.AsyncClient) -> None:
        nonlocal answered
        rng = np.random.default_rng([seed, k])
        for i in range(requests):
            q = f"{QUESTIONS[(k + i) % len(QUESTIONS)]} (client {k}, request {i})"
            body = {"model": "messjax", "messages": [{"role": "user", "content": q}]}
            t0 = time.perf_counter()
            try:
                r = await http.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            except httpx.HTTPError as e:
                errors.append(f"chat: {type(e).__name__}")
                continue
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors.append(f"chat: HTTP {r.status_code} {r.text[:200]}")
                continue
            answered += 1
            if not feedback:
                continue
            ans = r.json()
            fb = {"id": ans["id"], "satisfied": satisfied_for(ans, rng)}
            try:
                f = await http.post(f"{url}/v1/feedback", json=fb, headers=headers)
            except httpx.HTTPError as e:
                errors.append(f"feedback: {type(e).__name__}")
                continue
            if f.status_code == 200:
                acked.append(ans["id"])
            else:
                errors.append(f"feedback: HTTP {f.status_code} {f.text[:200]}")

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(k, http) for k in range(clients)))
    wall = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1e3 if latencies else np.zeros(1)
    return {
        "clients": clients,
        "requests_per_client": requests,
        "sent": clients * requests,
        "answered": answered,
        "feedback_acked": len(acked),
        "acked_ids": acked,
        "errors": errors,
        "wall_s": wall,
        "requests_per_s": answered / wall,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p99": float(np.percentile(lat, 99)),
    }


def metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def run(clients: int, requests: int, workdir: Path) -> dict[str, Any]:
    upstream_key = "sk-upstream-" + os.urandom(8).hex()
    client_key = "ck-" + os.urandom(8).hex()
    env = {**os.environ, UPSTREAM_KEY_ENV: upstream_key, CLIENT_KEY_ENV: client_key}
    names = ("small", "medium", "large")
    fake = start_upstreams(names, env)
    serve = None
    try:
        ups = {}
        for _ in names:
            line = fake.stdout.readline()
            m = re.match(r"upstream (\S+) listening on (\S+)", line)
            if not m:
                raise RuntimeError(f"fake upstreams did not start: {line!r}")
            ups[m.group(1)] = m.group(2)
        cfg = write_config(workdir / "router.yaml", ups, workdir / "state")
        serve = ServeProcess(cfg, workdir / "serve.log", env).start()
        load = asyncio.run(run_clients(serve.url, client_key, clients, requests))
        h = {"authorization": f"Bearer {client_key}"}
        before = httpx.get(f"{serve.url}/v1/router", headers=h).json()
        metrics = httpx.get(f"{serve.url}/metrics").text
        upstream_calls = {n: httpx.get(f"{u}/stats").json()["calls"] for n, u in ups.items()}
        serve.kill()
        t0 = time.perf_counter()
        serve.start()
        restart_s = time.perf_counter() - t0
        after = httpx.get(f"{serve.url}/v1/router", headers=h).json()

        async def resend() -> list[int]:
            async with httpx.AsyncClient(timeout=60) as http:
                sem = asyncio.Semaphore(32)

                async def one(i):
                    async with sem:
                        r = await http.post(
                            f"{serve.url}/v1/feedback",
                            json={"id": i, "satisfied": 1},
                            headers=h,
                        )
                        return r.status_code

                return await asyncio.gather(*(one(i) for i in load["acked_ids"]))

        resent = asyncio.run(resend())
        rc = serve.stop()
        log_text = (workdir / "serve.log").read_text()
    finally:
        if serve is not None and serve.proc is not None and serve.proc.poll() is None:
            serve.proc.kill()
        fake.terminate()
        fake.wait(timeout=30)
    s = before["stats"]
    checks = {
        "every_request_answered": load["answered"] == load["sent"],
        "every_feedback_acked": load["feedback_acked"] == load["sent"],
        "no_client_errors": not load["errors"],
        "server_routed_equals_sent": s["routed"] == load["sent"],
        "server_feedback_equals_acked": s["feedback"] == load["feedback_acked"],
        "metrics_feedback_equals_acked": metric(metrics, "messjax_feedback_total")
        == load["feedback_acked"],
        "metrics_requests_equals_sent": metric(metrics, "messjax_requests_total") == load["sent"],
        "upstream_calls_equal_model_calls": [upstream_calls[n] for n in names] == s["queried"],
        "state_after_restart_equals_before_kill": after["fingerprint"] == before["fingerprint"]
        and after["stats"] == before["stats"],
        "acked_feedback_refused_after_restart": all(c == 409 for c in resent),
        # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop
        "graceful_stop_saved_state": rc in (0, -signal.SIGTERM)
        and "router state saved" in log_text.rsplit("Shutting down", 1)[-1],
        "upstream_key_not_in_log": upstream_key not in log_text,
        "client_key_not_in_log": client_key not in log_text,
    }
    load.pop("acked_ids")
    load["errors"] = load["errors"][:10]
    return {
        "load": load,
        "server_before_kill": before,
        "server_after_restart": after,
        "upstream_calls": upstream_calls,
        "restart_s": restart_s,
        "checks": checks,
        "ok": all(checks.values()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument("--workdir", default=None, help="state folder and logs (default: a temp dir)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = run(a.clients, a.requests, work)
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(a.json, text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
