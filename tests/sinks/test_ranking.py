"""Ranking entities (pure logic): the first ``limit`` rows are those of a full sort, ties at the limit broken by
text then label, whatever shortcut the ranking takes to find them."""

from hypothesis import given
from hypothesis import strategies as st

from common.sinks.base import rank_key
from common.sinks.reading import Row, top

rows_of = st.lists(
    st.tuples(
        st.integers(0, 6), st.integers(0, 3), st.sampled_from(["ORG", "GPE", "PERSON"]), st.text("ab", max_size=3)
    ),
    max_size=40,
)


@given(rows_of, st.integers(0, 12), st.sampled_from([None, "ORG", "PERSON"]))
def test_top_is_a_full_sort_cut_at_the_limit(
    found: list[tuple[int, int, str, str]], limit: int, label: str | None
) -> None:
    rows = {
        f"{n:032x}": Row(kind, text, 0, mentions, articles) for n, (mentions, articles, kind, text) in enumerate(found)
    }
    wanted = [
        row
        for row in rows.values()
        if (label is None or row.label == label) and (row.mentions or row.articles)  # rows that hold something
    ]
    wanted.sort(key=lambda row: rank_key(row.mentions, row.text, row.label))
    expected = [(row.text, row.label, row.mentions, row.articles) for row in (wanted[:limit] if limit else wanted)]
    ranked = top(rows, label, limit)
    assert [(entity.text, entity.label, entity.mentions, entity.articles) for entity in ranked] == expected
