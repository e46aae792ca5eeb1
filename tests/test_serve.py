"""``messjax serve`` with real parts: fake OpenAI-compatible upstreams and the server as real
HTTP servers on free 127.0.0.1 ports, talked to with httpx (and the server as a separate
process where it is killed and restarted)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from messjax.errors import ConfigError  # noqa: E402
from messjax.runs import serve_load  # noqa: E402
from messjax.serve.app import build_app  # noqa: E402
from messjax.serve.config import serve_config_from_dict  # noqa: E402
from messjax.serve.fake import ThreadedServer, fake_upstream  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_KEY = "sk-test-upstream-Zq81xv"
CLIENT_KEY = "client-test-key-3141"
AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("TEST_CLIENT_KEY", CLIENT_KEY)


def config(upstreams: dict[str, str], state_dir, **kw) -> dict:
    raw = {
        "api_key_env": "TEST_CLIENT_KEY",
        "state_dir": str(state_dir),
        "checkpoint_every": 3600,
        "upstream_timeout": 5,
        "retries": 1,
        "router": {"policy": "messplus", "alpha": 0.7, "c": 0.01, "seed": 0},
        "upstreams": [
            {
                "name": n,
                "base_url": u + "/v1",
                "model": f"model-{n}",
                "api_key_env": "TEST_UPSTREAM_KEY",
                "cost_per_input_token": 0.001 * (i + 1),
                "cost_per_output_token": 0.002 * (i + 1),
            }
            for i, (n, u) in enumerate(upstreams.items())
        ],
    }
    for k, v in kw.items():
        if k == "router":
            raw["router"] = {**raw["router"], **v}
        else:
            raw[k] = v
    return raw


@pytest.fixture(scope="module")
def upstreams():
    """Three fake upstreams (small, medium, large) that demand the upstream key."""
    apps = {n: fake_upstream(n, key=UPSTREAM_KEY) for n in ("small", "medium", "large")}
    servers = {n: ThreadedServer(a).start() for n, a in apps.items()}
    yield {n: s.url for n, s in servers.items()}, apps
    for s in servers.values():
        s.stop()


class Serve:
    """``build_app`` served by uvicorn in a thread (the lifespan runs: restore, checkpoint)."""

    def __init__(self, raw: dict):
        self.cfg = serve_config_from_dict(raw)
        self.app = build_app(self.cfg)
        self.server = ThreadedServer(self.app, lifespan="on").start()
        self.url = self.server.url
        self.srv = self.app.state.serve

    def post(self, path, body, headers=AUTH, **kw):
        return httpx.post(self.url + path, json=body, headers=headers, timeout=30, **kw)

    def get(self, path, headers=AUTH):
        return httpx.get(self.url + path, headers=headers, timeout=30)

    def stop(self):
        self.server.stop()


def chat(text="What is 2 + 2?", **kw):
    return {"model": "messjax", "messages": [{"role": "user", "content": text}], **kw}


@pytest.fixture(scope="module")
def serve(upstreams, tmp_path_factory):
    os.environ.setdefault("TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    os.environ.setdefault("TEST_CLIENT_KEY", CLIENT_KEY)
    s = Serve(config(upstreams[0], tmp_path_factory.mktemp("state")))
    yield s
    s.stop()


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_start} not in /metrics")


def answer_feedback(ans) -> dict:
    info = ans["messjax"]
    sat = {m: 1 for m in info["models"]} if info["explore"] else 1
    return {"id": ans["id"], "satisfied": sat}


# ------------------------------------------------------------------------------ routing
def test_route_answer_and_feedback(serve, upstreams):
    _, apps = upstreams
    calls = {n: a.state.stats["calls"] for n, a in apps.items()}
    r = serve.post("/v1/chat/completions", chat())
    assert r.status_code == 200, r.text
    ans = r.json()
    info = ans["messjax"]
    assert ans["id"] == info["id"] == r.headers["x-messjax-id"] and ans["id"].startswith("mj-")
    assert ans["model"] == info["model"] == r.headers["x-messjax-model"]
    assert ans["choices"][0]["message"]["content"] == f"{ans['model']} says: What is 2 + 2?"
    queried = info["models"] if info["explore"] else [info["model"]]
    for n in apps:  # the router's choice is the upstream that was called
        assert apps[n].state.stats["calls"] - calls[n] == (n in queried)
    assert all(a.state.stats["auth_failures"] == 0 for a in apps.values())
    f = serve.post("/v1/feedback", answer_feedback(ans))
    assert f.status_code == 200 and f.json()["accepted"], f.text
    again = serve.post("/v1/feedback", answer_feedback(ans))
    assert again.status_code == 409 and "already" in again.json()["error"]["message"]
    unknown = serve.post("/v1/feedback", {"id": "mj-0123456789abcdef01234567", "satisfied": 1})
    assert unknown.status_code == 404
    m = serve.get("/metrics", headers={}).text
    assert metric(m, 'messjax_feedback_refused_total{reason="duplicate"}') >= 1
    assert metric(m, 'messjax_feedback_refused_total{reason="unknown"}') >= 1
    models = serve.get("/v1/models").json()
    assert models["data"][0]["id"] == "messjax"


def test_queue_grows_with_unsatisfied_feedback(serve):
    before = serve.get("/v1/router").json()
    for i in range(6):
        ans = serve.post("/v1/chat/completions", chat(f"question {i}")).json()
        info = ans["messjax"]
        sat = {m: 0 for m in info["models"]} if info["explore"] else 0
        assert serve.post("/v1/feedback", {"id": ans["id"], "satisfied": sat}).status_code == 200
    after = serve.get("/v1/router").json()
    assert after["virtual_queue"] > before["virtual_queue"] + 6 * 0.7 - 1e-3
    assert after["stats"]["feedback"] == before["stats"]["feedback"] + 6
    assert after["routed"] == before["routed"] + 6 and after["in_flight"] == before["in_flight"]


def test_streaming(serve):
    text = "Why is the sky blue?"
    with httpx.stream(
        "POST",
        serve.url + "/v1/chat/completions",
        json=chat(text, stream=True),
        headers=AUTH,
        timeout=30,
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [ln[6:] for ln in r.iter_lines() if ln.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1
    last = chunks[-1]["messjax"]
    content = "".join(
        c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices")
    )
    assert content == f"{last['model']} says: {text}"
    assert all(c["model"] == last["model"] for c in chunks)
    assert not any("usage" in c for c in chunks)  # not asked for
    f = serve.post(
        "/v1/feedback",
        {
            "id": last["id"],
            "satisfied": answer_feedback({"id": last["id"], "messjax": last})["satisfied"],
        },
    )
    assert f.status_code == 200, f.text


def test_auth_and_bad_requests(serve):
    for method, path, body in [
        ("POST", "/v1/chat/completions", chat()),
        ("POST", "/v1/feedback", {"id": "x", "satisfied": 1}),
        ("GET", "/v1/models", None),
        ("GET", "/v1/router", None),
    ]:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": CLIENT_KEY}):
            r = httpx.request(method, serve.url + path, json=body, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(serve.url + "/metrics").status_code == 200
    bad = [
        (b"{not json", 400, "not valid JSON"),
        (json.dumps({"messages": []}).encode(), 400, "messages"),
        (json.dumps({"messages": [{"content": "hi"}]}).encode(), 400, "role"),
        (json.dumps(chat(stream="yes")).encode(), 400, "stream"),
        (json.dumps(chat(model="gpt-9")).encode(), 404, "unknown model"),
        (json.dumps(chat("x" * 2_000_000)).encode(), 413, "limit"),
    ]
    for body, code, words in bad:
        r = httpx.post(serve.url + "/v1/chat/completions", content=body, headers=AUTH)
        assert r.status_code == code and words in r.json()["error"]["message"], r.text
    ans = serve.post("/v1/chat/completions", chat()).json()
    for sat, words in [(2.0, "in [0, 1]"), ("yes", "number"), ({"small": 1}, "one value")]:
        r = serve.post("/v1/feedback", {"id": ans["id"], "satisfied": sat})
        assert r.status_code == 400 and words in r.json()["error"]["message"], r.text
    r = serve.post("/v1/feedback", {"id": ans["id"]})
    assert r.status_code == 400 and "missing" in r.json()["error"]["message"]
    # after all that the request is still open and takes one valid outcome
    assert serve.post("/v1/feedback", {"id": ans["id"], "satisfied": None}).status_code == 200


def test_concurrent_clients(serve):
    load = serve_load
    before = serve.get("/v1/router").json()
    out = asyncio.run(load.run_clients(serve.url, CLIENT_KEY, clients=12, requests=4))
    assert out["answered"] == out["feedback_acked"] == 48 and not out["errors"]
    after = serve.get("/v1/router").json()
    assert after["routed"] - before["routed"] == 48
    assert after["stats"]["feedback"] - before["stats"]["feedback"] == 48
    assert after["in_flight"] == before["in_flight"]


# --------------------------------------------------------------------------- exploration
def test_exploration_fans_out_and_serves_the_largest(upstreams, tmp_path):
    urls, apps = upstreams
    s = Serve(config(urls, tmp_path / "st", router={"c": 100.0}))  # every request explores
    try:
        for stream in (False, True):
            calls = {n: a.state.stats["calls"] for n, a in apps.items()}
            if stream:
                with httpx.stream(
                    "POST",
                    s.url + "/v1/chat/completions",
                    json=chat("hi", stream=True),
                    headers=AUTH,
                    timeout=30,
                ) as r:
                    events = [ln[6:] for ln in r.iter_lines() if ln.startswith("data: ")]
                info = json.loads(events[-2])["messjax"]
            else:
                r = s.post("/v1/chat/completions", chat("hi"))
                info = r.json()["messjax"]
                assert r.json()["model"] == "large"
            assert info["explore"] and info["model"] == "large"
            assert {a["model"]: a["content"] for a in info["alternatives"]} == {
                "small": "small says: hi",
                "medium": "medium says: hi",
            }
            assert all(apps[n].state.stats["calls"] - calls[n] == 1 for n in apps)
            single = s.post("/v1/feedback", {"id": info["id"], "satisfied": 1})
            assert single.status_code == 400 and "one value per model" in single.text
            f = s.post("/v1/feedback", {"id": info["id"], "satisfied": [0, 1, 1]})
            assert f.status_code == 200, f.text
        stats = s.get("/v1/router").json()["stats"]
        assert stats["explorations"] == 2 and stats["queried"] == [2, 2, 2]
    finally:
        s.stop()


# ------------------------------------------------------------------ failing upstreams
@pytest.fixture(scope="module")
def bad_upstreams():
    apps = {
        "broken": fake_upstream("broken", fail=True, key=UPSTREAM_KEY),
        "stuck": fake_upstream("stuck", hang=30.0, key=UPSTREAM_KEY),
        "fine": fake_upstream("fine", key=UPSTREAM_KEY),
    }
    servers = {n: ThreadedServer(a).start() for n, a in apps.items()}
    yield {n: s.url for n, s in servers.items()}, apps
    for s in servers.values():
        s.server.force_exit = True
        s.stop()


@pytest.mark.parametrize(
    ("order", "status", "words"),
    [
        (("fine", "broken"), 502, "upstream 'broken' answered 500"),
        (("fine", "stuck"), 504, "upstream 'stuck' timed out"),
        (("broken", "stuck", "fine"), 200, None),
    ],
)
def test_failing_or_hanging_upstreams(bad_upstreams, tmp_path, order, status, words):
    urls, apps = bad_upstreams
    raw = config(
        {n: urls[n] for n in order},
        tmp_path / "st",
        upstream_timeout=0.5,
        retries=1,
        router={"c": 100.0},  # explorations: every upstream is called, the last served
    )
    s = Serve(raw)
    try:
        calls = apps[order[-1]].state.stats["calls"]
        r = s.post("/v1/chat/completions", chat("hello"))
        assert r.status_code == status, r.text
        if words:
            assert words in r.json()["error"]["message"]
            assert apps[order[-1]].state.stats["calls"] - calls == 2  # one retry
        else:  # served; the broken and stuck ones show as errors, no feedback possible
            alts = {a["model"]: a for a in r.json()["messjax"]["alternatives"]}
            assert "error" in alts["broken"] and "timed out" in alts["stuck"]["error"]
        state = s.get("/v1/router").json()
        assert state["in_flight"] == 0 and state["stats"]["no_feedback"] == 1
        f = s.post("/v1/feedback", {"id": r.headers.get("x-messjax-id", "none"), "satisfied": 1})
        assert f.status_code in (404, 409)
        m = s.get("/metrics", headers={}).text
        assert "messjax_upstream_errors_total" in m
        assert s.get("/v1/models").status_code == 200  # still serving
    finally:
        s.stop()


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"upstreams": []}, "upstreams"),
        ({"portt": 1}, "portt"),
        ({"router": {"alpha": 1.5}}, "router.alpha"),
        ({"router": {"featurizer": "bert"}}, "router.featurizer"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
    ],
)
def test_config_errors_name_the_key(patch, key, tmp_path):
    raw = config({"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}, tmp_path)
    raw.update(patch)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        serve_config_from_dict(raw)


def test_upstream_keys_stay_out_of_the_config(tmp_path):
    raw = config({"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}, tmp_path)
    raw["upstreams"][0]["api_key"] = "sk-live-123"
    with pytest.raises(ConfigError, match="api_key_env"):
        serve_config_from_dict(raw)
    raw["upstreams"][0].pop("api_key")
    raw["upstreams"][0]["api_key_env"] = "sk-live-123"
    with pytest.raises(ConfigError, match="environment variable"):
        serve_config_from_dict(raw)
    raw["upstreams"][0]["api_key_env"] = "NOT_SET_ANYWHERE_42"
    cfg = serve_config_from_dict(raw)
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE_42 is not set"):
        build_app(cfg)
    assert dataclasses.replace(cfg).host == "127.0.0.1"  # loopback unless told otherwise


# ------------------------------------------------------------ restart, kill, load, logs
def test_load_kill_restart_and_no_key_in_logs(tmp_path):
    """The Done-when load test, shrunk: clients x requests through a real ``messjax serve``
    process, every feedback counted, kill -9, restart: same state, acked feedback refused
    as duplicates, neither key in the log. The full size (64 x 100) is the slow test below
    and ``python experiments/serve_load.py``."""
    report = serve_load.run(clients=8, requests=6, workdir=tmp_path)
    assert report["ok"], report["checks"]


@pytest.mark.slow
def test_load_full_size(tmp_path):
    report = serve_load.run(clients=64, requests=100, workdir=tmp_path)
    assert report["ok"], report["checks"]


def test_wrong_upstream_key_is_reported_but_never_shown(upstreams, tmp_path, monkeypatch, caplog):
    """The fake upstream echoes the key it got in its 401; the router redacts it from the
    client's error and from every log line."""
    wrong = "sk-wrong-key-should-not-leak-77"
    monkeypatch.setenv("TEST_UPSTREAM_KEY", wrong)
    urls, _ = upstreams
    s = Serve(config({"small": urls["small"], "large": urls["large"]}, tmp_path / "st"))
    try:
        with caplog.at_level("DEBUG"):
            r = s.post("/v1/chat/completions", chat("hello"))
        assert r.status_code == 502 and "answered 401" in r.text
        assert wrong not in r.text and "[redacted]" in r.text
        assert wrong not in caplog.text
        assert wrong not in s.get("/metrics", headers={}).text
    finally:
        s.stop()


