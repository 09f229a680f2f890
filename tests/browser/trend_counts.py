"""Known counts for the dashboard's trend test, written through the real sink API, and the answers they
mean, computed here from the same table (not with the sinks' own code).

Four publications over three years (2022 to 2024), each month's articles in one hourly window (the 10th,
12:00 UTC): so "all time" spans 36 months, which makes the page choose monthly points by itself. Names and
entity texts hold what CSV must quote (a comma, quotes, both) and a text that starts like a spreadsheet
formula.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common.keys import publication_key
from common.sinks.base import EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from tests.browser.counts import GROUP_ID, TOPIC, dashboard_writer

TRENDS, MONDE, QUIET, OTHER = "Trends Daily", 'Le "Monde", Paris', "Quiet Gazette", "Other News"
MERKEL = ("Angela Merkel", "PERSON")
BERLIN = ("Berlin", "GPE")
ANGOLA = ("Angola", "GPE")
FORMULA = ('=HYPERLINK("x")', "ORG")
CAPITAL = ("Washington, D.C.", "GPE")


@dataclass(frozen=True)
class Month:
    """One publication's articles of one month (all in one window), and its entities (mentions, articles)."""

    publication: str
    year: int
    month: int
    articles: int
    undated: int = 0
    entities: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    @property
    def window(self) -> int:
        return int(datetime(self.year, self.month, 10, 12, tzinfo=UTC).timestamp())


MONTHS = [
    Month(TRENDS, 2022, 3, 10, 0, {MERKEL: (6, 4), BERLIN: (2, 2), FORMULA: (1, 1)}),
    Month(TRENDS, 2023, 6, 20, 0, {MERKEL: (5, 5), BERLIN: (1, 1), CAPITAL: (2, 2)}),
    Month(TRENDS, 2024, 11, 8, 2, {MERKEL: (3, 2)}),
    Month(MONDE, 2022, 1, 5, 0, {MERKEL: (1, 1)}),
    Month(MONDE, 2023, 6, 10, 3, {MERKEL: (9, 6), BERLIN: (4, 3)}),
    Month(MONDE, 2024, 12, 4, 0, {}),
    Month(QUIET, 2023, 6, 3, 0, {MERKEL: (1, 1)}),
    Month(OTHER, 2022, 5, 7, 0, {BERLIN: (3, 3), ANGOLA: (2, 1)}),
]


def seed(database: Path) -> None:
    """Write the months in two flushes of two partitions, as two workers would."""
    writer = dashboard_writer(database)
    try:
        for partition, months in enumerate((MONTHS[:4], MONTHS[4:])):
            publications: dict[str, PublicationDelta] = {}
            for month in months:
                delta = publications.setdefault(publication_key(month.publication), PublicationDelta(month.publication))
                delta.windows[month.window] = WindowDelta(
                    articles=month.articles,
                    entities={
                        (text.casefold(), label): EntityTally(text, label, mentions, articles)
                        for (text, label), (mentions, articles) in month.entities.items()
                    },
                    undated_articles=month.undated,
                )
            flush = PartitionFlush(GROUP_ID, TOPIC, partition, len(months), 3600, publications)
            writer.write(flush, writer.read_offset(GROUP_ID, TOPIC, partition))
    finally:
        writer.close()


def totals(publication: str) -> tuple[int, int]:
    """(articles, undated articles) of a publication, all time."""
    months = [month for month in MONTHS if month.publication == publication]
    return sum(month.articles for month in months), sum(month.undated for month in months)


def mentions(entity: tuple[str, str]) -> int:
    """All-time mentions of an entity, every publication (what the search answers)."""
    return sum(month.entities.get(entity, (0, 0))[0] for month in MONTHS)


def point(publication: str, entity: tuple[str, str], year: int, month: int | None = None) -> dict[str, int]:
    """One point of a series: a month, or a whole year when ``month`` is None."""
    chosen = [
        m for m in MONTHS if m.publication == publication and m.year == year and (month is None or m.month == month)
    ]
    return {
        "articles": sum(m.articles for m in chosen),
        "undated_articles": sum(m.undated for m in chosen),
        "mentions": sum(m.entities.get(entity, (0, 0))[0] for m in chosen),
        "entity_articles": sum(m.entities.get(entity, (0, 0))[1] for m in chosen),
    }
