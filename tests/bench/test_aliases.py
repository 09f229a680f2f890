"""bench.aliases's pure parts: the stratified sample of merges, the verdicts file and the docs update."""

from collections import Counter
from pathlib import Path

import pytest

from bench.aliases import DOCS_END, DOCS_START, Merge, read_verdicts, stratified_sample, write_docs
from consumer.aliases import Resolution, Rule


def merges(rules: tuple[Rule, ...], count: int) -> list[Merge]:
    return [Merge(n, (f"raw {n}", "ORG"), Resolution((f"key {n}", "PERSON"), f"Key {n}", rules)) for n in range(count)]


def test_the_sample_takes_the_same_number_from_each_stratum_and_spreads_what_a_small_one_lacks() -> None:
    population = merges((Rule.TABLE,), 50) + merges((Rule.SURNAME,), 40) + merges((Rule.PERSON_TEXT,), 3)
    sample = stratified_sample(population, 30, seed=1)
    assert Counter(merge.stratum for merge in sample) == {"table": 14, "surname": 13, "person-text": 3}
    assert len(set(sample)) == 30
    assert stratified_sample(population, 30, seed=1) == sample
    assert stratified_sample(population, 30, seed=2) != sample
    assert len(stratified_sample(population, 500, seed=1)) == 93


def test_verdicts_are_read_by_pair_and_comments_skipped(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.tsv"
    path.write_text(
        "# verdicts\npair\tarticle_id\traw_text\traw_label\tcanonical_text\tcanonical_label\tverdict\twhy\n"
        "1\ta1\tTrump\tORG\tDonald Trump\tPERSON\tright\t\n"
    )
    assert read_verdicts(path)["a1", "Trump", "ORG", "Donald Trump", "PERSON"]["verdict"] == "right"
    assert read_verdicts(tmp_path / "none.tsv") == {}


def test_the_figures_replace_what_stands_between_the_markers(tmp_path: Path) -> None:
    docs = tmp_path / "aliases.md"
    docs.write_text(f"# Aliases\n\n{DOCS_START}\nold\n{DOCS_END}\n\nAfter.\n")
    write_docs(docs, ["new", ""])
    assert docs.read_text() == f"# Aliases\n\n{DOCS_START}\n\nnew\n\n{DOCS_END}\n\nAfter.\n"
    docs.write_text("# no markers\n")
    with pytest.raises(SystemExit, match=r"has no .* markers"):
        write_docs(docs, ["new"])
