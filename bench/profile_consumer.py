"""``python -m bench.profile_consumer``: profile a real consumer group with py-spy and show where its CPU
time goes, per kind of process (workers, NER processes).

A private broker gets N articles (straight to Kafka, keyed, as a live feed); ``python -m consumer`` runs with
``--workers`` workers and its default NER processes, as in production, counting them into a SQLite file.
Once every worker holds partitions, ``py-spy record`` samples each worker and each NER process from outside
(no change to their code; on-CPU samples only, ``--idle`` to include waiting) until the sink holds all N. Each
sampled call stack is put in the category of its first frame (from the outermost) that matches one: spaCy,
Kafka consume, sink write, the NER protocol, ...; a stack that matches none is the consumer's own Python code.
The raw stacks are kept (``bench/results/profile-consumer-<date>-<kind>.txt``, collapsed format for flame
graph tools).
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

from bench.data import REPO, SAMPLE, missing_articles
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
from common.sinks.factory import open_reader
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
    ("NER protocol (frames, sockets)", "", "consumer/ner_protocol.py"),
    ("NER client (send, select, receive)", "", "consumer/ner_client.py"),
    ("NER server: reading requests", "_read", "consumer/ner_server.py"),
    ("NER server: sending results", "_send", "consumer/ner_server.py"),
    ("NER server: choosing the batch", "_next_batch", "consumer/ner_server.py"),
    ("in-flight order", "", "consumer/in_flight.py"),
    ("log lines", "", "logging/"),
]

ROOTS = {"worker": "run_worker", "ner": "NerServer.run"}
"""The frame every sampled stack of a process kind's main thread passes through."""


C_CALLS: list[tuple[str, str]] = [
    # py-spy shows Python frames only: time inside a C call (librdkafka) is the calling line's. Such a
    # line is recognized by its source text.
    (".consume(", "Kafka consume (includes waiting for messages)"),
    (".commit(", "Kafka commit (synchronous, after each flush)"),
    (".poll(", "Kafka poll"),
    (".flush(", "Kafka producer flush"),
    (".select(", "waiting in select (idle)"),
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


def breakdown(collapsed: str, root: str = ROOTS["worker"]) -> Counter[str]:
    """Samples per category from py-spy's collapsed (``--format raw``) output, main thread (``root``) only."""
    samples: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        stack = [parse_frame(part) for part in stack_text.split(";")]
        if not any(frame.function == root for frame in stack):
            continue  # other threads (metrics server, librdkafka callbacks)
        samples[categorize(stack)] += int(count)
    return samples


def pids_of(log: Path, kinds: set[str]) -> dict[int, str]:
    """The group's processes of ``kinds`` by pid, from the supervisor's ``event=..._started`` lines."""
    return {int(pid): kind for kind, pid in STARTED_LINE.findall(log.read_text()) if kind in kinds}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m bench.profile_consumer", description=(__doc__ or "").split("\n\n")[0])
    cli.add_argument("--articles", type=int, default=300, help="Articles to count (default 300).")
    cli.add_argument("--workers", type=int, default=16, help="CONSUMER_PROCESSES (default 16).")
    cli.add_argument("--flush-interval", default="1s", help="FLUSH_INTERVAL of the group (default 1s).")
    cli.add_argument("--rate", type=int, default=50, help="py-spy samples per second and process (default 50).")
    cli.add_argument("--idle", action="store_true", help="Sample waiting threads too (wall time, not CPU time).")
    cli.add_argument("--data", type=Path, default=SAMPLE, help="Articles (default: the AllSides sample).")
    cli.add_argument("--output", type=Path, help="Collapsed stacks files' prefix (default bench/results/...).")
    return cli


def record(
    py_spy: str, pids: dict[int, str], folder: Path, options: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    """One ``py-spy record`` per process, writing ``folder/<kind>-<pid>.txt``."""
    spies = []
    for pid, kind in pids.items():
        command = [py_spy, "record", "--pid", str(pid), "--nonblocking", "--format", "raw", "--rate", str(options.rate)]
        command += ["--idle"] if options.idle else []
        spies.append(
            subprocess.Popen(
                [*command, "--output", str(folder / f"{kind}-{pid}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return spies


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy (it is in the bench extra)", file=sys.stderr)
        return 1
    if problem := missing_articles(options.data):
        print(problem, file=sys.stderr)
        return 1
    prefix = options.output or REPO / f"bench/results/profile-consumer-{datetime.now(UTC):%Y-%m-%d}"
    source = read_articles([options.data])
    supply = drop_published_at(repeat_to_count(interleave_publications(source.articles), 10**9))
    articles = list(itertools.islice(supply, options.articles))
    with tempfile.TemporaryDirectory(prefix="newscounts-profile-") as work, private_broker() as broker:
        folder = Path(work)
        topic, dlq = fresh_topics(broker.bootstrap, "profile")
        send_kafka(
            articles, bootstrap=broker.bootstrap, topic=topic, rate=None, progress=Progress(len(articles), False)
        )
        database = folder / "counts.sqlite3"
        group = unique("profile")
        env = service_env(
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
            KAFKA_TOPIC=topic,
            KAFKA_DLQ_TOPIC=dlq,
            KAFKA_GROUP_ID=group,
            SINK="sqlite",
            SQLITE_PATH=str(database),
            CONSUMER_PROCESSES=str(options.workers),
            FLUSH_INTERVAL=options.flush_interval,
            LOG_LEVEL="info",
        )
        consumer = Service("consumer", env, folder / "consumer.log")
        try:
            members = min(options.workers, 16)

            def joined() -> bool:
                consumer.check_alive()
                return group_balanced(broker.bootstrap, group, members, 16)

            wait_until(
                joined,
                timeout=180,
                what="the workers to join the group",
                interval=0.1,
            )
            spies = record(py_spy, pids_of(consumer.log, set(ROOTS)), folder, options)
            started = time.monotonic()
            sink = open_reader(CommonSettings(sink=SinkKind.SQLITE, sqlite_path=database, kafka_group_id=group))

            def all_counted() -> bool:
                consumer.check_alive()
                return sum(p.articles for p in sink.publications().publications) >= len(articles)

            try:
                finished = wait_until(all_counted, timeout=3600, what=f"{len(articles)} articles counted", interval=0.5)
            finally:
                sink.close()
                for spy in spies:
                    spy.send_signal(signal.SIGINT)
                for spy in spies:
                    spy.wait(timeout=60)
            collapsed = {kind: "".join(p.read_text() for p in folder.glob(f"{kind}-*.txt")) for kind in ROOTS}
        finally:
            consumer.stop()
    print(f"{options.workers} workers counted {len(articles)} articles in {finished - started:.1f} s.")
    for kind, stacks in collapsed.items():
        if not stacks:
            raise BenchError(f"py-spy wrote no profile of the {kind} processes")
        path = prefix.with_name(f"{prefix.name}-{kind}.txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stacks)
        samples = breakdown(stacks, ROOTS[kind])
        total = sum(samples.values())
        print(f"\n{kind} processes: {total} samples of their main threads ({path})")
        for name, count in samples.most_common(15):
            print(f"{count:8d} {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
