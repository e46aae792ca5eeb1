"""messjax: MESS+ cost-optimal LLM request routing with SLA guarantees, in JAX."""

__version__ = "0.1.0"
