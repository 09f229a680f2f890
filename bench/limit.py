"""The limit: plain spaCy ``nlp.pipe`` on the same articles, as many processes as the machine has cores, and
nothing else (no Kafka, no counting, no sink); and the time to load the model once, in a fresh process.

The plain pipeline: the consumer's loader (:func:`consumer.nlp.load_ner`, only ``tok2vec`` and ``ner``),
each article's whole content, ``nlp.pipe`` with batches of :data:`BATCH_SIZE`, each process on a round-robin
share. Each process loads the model and warms it up *before* the clock starts (the consumer group is warm
too), and the elapsed time runs from the common start signal to the last process's finish.
"""

import multiprocessing
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from consumer.nlp import load_ner

BATCH_SIZE = 16


@dataclass(frozen=True)
class LimitResult:
    processes: int
    articles: int
    seconds: float
    cpu_seconds: float
    """CPU time of the spaCy processes: unlike wall time, little affected by other programs on the machine."""

    @property
    def articles_per_s(self) -> float:
        return self.articles / self.seconds

    @property
    def articles_per_cpu_s(self) -> float:
        return self.articles / self.cpu_seconds


def combined(limits: Sequence[LimitResult]) -> LimitResult:
    """The limit over several measurements (total articles / total time): two consecutive ones read every
    article once (alternate halves)."""
    return LimitResult(
        processes=limits[0].processes,
        articles=sum(x.articles for x in limits),
        seconds=sum(x.seconds for x in limits),
        cpu_seconds=sum(x.cpu_seconds for x in limits),
    )


def _run_share(model: str, texts: list[str], ready: Connection, go: Event) -> None:
    nlp = load_ner(model)
    list(nlp.pipe(texts[:2], batch_size=BATCH_SIZE))  # warm-up, outside the clock
    ready.send("ready")
    go.wait()
    cpu_started = time.process_time()
    for _ in nlp.pipe(texts, batch_size=BATCH_SIZE):
        pass
    ready.send((time.monotonic(), time.process_time() - cpu_started))


def measure_limit(texts: list[str], *, processes: int, model: str) -> LimitResult:
    """Run the articles' ``texts`` through ``processes`` spaCy processes at once; see the module docstring."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    workers = []
    for index in range(processes):
        parent, child = context.Pipe()
        worker = context.Process(target=_run_share, args=(model, texts[index::processes], child, go), daemon=True)
        worker.start()
        child.close()  # so a crashed worker shows as EOFError here instead of a hang
        workers.append((worker, parent))
    try:
        for _, pipe in workers:
            pipe.recv()
        started = time.monotonic()
        go.set()
        finishes = [pipe.recv() for _, pipe in workers]
    except EOFError:
        raise RuntimeError("a spaCy process of the limit measurement died: see its error above") from None
    finally:
        for worker, _ in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    return LimitResult(
        processes=processes,
        articles=len(texts),
        seconds=max(finished for finished, _ in finishes) - started,
        cpu_seconds=sum(cpu for _, cpu in finishes),
    )


LOAD_ONCE = """
import time
started = time.monotonic()
from consumer.nlp import load_ner
load_ner({model!r})
print(time.monotonic() - started)
"""


def model_load_seconds(model: str) -> float:
    """Seconds to import spaCy and load ``model`` with :func:`load_ner`, in a fresh interpreter (measured
    inside it, so the interpreter's own start is not counted)."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD_ONCE.format(model=model)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])
