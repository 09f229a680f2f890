"""``python -m bench.profile_consumer``: profile a real consumer worker with py-spy and show where its wall
time goes outside spaCy.

A private broker gets N articles (straight to Kafka, as a live feed); ``python -m consumer`` runs with one
worker process, as in production, counting them into a SQLite file; ``py-spy record --idle`` samples that
worker from outside (no change to its code, waiting time included) until the sink holds all N. Each sampled
call stack is put in the category of its first frame (from the outermost) that matches one: model load,
spaCy, Kafka consume, sink write, ...; a stack that matches none is the consumer's own Python code. The
raw stacks are kept (``bench/results/profile-consumer-<date>.txt``, collapsed format for flame graph tools).
"""

import argparse
import itertools
import linecache
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.cli import REPO
from bench.pipeline import STARTED_LINE
from bench.services import (
    BenchError,
    Service,
    fresh_topics,
    group_balanced,
    private_broker,
    service_env,
    unique,
    wait_until,
)
from common.settings import CommonSettings, SinkKind
from common.sinks.factory import open_sink
from loadtool.load import (
    Progress,
    drop_published_at,
    interleave_publications,
    read_articles,
    repeat_to_count,
    send_kafka,
)

CATEGORIES: list[tuple[str, str, str]] = [
    # (category, the frame's function name or "" for any, text its file path contains or "" for any)
    ("model load (once per worker)", "load_ner", ""),
    ("spaCy nlp.pipe (tok2vec + ner)", "", "spacy/"),
    ("spaCy nlp.pipe (tok2vec + ner)", "", "thinc/"),
    ("Kafka consume (includes waiting for messages)", "consume", ""),
    ("Kafka commit", "commit", "checkpoint.py"),
    ("sink write (one transaction per flush)", "write", "sinks/"),
    ("sink read (offset leases)", "read_offset", "sinks/"),
    ("dead letters (wait for acknowledgment)", "", "dead_letters.py"),
    ("parse and validate the JSON article", "parse_article", ""),
    ("entity normalization and counting", "", "consumer/entities.py"),
    ("pending counts (per partition and window)", "", "consumer/pending.py"),
    ("log lines", "", "logging/"),
]


C_CALLS: list[tuple[str, str]] = [
    # py-spy shows Python frames only: time inside a C call (librdkafka) is the calling line's. Such a
    # line is recognized by its source text.
    (".consume(", "Kafka consume (includes waiting for messages)"),
    (".commit(", "Kafka commit (synchronous, after each flush)"),
    (".poll(", "Kafka poll"),
    (".flush(", "Kafka producer flush"),
]


@dataclass(frozen=True)
class StackFrame:
    function: str
    path: str
    line: int


def parse_frame(text: str) -> StackFrame:
    """``"Worker.run (consumer/worker.py:123)"`` -> StackFrame("Worker.run", "consumer/worker.py", 123)."""
    function, _, where = text.partition(" (")
    path, _, line = where.rstrip(")").rpartition(":")
    return StackFrame(function, path, int(line) if line.isdigit() else 0)


def categorize(stack: list[StackFrame]) -> str:
    for frame in stack:
        for name, function, path in CATEGORIES:
            if (not function or frame.function.rsplit(".", 1)[-1] == function) and (not path or path in frame.path):
                return name
    innermost = stack[-1] if stack else StackFrame("?", "?", 0)
    source = linecache.getline(str(REPO / innermost.path), innermost.line)
    for call, name in C_CALLS:
        if call in source:
            return name
    return f"consumer's own code: {innermost.function} ({innermost.path.rsplit('/', 1)[-1]}:{innermost.line})"


def breakdown(collapsed: str) -> Counter[str]:
    """Samples per category from py-spy's collapsed (``--format raw``) output of the worker's main thread."""
    samples: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        stack = [parse_frame(part) for part in stack_text.split(";")]
        if not any(frame.function == "run_worker" for frame in stack):
            continue  # other threads (metrics server, librdkafka callbacks)
        samples[categorize(stack)] += int(count)
    return samples


