"""``python -m bench.aliased_view``: what the aliased view costs, on the sample articles.

The sample's entities as the workers find them (spaCy once, cached by ``python -m bench.aliases``) are counted
into flushes as the consumer group counts them: the articles round-robin over the publications and all in the
current window (as ``make bench`` sends them), each in its partition by a hash of its id (16 partitions), each
partition flushing every N articles (``--flush-articles``). The same flushes are measured with the aliased view
and without it (its changes left out): the Firestore documents written per 1,000 articles (the writer's plan,
as ``documents=`` in the consumer's flush log lines) against the naive design (one write per entity per
article), the bytes and field transforms of the commits, and the rows and bytes of a real SQLite file they are
written to; then the consumer's CPU per article for the resolution (consumer.aliases) and for the writes. Not a
test: docs/benchmarks.md, "The aliased view".
"""

import argparse
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.aliases import add_sample_arguments, load_sample
from common.sinks.base import EntityCountingKey, OffsetLease, PartitionFlush, PublicationDelta
from common.sinks.count_documents import PARTITIONS_PER_GROUP
from common.sinks.firestore_layout import FamilyCache, FlushEntries, plan_flush
from common.sinks.firestore_writer import count_write
from common.sinks.sqlite import SqliteWriter
from consumer.aliases import AliasTable, alias_article, view_changes
from consumer.entities import ArticleEntity, article_entities
from consumer.pending import PendingPartition
from consumer.settings import ConsumerSettings
from loadtool.load import SourceArticle, interleave_publications

WINDOW = 1_796_137_200
"""The current window of the run (an hour's start): every article is in it, as on a live feed."""
GROUP, TOPIC = "bench-aliased", "articles"
DOCUMENT_NAME = "projects/p/databases/(default)/documents/namespaces/n_YmVuY2g/publications/p_eA/rollups/x.0.0"
"""A document name of the length of a real one, for the bytes of a write."""


@dataclass(frozen=True)
class Article:
    source: SourceArticle
    raw: dict[EntityCountingKey, ArticleEntity]

    @property
    def publication(self) -> str:
        return " ".join(str(self.source.record["publication"]).split())


@dataclass
class Cost:
    """What one run of flushes writes."""

    flushes: int = 0
    documents: int = 0
    commit_bytes: int = 0
    transforms: int = 0
    sqlite_rows: int = 0
    sqlite_bytes: int = 0
    plan_seconds: float = 0.0
    sqlite_seconds: float = 0.0


def flushes_of(articles: Sequence[Article], per_flush: int, table: AliasTable) -> list[PartitionFlush]:
    """The articles counted as the workers count them (both views), each partition flushing every ``per_flush``."""
    pending: dict[int, PendingPartition] = {}
    offsets: dict[int, int] = {}
    flushes = []
    for article in articles:
        partition = zlib.crc32(article.source.article_id.encode()) % PARTITIONS_PER_GROUP
        offset = offsets.get(partition, 0)
        counts = pending.setdefault(partition, PendingPartition(offset))
        counts.add_article(offset, article.publication, WINDOW, article.raw, aliased=alias_article(article.raw, table))
        offsets[partition] = offset + 1
        if counts.articles == per_flush:
            flushes.append(counts.to_flush(GROUP, TOPIC, partition, 3600))
            del pending[partition]
    flushes += [counts.to_flush(GROUP, TOPIC, partition, 3600) for partition, counts in sorted(pending.items())]
    return flushes


def raw_only(flush: PartitionFlush) -> PartitionFlush:
    """The same flush without the aliased view."""
    publications = {
        key: PublicationDelta(
            delta.name, {start: replace(window, aliased={}) for start, window in delta.windows.items()}
        )
        for key, delta in flush.publications.items()
    }
    return replace(flush, publications=publications)


def cost_of(flushes: Sequence[PartitionFlush], folder: Path) -> Cost:
    """Firestore: each partition's writer planning its flushes in turn (documents, bytes, transforms); SQLite:
    the flushes written to a fresh file."""
    cost = Cost(flushes=len(flushes))
    models: dict[int, FamilyCache] = {}
    for flush in flushes:
        started = time.process_time()
        plans = plan_flush(flush, models.setdefault(flush.partition, FamilyCache()), FlushEntries.of(flush))
        writes = [count_write(DOCUMENT_NAME, plan) for plan in plans]
        cost.plan_seconds += time.process_time() - started
        cost.documents += 1 + len(plans)
        cost.commit_bytes += sum(type(write).pb(write).ByteSize() for write in writes)
        cost.transforms += sum(len(plan.changes) for plan in plans)
    path = folder / "counts.sqlite3"
    writer = SqliteWriter(path, GROUP, GROUP, 3600)
    leases: dict[int, OffsetLease] = {}
    started = time.process_time()
    for flush in flushes:
        lease = leases.get(flush.partition) or writer.read_offset(GROUP, TOPIC, flush.partition)
        leases[flush.partition] = writer.write(flush, lease)
    cost.sqlite_seconds = time.process_time() - started
    writer.close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counted = [name for name in tables if name not in ("namespaces", "offsets", "publications")]
        cost.sqlite_rows = sum(connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in counted)
        pages, size = (connection.execute(pragma).fetchone()[0] for pragma in ("PRAGMA page_count", "PRAGMA page_size"))
        cost.sqlite_bytes = pages * size
    path.unlink()
    return cost


