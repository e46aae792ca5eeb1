"""``messjax serve``: MESS+ in front of OpenAI-compatible endpoints (see :mod:`.app`)."""

from messjax.serve.config import ServeConfig, Upstream, load_serve_config, serve_config_from_dict

__all__ = ["ServeConfig", "Upstream", "load_serve_config", "serve_config_from_dict"]
