"""Prometheus metrics of the HTTP service, served at ``GET /metrics``.

Each app owns its registry (not the global one), so several apps in one process (tests) never collide.
Request metrics are labelled by the route template, never by the raw path, so garbage URLs cannot blow up
the number of series.
"""

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ProducerMetrics:
    """The service's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "newscounts_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "newscounts_http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.articles_accepted = Counter(
            "newscounts_articles_accepted",
            "Articles acknowledged by Kafka (answered 202 or accepted inside a batch).",
            registry=self.registry,
        )
        self.articles_rejected = Counter(
            "newscounts_articles_rejected",
            "Articles refused because of the client's input, by reason (invalid, too_large).",
            ["reason"],
            registry=self.registry,
        )
        self.produce_errors = Counter(
            "newscounts_produce_errors",
            "Records Kafka did not acknowledge, by reason (queue_full, timeout, delivery_failed, too_large).",
            ["reason"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "newscounts_delivery_latency_seconds",
            "Time from handing a record to the Kafka producer to its delivery report.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "newscounts_producer_queue_depth",
            "Records in the Kafka producer's local queue, waiting for the broker's acknowledgement.",
            registry=self.registry,
        )

    def watch_queue_depth(self, depth: Callable[[], int]) -> None:
        """Read the queue depth at scrape time (always current, no sampling thread)."""
        self.queue_depth.set_function(lambda: float(depth()))


class RequestMetricsMiddleware:
    """Counts every answered request and its latency (pure ASGI, so it sees the final status code)."""

    def __init__(self, app: ASGIApp, metrics: ProducerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = route_template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_latency.labels(scope["method"], route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """``/publications/{publication:path}/entities`` rather than the path asked for; ``unmatched`` for 404s."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("path", "").startswith("/static/"):
        return "/static"
    return "unmatched"
