"""HTTP ingest on one uvicorn worker: ``POST /articles`` and ``POST /articles/batch`` as fast as they go,
raw confluent-kafka produce of the same records next to them, and ``POST /articles`` at half its
sustained rate (its p99 latency is the figure users feel). No consumer runs meanwhile.

The load generator shares the machine with the service; the service's CPU use per phase (in cores) says
which of the two was the bottleneck.
"""

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psutil

from bench.pipeline import Pipeline
from bench.services import delete_topics, fresh_topics
from loadtool.load import Outgoing, Progress, Summary, chunks, send_http, send_kafka

WARMUP_REQUESTS = 50


@dataclass
class IngestResult:
    single: Summary
    batch: Summary
    kafka: Summary
    half_rate: Summary
    server_cores: dict[str, float]
    """CPU time of the HTTP service per second of each phase (1.0 = one core busy)."""
    concurrency: int
    batch_size: int


def run_ingest(
    pipeline: Pipeline,
    articles: Iterator[Outgoing],
    *,
    count: int,
    concurrency: int,
    batch_size: int,
    half_rate_seconds: float,
) -> IngestResult:
    """``articles`` must yield distinct articles: each phase takes the next ones it needs."""
    assert pipeline.producer is not None
    server = psutil.Process(pipeline.producer.pid)
    server_cores: dict[str, float] = {}

    def take(n: int) -> list[Outgoing]:
        return [next(articles) for _ in range(n)]

    def measured(phase: str, run: Callable[[], Summary]) -> Summary:
        before = server.cpu_times()
        summary = run()
        after = server.cpu_times()
        busy = (after.user - before.user) + (after.system - before.system)
        server_cores[phase] = round(busy / summary.elapsed, 2) if summary.elapsed else 0.0
        return summary

    def http(requests: list[list[Outgoing]], batch: bool, in_flight: int, rate: float | None = None) -> Summary:
        total = sum(len(r) for r in requests)
        return asyncio.run(
            send_http(
                requests,
                url=pipeline.url,
                api_key=pipeline.api_key,
                batch=batch,
                concurrency=in_flight,
                rate=rate,
                progress=Progress(total, enabled=False),
            )
        )

    http([[a] for a in take(WARMUP_REQUESTS)], batch=False, in_flight=concurrency)
    single = measured("single", lambda: http([[a] for a in take(count)], batch=False, in_flight=concurrency))
    batch = measured("batch", lambda: http(list(chunks(take(count), batch_size)), batch=True, in_flight=4))
    raw_topic, raw_dlq = fresh_topics(pipeline.broker.bootstrap, "bench-raw-produce")
    try:
        kafka_runs = [
            send_kafka(
                take(n),
                bootstrap=pipeline.broker.bootstrap,
                topic=raw_topic,
                rate=None,
                progress=Progress(n, enabled=False),
            )
            for n in (WARMUP_REQUESTS, count)  # the first producer on a new broker waits for the coordinator
        ]
        kafka = kafka_runs[-1]
    finally:
        delete_topics(pipeline.broker.bootstrap, [raw_topic, raw_dlq])
    half = single.rate / 2
    half_count = max(100, int(half * half_rate_seconds))
    half_rate = measured(
        "half_rate",
        lambda: http([[a] for a in take(half_count)], batch=False, in_flight=concurrency, rate=half),
    )
    return IngestResult(single, batch, kafka, half_rate, server_cores, concurrency, batch_size)
