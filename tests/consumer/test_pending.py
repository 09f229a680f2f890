"""A partition's pending counts and the flush they become."""

from collections import Counter

import pytest

from common.keys import publication_key
from common.sinks.base import AliasedChange, EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from consumer.aliases import alias_article, build_alias_table, parse_alias_file
from consumer.entities import ArticleEntity, article_entities
from consumer.pending import PendingPartition

W1, W2 = 1_577_836_800, 1_577_840_400


def merkel(mentions: int, *surfaces: str) -> dict[tuple[str, str], ArticleEntity]:
    return {("angela merkel", "PERSON"): ArticleEntity("PERSON", mentions, Counter(surfaces))}


def test_articles_accumulate_per_publication_window_and_entity() -> None:
    pending = PendingPartition(10)
    pending.add_article(10, "Reuters", W1, merkel(2, "Angela Merkel", "ANGELA MERKEL"))
    pending.add_article(11, "Reuters", W1, merkel(1, "ANGELA MERKEL"))
    pending.add_article(12, "Reuters", W2, {})
    pending.skip(13)
    pending.add_article(14, "CNN", W1, {("nato", "ORG"): ArticleEntity("ORG", 3, Counter({"NATO": 3}))})
    assert (pending.next_offset, pending.articles, pending.processed, pending.entity_tallies) == (15, 4, 5, 2)
    assert pending.to_flush("g", "t", 3, 3600) == PartitionFlush(
        group_id="g",
        topic="t",
        partition=3,
        next_offset=15,
        window_seconds=3600,
        publications={
            publication_key("Reuters"): PublicationDelta(
                name="Reuters",
                windows={
                    W1: WindowDelta(
                        articles=2,
                        entities={("angela merkel", "PERSON"): EntityTally("ANGELA MERKEL", "PERSON", 3, 2)},
                    ),
                    W2: WindowDelta(articles=1, entities={}),
                },
            ),
            publication_key("CNN"): PublicationDelta(
                name="CNN",
                windows={W1: WindowDelta(articles=1, entities={("nato", "ORG"): EntityTally("NATO", "ORG", 3, 1)})},
            ),
        },
    )


def test_displayed_text_is_the_most_frequent_spelling_then_code_point_order() -> None:
    pending = PendingPartition(None)
    pending.add_article(0, "P", W1, merkel(2, "angela merkel", "Angela Merkel"))
    flush = pending.to_flush("g", "t", 0, 3600)
    assert (
        flush.publications[publication_key("P")].windows[W1].entities[("angela merkel", "PERSON")].text
        == "Angela Merkel"
    )


def test_only_a_dead_letter_still_moves_the_offset() -> None:
    pending = PendingPartition(7)
    pending.skip(7)
    flush = pending.to_flush("g", "t", 0, 60)
    assert (flush.next_offset, flush.publications, pending.articles, pending.processed) == (8, {}, 0, 1)


def test_accepts_only_offsets_not_yet_processed() -> None:
    assert PendingPartition(None).accepts(0)
    pending = PendingPartition(5)
    assert not pending.accepts(4)
    assert pending.accepts(5)
    pending.skip(5)
    assert not pending.accepts(5)
    assert pending.accepts(6)


def test_nothing_processed_has_no_flush() -> None:
    with pytest.raises(ValueError, match="nothing was processed"):
        PendingPartition(None).to_flush("g", "t", 0, 60)


def test_articles_without_a_date_are_counted_apart_in_their_window() -> None:
    pending = PendingPartition(None)
    pending.add_article(0, "P", W1, {}, undated=True)
    pending.add_article(1, "P", W1, {})
    pending.add_article(2, "P", W2, {}, undated=True)
    pending.add_article(3, "Q", W1, {})
    publications = pending.to_flush("g", "t", 0, 3600).publications
    assert {
        name: {start: (window.articles, window.undated_articles) for start, window in publications[key].windows.items()}
        for name, key in (("P", publication_key("P")), ("Q", publication_key("Q")))
    } == {"P": {W1: (2, 1), W2: (1, 1)}, "Q": {W1: (1, 0)}}


def test_the_flush_carries_the_aliased_views_changes_per_window() -> None:
    trump = article_entities([("Donald Trump", "PERSON"), ("Trump", "ORG"), ("Trump", "ORG")], set())
    pending = PendingPartition(None)
    pending.add_article(0, "P", W1, trump)
    pending.add_article(1, "P", W1, article_entities([("Trump", "ORG"), ("US", "GPE")], set()))
    pending.add_article(2, "P", W2, trump)
    # raw: donald trump and trump/ORG (W1, W2), us/GPE (W1); aliased changes: donald trump and trump/ORG
    # (W1, W2), united states and us (W1)
    assert pending.entity_tallies == 5 + 6
    windows = pending.to_flush("g", "t", 0, 3600).publications[publication_key("P")].windows
    merged = AliasedChange("PERSON", "", 2, 0, {("ORG", "Trump"): 2})  # spelled as in the raw view
    assert windows[W1].aliased == {
        ("donald trump", "PERSON"): merged,
        ("trump", "ORG"): AliasedChange("ORG", "", -2, -1),
        ("united states", "GPE"): AliasedChange("GPE", "United States", 1, 1, {("GPE", "US"): 1}),
        ("us", "GPE"): AliasedChange("GPE", "", -1, -1),
    }
    assert windows[W2].aliased == {
        ("donald trump", "PERSON"): merged,
        ("trump", "ORG"): AliasedChange("ORG", "", -2, -1),
    }
    assert windows[W1].entities[("trump", "ORG")] == EntityTally("Trump", "ORG", 3, 2)  # the raw view as counted


def test_the_aliased_view_of_an_article_is_the_callers_when_given() -> None:
    found = article_entities([("US", "GPE")], set())
    mine = build_alias_table([parse_alias_file("# version: 1\nUS\tGPE\tAmerica\tGPE\n", "mine")], ["mine"])
    pending = PendingPartition(None)
    pending.add_article(0, "P", W1, found, aliased=alias_article(found, mine))
    changes = pending.to_flush("g", "t", 0, 3600).publications[publication_key("P")].windows[W1].aliased
    assert changes == {
        ("america", "GPE"): AliasedChange("GPE", "America", 1, 1, {("GPE", "US"): 1}),
        ("us", "GPE"): AliasedChange("GPE", "", -1, -1),
    }
