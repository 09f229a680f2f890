"""Soak run: a private stack under a steady HTTP load for a long time, with its memory, lag and final counts.

``python -m tests.chaos.soak --minutes 30 --rate 3`` starts a private Kafka broker (free ports), the HTTP service
(``python -m producer``) and the consumer group (``python -m consumer``, default settings except the number
of workers) on one SQLite file, and sends dated sample articles at ``--rate`` articles/s with the load tool
(``python -m loadtool --count``: copies of the articles get their own ids, so each is a new article).
Every ``--sample-every`` seconds it prints the resident memory (RSS) of every process and the lag (records in
Kafka not yet in the sink). At the end it waits for the group to drain, then compares the sink with counts
computed from spaCy run directly on every record in the topic (cached, tests/chaos/support.py).

Pass: every process of ours grows less than ``--max-growth`` (10%) after warm-up (mean of the first
``--window`` samples after it against the mean of the last ones), and the counts are exact. The figures go
to stdout and to ``.cache/soak/result.json``.
"""

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

import psutil
from confluent_kafka import Consumer, TopicPartition

from common.article import Article
from devservices.kafka import KafkaBroker, create_topics
from devservices.process import free_port
from tests.chaos.support import REPO, ProducerService, cached_entities, outcome, stored_offsets
from tests.consumer.support import STORE_ENV, ConsumerGroupRun, expected_counts, group_env, sink_counts
from tests.producer.support import API_KEY
from tests.sinks.support import open_store

SAMPLE = REPO.parent / "shared" / "data" / "allsides-3k.jsonl.gz"
RESULT = REPO / ".cache" / "soak" / "result.json"
MIB = 1024 * 1024
WINDOW_SECONDS = 3600
TOPIC = "articles"


@dataclass
class Samples:
    """RSS per process name (bytes) and lag, one entry per sample time (seconds since the load started)."""

    times: list[float] = field(default_factory=list)
    rss: dict[str, list[int | None]] = field(default_factory=dict)
    lag: list[int] = field(default_factory=list)

    def add(self, at: float, rss: Mapping[str, int], lag: int) -> None:
        index = len(self.times)
        self.times.append(at)
        for name, value in rss.items():
            self.rss.setdefault(name, [None] * index).append(value)
        for values in self.rss.values():
            if len(values) <= index:
                values.append(None)
        self.lag.append(lag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="How long the load runs (default 30).")
    parser.add_argument("--rate", type=float, default=3.0, help="Articles per second over HTTP (default 3).")
    parser.add_argument("--workers", type=int, default=2, help="CONSUMER_PROCESSES (default 2: the machine's cores).")
    parser.add_argument("--sample-every", type=float, default=30.0, help="Seconds between samples (default 30).")
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="Growth is measured after this.")
    parser.add_argument("--window", type=int, default=10, help="Samples averaged at each end (default 10).")
    parser.add_argument("--max-growth", type=float, default=0.10, help="Largest allowed RSS growth (0.10 = 10%%).")
    options = parser.parse_args()
    sys.exit(soak(options))


