"""``GET /metrics`` of ``messjax serve`` (Prometheus text format): the server's counters
(HTTP requests, upstream calls and errors, refused feedback, routing latency) and the
router's counts, read at scrape time."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from messjax.router import Router

disable_created_metrics()  # no *_created samples: counters as plain totals

#: The media type of the text format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServeMetrics:
    """The server's counters in one registry; :meth:`watch` adds a router's counts."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "messjax_http_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.upstream_calls = Counter(
            "messjax_upstream_calls",
            "calls to each upstream (every upstream a decision queried)",
            ["model"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "messjax_upstream_errors",
            "failed upstream calls after retries, by kind",
            ["model", "kind"],
            registry=self.registry,
        )
        self.feedback_refused = Counter(
            "messjax_feedback_refused",
            "feedback refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "messjax_route_seconds",
            "time to route a request (featurize + decide + journal)",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5),
            registry=self.registry,
        )

    def watch(self, router: Router) -> None:
        self.registry.register(RouterCollector(router))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class RouterCollector:
    """Router counts for /metrics, read at scrape time."""

    def __init__(self, router: Router):
        self.router = router

    def describe(self):
        return []

    def collect(self):
        r = self.router
        with r.lock:
            s = r.stats
            vq, iq = r.virtual_queue, r.ideal_queue
            inflight = r.in_flight
        models = r.models
        yield CounterMetricFamily("messjax_requests", "requests routed", value=s.routed)
        yield CounterMetricFamily("messjax_explorations", "explorations", value=s.explorations)
        served = CounterMetricFamily(
            "messjax_served", "closed requests served by each model", labels=["model"]
        )
        queried = CounterMetricFamily(
            "messjax_model_calls", "model calls of closed requests", labels=["model"]
        )
        for i, m in enumerate(models):
            served.add_metric([m], s.served[i])
            queried.add_metric([m], s.queried[i])
        yield served
        yield queried
        yield CounterMetricFamily(
            "messjax_feedback", "outcomes that moved the decision queue", value=s.feedback
        )
        yield CounterMetricFamily(
            "messjax_no_feedback", "requests closed without an outcome", value=s.no_feedback
        )
        yield CounterMetricFamily("messjax_expired", "requests expired", value=s.expired)
        yield CounterMetricFamily("messjax_cost", "total cost charged", value=s.cost)
        sat = s.satisfied / s.feedback if s.feedback else float("nan")
        yield GaugeMetricFamily(
            "messjax_satisfaction", "share of satisfied answers among the feedback", value=sat
        )
        yield GaugeMetricFamily("messjax_alpha", "SLA target", value=float(r.hparams.alpha))
        yield GaugeMetricFamily("messjax_virtual_queue", "decision queue Q", value=vq)
        yield GaugeMetricFamily("messjax_ideal_queue", "queue over all outcomes", value=iq)
        yield GaugeMetricFamily("messjax_in_flight", "requests awaiting an outcome", value=inflight)
