"""``messjax serve --config router.yaml``: an OpenAI-compatible server routing with MESS+.

Needs the ``serve`` extra (``pip install -e ".[serve]"``: starlette, uvicorn, httpx,
prometheus-client). The config format is in :mod:`messjax.serve.config`; the endpoints in
:mod:`messjax.serve.app`. Binds 127.0.0.1 unless ``host`` / ``--host`` say otherwise; port 0
picks a free port (the line ``listening on http://HOST:PORT`` on stdout says which).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import sys

from messjax.errors import MessjaxError

NAME = "serve"
HELP = "serve an OpenAI-compatible endpoint that routes each request with MESS+"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="router.yaml")
    parser.add_argument("--host", default=None, help="bind address (default: the config's)")
    parser.add_argument("--port", type=int, default=None, help="port (0 = any free port)")
    parser.add_argument(
        "--state-dir", default=None, help="checkpoints and journal (default: the config's)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def main(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from messjax.serve.app import build_app
    except ImportError as e:
        raise MessjaxError(
            f"messjax serve needs the 'serve' extra ({e.name} is missing): "
            'pip install -e ".[serve]"'
        ) from None
    from messjax.serve.config import load_serve_config

    cfg = load_serve_config(args.config)
    over = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.state_dir is not None:
        over["state_dir"] = args.state_dir
    cfg = dataclasses.replace(cfg, **over)
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call
    logging.getLogger("absl").setLevel(logging.WARNING)  # Orbax's per-checkpoint chatter
    log = logging.getLogger("messjax.serve")
    app = build_app(cfg)
    if cfg.api_key_env is None and cfg.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s without an API key: anyone reaching it may use it", cfg.host)
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((cfg.host, cfg.port))
    except OSError as e:
        raise MessjaxError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror}") from None
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=75,  # longer than clients' pools keep idle connections
        log_config=None,
    )
    server = uvicorn.Server(config)
    print(f"messjax serve: listening on http://{cfg.host}:{port}", flush=True)
    server.run(sockets=[sock])
    return 0