def worker_pid(log: Path) -> int | None:
    """The worker's pid, from the supervisor's ``event=worker_started`` line."""
    return next((int(pid) for kind, pid in STARTED_LINE.findall(log.read_text()) if kind == "worker"), None)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m bench.profile_consumer", description=(__doc__ or "").split("\n\n")[0])
    cli.add_argument("--articles", type=int, default=200, help="Articles to count (default 200).")
    cli.add_argument("--flush-interval", default="2s", help="FLUSH_INTERVAL of the worker (default 2s).")
    cli.add_argument("--rate", type=int, default=100, help="py-spy samples per second (default 100).")
    cli.add_argument("--data", type=Path, default=REPO.parent / "shared/data/allsides-3k.jsonl.gz")
    cli.add_argument("--output", type=Path, help="Collapsed stacks file (default bench/results/...).")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy (it is in the bench extra)", file=sys.stderr)
        return 1
    output = options.output or REPO / f"bench/results/profile-consumer-{datetime.now(UTC):%Y-%m-%d}.txt"
    source = read_articles([options.data])
    supply = drop_published_at(repeat_to_count(interleave_publications(source.articles), 10**9))
    articles = list(itertools.islice(supply, options.articles))
    with tempfile.TemporaryDirectory(prefix="newscounts-profile-") as folder, private_broker() as broker:
        topic, dlq = fresh_topics(broker.bootstrap, "profile")
        send_kafka(
            articles, bootstrap=broker.bootstrap, topic=topic, rate=None, progress=Progress(len(articles), False)
        )
        database = Path(folder) / "counts.sqlite3"
        group = unique("profile")
        env = service_env(
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
            KAFKA_TOPIC=topic,
            KAFKA_DLQ_TOPIC=dlq,
            KAFKA_GROUP_ID=group,
            SINK="sqlite",
            SQLITE_PATH=str(database),
            CONSUMER_PROCESSES="1",
            FLUSH_INTERVAL=options.flush_interval,
        )
        consumer = Service("consumer", env, Path(folder) / "consumer.log")
        try:
            wait_until(
                lambda: group_balanced(broker.bootstrap, group, 1, 16),
                timeout=120,
                what="the worker to join the group",
                interval=0.1,
            )
            pid = worker_pid(consumer.log)
            raw = Path(folder) / "stacks.txt"
            command = [py_spy, "record", "--pid", str(pid), "--idle", "--nonblocking", "--format", "raw"]
            spy = subprocess.Popen(
                [*command, "--rate", str(options.rate), "--output", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            started = time.monotonic()
            sink = open_sink(CommonSettings(sink=SinkKind.SQLITE, sqlite_path=database))

            def all_counted() -> bool:
                consumer.check_alive()
                return sum(p.articles for p in sink.publications()) >= len(articles)

            try:
                finished = wait_until(
                    all_counted,
                    timeout=3600,
                    what=f"{len(articles)} articles to be counted",
                    interval=0.5,
                )
            finally:
                sink.close()
                spy.send_signal(signal.SIGINT)
                _, errors = spy.communicate(timeout=60)
            if not raw.exists():
                raise BenchError(f"py-spy wrote no profile: {errors.decode(errors='replace')[-2000:]}")
            collapsed = raw.read_text()
        finally:
            consumer.stop()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(collapsed)
    samples = breakdown(collapsed)
    total = sum(samples.values())
    loading = samples.get("model load (once per worker)", 0)
    print(
        f"One worker counted {len(articles)} articles in {finished - started:.1f}s (from joining the group "
        f"to all counted); {total} samples of its main thread."
    )
    print(f"{'samples':>8} {'share':>6} {'w/o load':>8}  category")
    for name, count in samples.most_common(30):
        without = "" if name.startswith("model load") else f"{100 * count / (total - loading):7.1f}%"
        print(f"{count:8d} {100 * count / total:5.1f}% {without:>8}  {name}")
    print(f"\nCollapsed stacks (for flame graph tools such as speedscope): {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
