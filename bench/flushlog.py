"""Sink writes of our design, read from the consumer group's log: every flush logs one line
``... event=flushed articles=12 ... documents=340 ...`` where ``documents`` is what the flush's one atomic
write stored: documents on Firestore, rows on SQLite (:attr:`common.sinks.base.CountWriter.written`)."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FlushTotals:
    flushes: int = 0
    articles: int = 0
    documents: int = 0


def parse_fields(line: str) -> dict[str, str]:
    """The ``key=value`` pairs of one log line (values without spaces, as numbers are)."""
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def read_flushes(log: Path, start: int = 0, end: int | None = None) -> FlushTotals:
    """Sum the flush lines logged between byte offsets ``start`` and ``end`` of ``log``."""
    with log.open("rb") as file:
        file.seek(start)
        data = file.read() if end is None else file.read(max(end - start, 0))
    flushes = articles = documents = 0
    for line in data.decode("utf-8", errors="replace").splitlines():
        if " event=flushed " not in f"{line} ":
            continue
        fields = parse_fields(line)
        flushes += 1
        articles += int(fields["articles"])
        documents += int(fields["documents"])
    return FlushTotals(flushes, articles, documents)