def soak(options: argparse.Namespace) -> int:
    articles = dated_articles()
    cached_entities(articles)  # computed once, before the clock starts
    work = Path(tempfile.mkdtemp(prefix="newscounts-soak-"))
    broker = KafkaBroker(name=f"kafka-soak-{uuid.uuid4().hex[:8]}", port=free_port(), controller_port=free_port())
    broker.start()
    service: ProducerService | None = None
    group: ConsumerGroupRun | None = None
    try:
        create_topics(broker.bootstrap, {TOPIC: 16, f"{TOPIC}.dlq": 1})
        sqlite = {"SINK": "sqlite", "SQLITE_PATH": str(work / "counts.sqlite3"), **STORE_ENV}
        inherited = {k: v for k, v in group_env(broker.bootstrap, TOPIC, "soak", sqlite).items()}
        service = ProducerService(
            {**inherited, "PORT": str(free_port()), "API_KEYS": API_KEY, "LOG_LEVEL": "warning"}, work / "producer.log"
        ).start()
        consumer_env = {
            key: value
            for key, value in inherited.items()
            if key not in {"WINDOW", "FLUSH_INTERVAL", "SESSION_TIMEOUT", "CONSUME_TIMEOUT", "RESTART_BACKOFF_INITIAL"}
        }
        group = ConsumerGroupRun({**consumer_env, "CONSUMER_PROCESSES": str(options.workers)}).start()
        input_file = work / "articles.jsonl"
        input_file.write_text("".join(json.dumps(article) + "\n" for article in articles))
        count = round(options.rate * options.minutes * 60)
        load = subprocess.Popen(
            [
                sys.executable, "-m", "loadtool.load", "--url", service.url, "--api-key", API_KEY,
                "--rate", str(options.rate), "--count", str(count), "--concurrency", "4", "--no-progress",
                "--summary-json", str(work / "load.json"), str(input_file),
            ],
            cwd=REPO, stdout=(work / "load.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        sink = open_store(("sqlite", str(work / "counts.sqlite3")), counts_namespace=STORE_ENV["COUNTS_NAMESPACE"])
        processes = {"broker": broker.running_pid(), "producer": service.process.pid if service.process else None}
        started = time.monotonic()
        samples = Samples()
        print(
            f"soak: {count} articles at {options.rate}/s for {options.minutes} min, {options.workers} workers; {work}"
        )
        while True:
            finished = load.poll() is not None
            ends = topic_ends(broker.bootstrap)
            lag = sum(ends.values()) - sum(stored_offsets(sink, "soak", TOPIC, list(ends)).values())
            rss = resident_memory(processes, group, load.pid)
            samples.add(time.monotonic() - started, rss, lag)
            print_sample(samples)
            if finished:
                break
            time.sleep(options.sample_every)
        drain_started = time.monotonic()
        while (lag := sum(topic_ends(broker.bootstrap).values())) > sum(
            stored_offsets(sink, "soak", TOPIC, list(range(16))).values()
        ):
            if time.monotonic() - drain_started > 900:
                raise RuntimeError(f"the group did not drain within 15 minutes:\n{group.log_tail()}")
            time.sleep(2)
        drain_seconds = time.monotonic() - drain_started
        exit_code = group.stop(timeout=120)
        records = read_topic(broker.bootstrap, sum(topic_ends(broker.bootstrap).values()))
        expected = expected_counts(records, cached_entities(records), WINDOW_SECONDS)
        result = outcome(
            "soak",
            len(records),
            sink_counts(sink),
            expected,
            load=json.loads((work / "load.json").read_text()),
            drain_seconds=round(drain_seconds, 1),
            group_exit_code=exit_code,
        )
        sink.close()
        return report(options, samples, result.lost + result.duplicated + result.entity_rows_wrong == 0)
    finally:
        if group is not None:
            group.kill()
        if service is not None:
            service.stop()
        broker.stop()
        shutil.rmtree(broker.home, ignore_errors=True)
        broker.log_file.unlink(missing_ok=True)


def dated_articles() -> list[dict[str, Any]]:
    """The first 1,000 sample articles that have a date (their window does not depend on when they are sent)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        first = [json.loads(line) for _, line in zip(range(1000), lines, strict=False)]
    return [article for article in first if article.get("published_at")]


def topic_ends(bootstrap: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-watermarks", "log_level": 0})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(16)}
    finally:
        consumer.close()


def resident_memory(processes: Mapping[str, int | None], group: ConsumerGroupRun, load: int) -> dict[str, int]:
    """RSS of the broker, the HTTP service, the supervisor, each worker (by index) and the load tool."""
    rss: dict[str, int] = {}
    for name, pid in {**processes, "load": load}.items():
        if pid is not None and psutil.pid_exists(pid):
            rss[name] = psutil.Process(pid).memory_info().rss
    assert group.process is not None
    rss["supervisor"] = psutil.Process(group.process.pid).memory_info().rss
    for index, pid in group.worker_pids().items():
        if psutil.pid_exists(pid):
            rss[f"worker-{index}"] = psutil.Process(pid).memory_info().rss
    return rss


def print_sample(samples: Samples) -> None:
    memory = "  ".join(f"{name}={values[-1] // MIB if values[-1] else '-'}" for name, values in samples.rss.items())
    print(f"t={samples.times[-1]:7.0f}s  lag={samples.lag[-1]:5d}  RSS MiB: {memory}", flush=True)


_COPY = re.compile(r"-r\d+$")


def read_topic(bootstrap: str, count: int) -> list[dict[str, Any]]:
    """The source article (with its date as sent) of every record in the topic, one per record."""
    by_id = {Article.model_validate(article).article_id: article for article in dated_articles()}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-read-{uuid.uuid4().hex}", "log_level": 0})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(16)])
    found: list[dict[str, Any]] = []
    try:
        while len(found) < count:
            for message in consumer.consume(500, timeout=10):
                assert message.error() is None, message.error()
                value = message.value()
                assert value is not None
                record_id = json.loads(value)["id"]
                found.append(by_id[_COPY.sub("", record_id)])
    finally:
        consumer.close()
    return found


def report(options: argparse.Namespace, samples: Samples, exact: bool) -> int:
    """Growth per process after warm-up, lag figures, and the verdict; writes .cache/soak/result.json.

    A worker's RSS moves by ~10% from one sample to the next with the length of the articles it is running
    through spaCy, so growth compares the mean of the first ``--window`` samples after warm-up with the mean
    of the last ``--window`` samples (peaks are reported too)."""
    warm = next((i for i, at in enumerate(samples.times) if at >= options.warmup_minutes * 60), 0)
    growth: dict[str, dict[str, float]] = {}
    for name, values in samples.rss.items():
        after = [value for value in values[warm:] if value]
        if len(after) < 2:
            continue
        width = max(1, min(options.window, len(after) // 2))
        first, last = mean(after[:width]), mean(after[-width:])
        growth[name] = {
            "first_mib": round(first / MIB, 1),
            "last_mib": round(last / MIB, 1),
            "peak_mib": round(max(after) / MIB, 1),
            "growth": round(last / first - 1, 4),
        }
    ours = {name: figures for name, figures in growth.items() if name not in {"broker", "load"}}
    bounded = all(figures["growth"] < options.max_growth for figures in ours.values())
    lag_after = samples.lag[warm:] or samples.lag
    width = max(1, min(options.window, len(lag_after) // 2))
    summary = {
        "minutes": options.minutes,
        "rate": options.rate,
        "workers": options.workers,
        "samples": len(samples.times),
        "memory": growth,
        "lag": {
            "max": max(samples.lag),
            "max_after_warmup": max(lag_after),
            "mean_first_window": round(mean(lag_after[:width]), 1),
            "mean_last_window": round(mean(lag_after[-width:]), 1),
        },
        "memory_bounded": bounded,
        "counts_exact": exact,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps({**summary, "series": samples.__dict__}, indent=1) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if bounded and exact else 1


if __name__ == "__main__":
    main()
