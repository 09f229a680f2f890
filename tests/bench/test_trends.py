"""The trends benchmark's pure parts: the generated articles and the goals judged from figures (the benchmark
itself is ``python -m bench.trends``, not a test)."""

import json
from collections import Counter

from bench.trends import BIG, PERSON, Fill, Shape, SinkResult, Timing, generated_articles, goals
from common.article import parse_article


def test_the_articles_are_short_valid_in_time_order_and_the_same_every_time() -> None:
    shape = Shape(days=40, per_day=10, publications=3, every_days=30)
    articles = list(generated_articles(shape))
    assert articles == list(generated_articles(shape))
    assert len(articles) == shape.total() == 40 * 10 + 3 * 2  # days 0, 1, 2 and 30, 31, 32
    assert Counter(a["publication"] for a in articles) == {
        BIG: 400,
        "Gazette 001": 2,
        "Gazette 002": 2,
        "Gazette 003": 2,
    }
    assert [a["published_at"] for a in articles] == sorted(a["published_at"] for a in articles)
    assert len({a["id"] for a in articles}) == len(articles)
    for article in articles:
        assert parse_article(json.dumps(article).encode()).publication == article["publication"]
        assert len(article["content"].split()) <= 16
    assert all(PERSON[0] in a["content"] for a in articles if a["publication"] != BIG)


def timing(question: str, median: float, p95: float, documents: float | None = None) -> Timing:
    return Timing(question, median, p95, documents, "answer")


def test_goals_are_judged_from_the_figures() -> None:
    timings = [
        timing("top 20 entities, 1 day", 10.0, 12.0, 20),
        timing("top 20 entities, 5 years", 19.0, 140.0, 150),
        timing("top 20 entities, all time", 9.0, 900.0, 999),  # not one of the ranges
        timing("monthly series of one person, 5 years", 50.0, 151.0),
        timing("publications mentioning one person (201), all time", 50.0, 199.0),
    ]
    result = SinkResult(Fill("firestore", 10_000, 100.0, 50, 2_000), naive_per_1000=4_000.0, timings=timings)
    judged = {goal: (figure, met) for goal, _, figure, met in goals({"firestore": result})}
    assert judged["firestore: top entities, 1 hour to 5 years, p95"] == ("140.0 ms (5 years)", True)
    assert judged["firestore: 5-year read vs 1-day read (medians)"] == ("1.90 x", True)
    assert judged["firestore: documents read per top-entities query"] == ("max 150 (5 years)", True)
    assert judged["firestore: monthly series over 5 years, p95"] == ("151.0 ms", False)
    assert judged["firestore: publications of one entity (answer), p95"] == ("199.0 ms", True)
    assert judged["firestore: documents written per 1,000 articles (this shape)"] == (
        "200 vs naive 4,000 (1/20.0)",
        True,
    )
    sqlite = SinkResult(Fill("sqlite", 10_000, 10.0, 50, 60_000), naive_per_1000=4_000.0, timings=timings)
    rows = {goal: (figure, met) for goal, _, figure, met in goals({"sqlite": sqlite})}
    assert "sqlite: documents written per 1,000 articles (this shape)" not in rows
    assert rows["sqlite: rows written per 1,000 articles (this shape)"] == (
        "6,000 vs naive 4,000 (1/0.7); rows upserted, not documents: judged on Firestore",
        None,
    )
