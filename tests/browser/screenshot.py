"""Make the README's dashboard screenshot from real counts: ``python -m tests.browser.screenshot``.

Counts the first ``--articles`` sample articles with the consumer's counting code (spaCy NER), writes them
through the SQLite sink, starts the HTTP service over that file, and has Debian's chromium take a picture
of ``--view`` (a dashboard query string).
"""

import argparse
import gzip
import json
import subprocess
import tempfile
from pathlib import Path

from consumer.nlp import load_ner
from consumer.settings import ConsumerSettings
from tests.browser.counts import count_articles, dashboard_writer
from tests.browser.service import REPO, serve, sqlite_sink

SAMPLE = REPO.parent / "shared/data/allsides-3k.jsonl.gz"
DEFAULT_VIEW = "?publication=CNN+%28Web+News%29&publication=Washington+Times&top=10"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300, help="how many sample articles to count, from the first")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="the sample articles (.jsonl.gz)")
    parser.add_argument("--view", default=DEFAULT_VIEW, help="dashboard query string to show")
    parser.add_argument("--size", default="1280x960", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--out", type=Path, default=REPO / "docs/img/dashboard.png", help="PNG file to write")
    parser.add_argument(
        "--database", type=Path, help="keep the counts in this SQLite file; reuse it when it exists (no recount)"
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="newscounts-screenshot-") as folder:
        database = options.database or Path(folder) / "counts.sqlite3"
        if not database.exists():
            count_sample(database, options.sample, options.articles)
        with serve(sqlite_sink(database), Path(folder) / "app.log") as base:
            width, height = options.size.split("x")
            options.out.parent.mkdir(parents=True, exist_ok=True)
            script = REPO / "tests/browser/screenshot.mjs"
            subprocess.run(["node", str(script), f"{base}/{options.view}", str(options.out), width, height], check=True)
    print(f"wrote {options.out}")


def count_sample(database: Path, sample: Path, how_many: int) -> None:
    with gzip.open(sample, "rt", encoding="utf-8") as lines:
        articles = [json.loads(line) for _, line in zip(range(how_many), lines, strict=False)]
    sink = dashboard_writer(database)
    try:
        count_articles(sink, load_ner(ConsumerSettings().ner_model), articles)
    finally:
        sink.close()
    print(f"counted {len(articles)} articles into {database}")


if __name__ == "__main__":
    main()
