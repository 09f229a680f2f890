"""bench.aliased_view's parts: the flushes it makes are the consumer's (both views), the raw-only ones the same
without the aliased changes, and what it counts for them is what the writers count and store."""

from pathlib import Path

from bench.aliased_view import WINDOW, Article, cost_of, flushes_of, raw_only
from common.sinks.tallies import documents_written, forget_documents_model
from consumer.aliases import shipped_alias_table
from consumer.entities import article_entities
from loadtool.load import SourceArticle

ARTICLES = [
    Article(
        SourceArticle({"publication": publication}, f"id-{n}"),
        article_entities([("Donald Trump", "PERSON"), ("Trump", "ORG"), ("US", "GPE"), ("Fed", "ORG")], set()),
    )
    for n, publication in enumerate(["Wire", "Daily", "Wire", "Wire", "Daily"] * 4)
]


def test_the_flushes_hold_each_article_once_in_both_views() -> None:
    flushes = flushes_of(ARTICLES, 2, shipped_alias_table())
    windows = [w for flush in flushes for delta in flush.publications.values() for w in delta.windows.values()]
    assert sum(w.articles for w in windows) == len(ARTICLES) and {
        start for f in flushes for d in f.publications.values() for start in d.windows
    } == {WINDOW}
    assert sum(w.aliased[("donald trump", "PERSON")].mentions for w in windows) == len(ARTICLES)
    assert sum(w.aliased[("united states", "GPE")].articles for w in windows) == len(ARTICLES)
    stripped = [raw_only(flush) for flush in flushes]
    assert all(not w.aliased for f in stripped for d in f.publications.values() for w in d.windows.values())
    assert [w.entities for f in stripped for d in f.publications.values() for w in d.windows.values()] == [
        w.entities for w in windows
    ]


def test_the_documents_counted_are_the_writers_model(tmp_path: Path) -> None:
    flushes = flushes_of(ARTICLES, 3, shipped_alias_table())
    forget_documents_model()
    expected = sum(documents_written(flush) for flush in flushes)
    cost = cost_of(flushes, tmp_path)
    assert (cost.flushes, cost.documents) == (len(flushes), expected)
    plain = cost_of([raw_only(flush) for flush in flushes], tmp_path)
    # the aliased changes go into the same documents; they add rows of their own in SQLite
    assert plain.documents == cost.documents
    assert plain.transforms < cost.transforms and plain.sqlite_rows < cost.sqlite_rows
