"""Count known articles with the consumer's own code and write them through the real sink API.

The browser test and the README screenshot use this instead of the whole Kafka pipeline: the page only
reads the sink, so what matters is that the counts are the consumer's counts, written the way a worker
writes them (one :class:`PartitionFlush` per partition, continuing from and fenced by its stored lease).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language

from common.article import Article
from common.sinks.base import CountWriter
from common.sinks.sqlite import SqliteWriter
from consumer.entities import article_entities
from consumer.nlp import entities_per_text
from consumer.pending import PendingPartition
from consumer.settings import DEFAULT_EXCLUDED_LABELS
from consumer.windows import event_time, window_start
from tests.consumer.support import NER_CHUNK_CHARS

GROUP_ID = "dashboard"
TOPIC = "articles"


def dashboard_writer(database: Path) -> CountWriter:
    """The writer of the counts the dashboard tests show (group and namespace ``dashboard``, hourly windows)."""
    return SqliteWriter(database, GROUP_ID, GROUP_ID, 3600)


def count_articles(
    sink: CountWriter, nlp: Language, articles: Sequence[Mapping[str, Any]], *, window_seconds: int = 3600
) -> None:
    """Run NER over ``articles`` and write their counts in one atomic flush of partition 0, so a page that
    refreshes meanwhile sees either none or all of them (never a part, which the checks would race with)."""
    parsed = [Article.model_validate(article) for article in articles]
    lease = sink.read_offset(GROUP_ID, TOPIC, 0)
    counts = PendingPartition(lease.next_offset)
    contents = [article.content for article in parsed]
    found_per_article = entities_per_text(nlp, contents, batch_size=8, chunk_chars=NER_CHUNK_CHARS)
    for article, entities in zip(parsed, found_per_article, strict=True):
        offset = counts.next_offset or 0
        found = article_entities(entities, DEFAULT_EXCLUDED_LABELS)
        counts.add_article(offset, article.publication, window_start(event_time(article, None), window_seconds), found)
    if counts.processed:
        sink.write(counts.to_flush(GROUP_ID, TOPIC, 0, window_seconds), lease)