def test_cli_reports_config_errors_in_one_line(tmp_path, capsys):
    from messjax.cli import main

    path = tmp_path / "router.yaml"
    path.write_text("upstreams:\n  - {name: a, base_url: ftp://x, model: m}\n  - {name: b}\n")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "upstreams[0].base_url" in err and "http://" in err
    assert main(["serve", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_messjax_policy_fans_out_to_the_query_set(upstreams, tmp_path):
    """The default policy (messjax): every upstream on the first request, then the served one
    plus one extra on an exploration (c = 100: every request explores), never all of them."""
    _, apps = upstreams
    raw = config(upstreams[0], tmp_path / "st", router={"c": 100.0})
    del raw["router"]["policy"]
    assert serve_config_from_dict(raw).router["policy"] == "messjax"
    s = Serve(raw)
    try:
        assert s.get("/v1/router").json()["policy"] == "messjax"
        for k in range(4):
            calls = {n: a.state.stats["calls"] for n, a in apps.items()}
            r = s.post("/v1/chat/completions", chat(f"question {k}"))
            assert r.status_code == 200, r.text
            info = r.json()["messjax"]
            assert info["model"] in info["query"]
            assert len(info["query"]) == (3 if k == 0 else 2)
            for n in apps:
                assert apps[n].state.stats["calls"] - calls[n] == (n in info["query"])
            assert sorted(a["model"] for a in info.get("alternatives", [])) == sorted(
                q for q in info["query"] if q != info["model"]
            )
            f = s.post("/v1/feedback", {"id": info["id"], "satisfied": [1] * len(info["query"])})
            assert f.status_code == 200, f.text
        state = s.get("/v1/router").json()
        assert state["observed"] == 4 and sum(state["stats"]["queried"]) == 3 + 3 * 2
    finally:
        s.stop()


def test_policy_key_is_checked(upstreams, tmp_path):
    raw = config(upstreams[0], tmp_path / "st", router={"policy": "mess"})
    with pytest.raises(ConfigError, match=r"router\.policy"):
        serve_config_from_dict(raw)
    raw = config(upstreams[0], tmp_path / "st", router={"margin": 2.0})
    with pytest.raises(ConfigError, match=r"router\.margin"):
        serve_config_from_dict(raw)  # a messjax parameter under policy: messplus


@pytest.mark.parametrize("key", ["price_cap", "infeasible_cap"])
def test_price_cap_is_checked(upstreams, tmp_path, key):
    """``price_cap`` and the out-of-reach hold's ``infeasible_cap`` (messjax policy): a number
    >= 0, infinite allowed (the default, off)."""
    for bad in (-1, "ten", True, float("nan")):
        raw = config(upstreams[0], tmp_path / "st", router={"policy": "messjax", key: bad})
        with pytest.raises(ConfigError, match=rf"router\.{key}.*must be a number >= 0"):
            serve_config_from_dict(raw)
    for good in (10, float("inf")):
        raw = config(upstreams[0], tmp_path / "st", router={"policy": "messjax", key: good})
        serve_config_from_dict(raw)


# ------------------------------------------------------------------- found by a probe
def evil_upstream(mode: str):
    """An upstream that misbehaves in one way: 'negusage' (negative token counts), 'nan' (a
    NaN in its JSON), 'echo' (a 400 whose long message ends with the key it got), 'slow'
    (a stream of 50 chunks, 0.05 s apart)."""
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def completions(request):
        body = await request.json()
        if mode == "echo":
            got = request.headers.get("authorization", "")
            return Response(json.dumps({"error": {"message": "x" * 185 + got}}), status_code=400)
        if mode == "late":  # answers after the feedback expiry of the test below
            await asyncio.sleep(2.0)
        if mode in ("slow", "late") and body.get("stream"):

            async def chunks():
                for i in range(50):
                    chunk = {"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                    await asyncio.sleep(0.05)
                yield "data: [DONE]\n\n"

            return StreamingResponse(chunks(), media_type="text/event-stream")
        usage = {"prompt_tokens": -1000, "completion_tokens": 5} if mode == "negusage" else None
        message = {"role": "assistant", "content": "ok"}
        answer = {"id": "u", "choices": [{"index": 0, "message": message}], "usage": usage}
        text = json.dumps(answer)
        if mode == "nan":
            text = text.replace('"usage": null', '"usage": null, "score": NaN')
        return Response(text, media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture(scope="module")
def evil():
    servers = {
        m: ThreadedServer(evil_upstream(m)).start()
        for m in ("negusage", "nan", "echo", "slow", "late")
    }
    yield {m: s.url for m, s in servers.items()}
    for s in servers.values():
        s.server.force_exit = True
        s.stop()


def test_bodies_the_api_cannot_take_are_400_before_routing(serve):
    before = serve.get("/v1/router").json()["routed"]
    bad = [
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e999}',
        b'{"messages": [{"role": "user", "content": "x"}], "a": '
        + b"[" * 50000
        + b"]" * 50000
        + b"}",
        json.dumps({**chat(), "stream": True, "stream_options": "abc"}).encode(),
    ]
    for body in bad:
        r = httpx.post(serve.url + "/v1/chat/completions", content=body, headers=AUTH, timeout=30)
        assert r.status_code == 400, r.text
    assert serve.get("/v1/router").json()["routed"] == before
    r = serve.post("/v1/feedback", {"id": "mj-x", "satisfied": 10**400})
    assert r.status_code == 400


@pytest.mark.parametrize("mode", ["negusage", "nan"])
def test_unusable_upstream_answers_close_their_request(evil, tmp_path, mode):
    s = Serve(
        config({"only": evil[mode], "spare": evil[mode]}, tmp_path / "st", router={"c": 0.0001})
    )
    try:
        r = s.post("/v1/chat/completions", chat("hello"))
        if mode == "negusage":  # usage not believed: the cost is estimated from the texts
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "ok"
            f = s.post("/v1/feedback", {"id": r.json()["id"], "satisfied": 1})
            assert f.status_code == 200 and f.json()["cost"] > 0
        else:
            assert r.status_code == 502 and "unusable" in r.json()["error"]["message"]
        assert s.get("/v1/router").json()["in_flight"] == 0
    finally:
        s.stop()


def test_an_echoed_key_is_redacted_before_the_message_is_cut(evil, tmp_path):
    s = Serve(config({"only": evil["echo"], "spare": evil["echo"]}, tmp_path / "st"))
    try:
        r = s.post("/v1/chat/completions", chat("hello"))
        assert r.status_code == 400
        assert UPSTREAM_KEY[:6] not in r.text and "[redacted]"[:4] in r.text
    finally:
        s.stop()


def test_a_client_gone_mid_stream_closes_its_request(evil, tmp_path):
    s = Serve(
        config({"only": evil["slow"], "spare": evil["slow"]}, tmp_path / "st", router={"c": 0.0001})
    )
    try:
        with httpx.stream(
            "POST", s.url + "/v1/chat/completions", json=chat(stream=True), headers=AUTH
        ) as r:
            for _ in r.iter_lines():
                break  # one line, then hang up
        for _ in range(100):
            if s.get("/v1/router").json()["in_flight"] == 0:
                break
            import time

            time.sleep(0.1)
        state = s.get("/v1/router").json()
        assert state["in_flight"] == 0 and state["stats"]["no_feedback"] == 1
    finally:
        s.stop()


def test_feedback_after_expiry_is_410(upstreams, tmp_path):
    s = Serve(config(upstreams[0], tmp_path / "st", feedback_expiry=1))
    try:
        r = s.post("/v1/chat/completions", chat("hello"))
        import time

        time.sleep(1.5)
        s.srv._expire()  # what the background sweep does
        f = s.post("/v1/feedback", answer_feedback(r.json()))
        assert f.status_code == 410, f.text
    finally:
        s.stop()


def test_prices_are_bounded(tmp_path):
    raw = config({"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}, tmp_path)
    raw["upstreams"][0]["cost_per_input_token"] = 1e308
    with pytest.raises(ConfigError, match="<= 1e"):
        serve_config_from_dict(raw)


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_arriving_after_its_ticket_expired_is_still_served(evil, tmp_path, stream):
    urls = {"only": evil["late"], "spare": evil["late"]}
    s = Serve(config(urls, tmp_path / "st", feedback_expiry=1, router={"c": 0.0001}))
    try:
        if stream:
            with httpx.stream(
                "POST",
                s.url + "/v1/chat/completions",
                json=chat(stream=True),
                headers=AUTH,
                timeout=30,
            ) as r:
                lines = [ln for ln in r.iter_lines() if ln]
            assert lines[-1] == "data: [DONE]" and '"messjax"' in lines[-2]
        else:
            r = s.post("/v1/chat/completions", chat("hello"))
            assert r.status_code == 200, r.text
        state = s.get("/v1/router").json()
        assert state["in_flight"] == 0 and state["stats"]["expired"] == 1
    finally:
        s.stop()
