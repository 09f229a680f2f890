"""The limit: raw spaCy ``nlp.pipe`` on the same articles, with the same components, model, batch size and
number of processes as the consumer group, and nothing else (no Kafka, no counting, no sink). spaCy reads
the same texts as in a worker: each article's content in the pieces of :func:`consumer.nlp.ner_chunks`.

Each process loads the model and warms it up *before* the clock starts (the consumer group's model load
is outside its measured window too), then runs ``nlp.pipe`` over its round-robin share of the articles.
The elapsed time is from the common start signal to the last process's finish, on the system-wide
monotonic clock.
"""

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from consumer.nlp import doc_entities, load_ner, ner_chunks


@dataclass(frozen=True)
class LimitResult:
    processes: int
    articles: int
    words: int
    entities: int
    seconds: float
    cpu_seconds: float
    """CPU time of the spaCy processes during the measurement: unlike wall time, little affected by other
    programs on the machine, so articles per CPU-second compare fairly on a busy machine."""

    @property
    def articles_per_s(self) -> float:
        return self.articles / self.seconds

    @property
    def words_per_s(self) -> float:
        return self.words / self.seconds


def count_words(text: str) -> int:
    """Whitespace-separated words: the unit of the words/s figures (independent of the tokenizer)."""
    return len(text.split())


def _run_share(
    model: str, articles: list[str], batch_size: int, chunk_chars: int, ready: Connection, go: Event
) -> None:
    nlp = load_ner(model)
    texts = [piece for article in articles for piece in ner_chunks(article, chunk_chars)]
    list(nlp.pipe(texts[:2], batch_size=batch_size))  # warm-up, outside the clock
    ready.send("ready")
    go.wait()
    cpu_started = time.process_time()
    entities = sum(len(doc_entities(doc)) for doc in nlp.pipe(texts, batch_size=batch_size))
    ready.send((time.monotonic(), entities, time.process_time() - cpu_started))


def measure_limit(texts: list[str], *, processes: int, model: str, batch_size: int, chunk_chars: int) -> LimitResult:
    """Run the articles' ``texts`` through ``processes`` spaCy processes at once; see the module docstring."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    workers = []
    for index in range(processes):
        parent, child = context.Pipe()
        worker = context.Process(
            target=_run_share, args=(model, texts[index::processes], batch_size, chunk_chars, child, go), daemon=True
        )
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
        words=sum(count_words(text) for text in texts),
        entities=sum(entities for _, entities, _ in finishes),
        seconds=max(finished for finished, _, _ in finishes) - started,
        cpu_seconds=sum(cpu for _, _, cpu in finishes),
    )