def cpu_per_article(articles: Sequence[Article], call: Callable[[Article], object], repeats: int) -> float:
    """Microseconds of this process's CPU per article for ``call`` (the best of ``repeats`` passes)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for article in articles:
            call(article)
        best = min(best, time.process_time() - started)
    return best / len(articles) * 1e6


def _more(value: float, base: float) -> str:
    return f"+{(value / base - 1) * 100:.1f}%"


def per_1000(value: float, articles: int) -> str:
    return f"{value / articles * 1000:,.0f}"


def report(articles: Sequence[Article], sizes: Sequence[int], table: AliasTable, repeats: int) -> list[str]:
    naive, count = sum(len(article.raw) for article in articles), len(articles)
    lines = [
        f"{count:,} sample articles, alias table {table.version}; naive design: {per_1000(naive, count)} documents "
        "per 1,000 articles (one write per entity per article)",
        "",
        "| articles per flush | view | flushes | Firestore documents per 1,000 articles | of naive | commit bytes "
        "per article | field transforms per article | SQLite rows per article | SQLite bytes per article |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="newscounts-aliased-") as folder:
        for size in sizes:
            both = flushes_of(articles, size, table)
            plain, cost = cost_of([raw_only(flush) for flush in both], Path(folder)), cost_of(both, Path(folder))
            for name, measured in (("raw only", plain), ("raw + aliased", cost)):
                lines.append(
                    f"| {size} | {name} | {measured.flushes:,} | {per_1000(measured.documents, count)} | "
                    f"1/{naive / measured.documents:.1f} | {measured.commit_bytes / count:,.0f} | "
                    f"{measured.transforms / count:,.1f} | {measured.sqlite_rows / count:,.1f} | "
                    f"{measured.sqlite_bytes / count:,.0f} |"
                )
            lines.append(
                f"| {size} | the aliased view's share | | {_more(cost.documents, plain.documents)} | | "
                f"{_more(cost.commit_bytes, plain.commit_bytes)} | {_more(cost.transforms, plain.transforms)} | "
                f"{_more(cost.sqlite_rows, plain.sqlite_rows)} | {_more(cost.sqlite_bytes, plain.sqlite_bytes)} |"
            )
        plan = (plain.plan_seconds / count * 1e6, cost.plan_seconds / count * 1e6)
        write = (plain.sqlite_seconds / count * 1e6, cost.sqlite_seconds / count * 1e6)
    aliased = [alias_article(article.raw, table) for article in articles]
    by_id = {id(article): view for article, view in zip(articles, aliased, strict=True)}
    resolution = cpu_per_article(articles, lambda article: alias_article(article.raw, table), repeats)
    changes = cpu_per_article(articles, lambda article: view_changes(article.raw, by_id[id(article)]), repeats)
    lines += [
        "",
        f"Consumer CPU per article (this process, best of {repeats}): the resolution {resolution:.0f} µs "
        f"(alias_article) + {changes:.0f} µs (its changes to the pending counts); the Firestore write plan "
        f"{plan[0]:.0f} -> {plan[1]:.0f} µs, the SQLite write {write[0]:.0f} -> {write[1]:.0f} µs "
        f"(raw only -> raw + aliased, {sizes[-1]} articles per flush).",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.aliased_view", description=__doc__.split("\n\n")[0])
    add_sample_arguments(cli)
    cli.add_argument(
        "--flush-articles",
        default="4,18",
        help="Articles per partition flush, comma-separated (default 4,18: make bench's FLUSH_INTERVAL=2s and the "
        "default 10s, docs/sinks.md).",
    )
    cli.add_argument("--repeats", type=int, default=3, help="Passes timed for the CPU per article (default 3).")
    options = cli.parse_args(argv)
    settings = ConsumerSettings()
    sample = load_sample(options, settings)
    entities = dict(zip((article.article_id for article in sample.articles), sample.entities, strict=True))
    articles = [
        Article(article, article_entities(entities[article.article_id], settings.excluded_labels))
        for article in interleave_publications(sample.articles)
    ]
    sizes = [int(size) for size in options.flush_articles.split(",") if size.strip()]
    print("\n".join(report(articles, sizes, table=sample.table, repeats=options.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
