"""``python -m bench.aliases``: the aliased view (consumer/aliases.py) measured on the sample articles.

spaCy runs once over the articles, as the workers run it, and its entities are cached (``--cache``); every
later run reads the cache. Printed (or written into docs/aliases.md with ``--docs``): how many (publication,
entity) rows the aliased view merges, overall and per publication; the top persons of each publication
before and after; and the precision of a random sample of merges, stratified over the rules, from the
verdicts given by hand in ``bench/results/aliases-verdicts.tsv``. ``--contexts`` prints the sampled merges
with the sentences they come from, for giving those verdicts.
"""

import argparse
import csv
import gzip
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.data import REPO, SAMPLE
from common.sinks.base import EntityCountingKey, rank_key
from consumer.aliases import (
    AliasedArticle,
    AliasFileError,
    AliasTable,
    Resolution,
    alias_article,
    display_text,
    load_alias_table,
)
from consumer.entities import ArticleEntity, article_entities, counting_key, normalize_entity_text
from consumer.nlp import entities_per_text, load_ner, ner_chunks
from consumer.settings import ConsumerSettings
from loadtool.load import SourceArticle, read_articles

VERDICTS = REPO / "bench/results/aliases-verdicts.tsv"
VERDICT_FIELDS = ("pair", "article_id", "raw_text", "raw_label", "canonical_text", "canonical_label", "verdict", "why")
VERDICTS_HEADER = (
    "# Verdicts on the sampled merges of python -m bench.aliases: right or wrong; why when wrong, a note on a "
    "close call.\n"
)
DOCS_START = "<!-- aliases-measurement:start (written by python -m bench.aliases --docs docs/aliases.md) -->"
DOCS_END = "<!-- aliases-measurement:end -->"


def add_sample_arguments(cli: argparse.ArgumentParser) -> None:
    """--data, --cache and --aliases-file, as every alias bench takes them (one entity cache between them)."""
    cli.add_argument("--data", type=Path, default=SAMPLE, help="Articles (JSONL or JSONL.gz; default: %(default)s).")
    cli.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/newscounts-aliases-entities.jsonl.gz"),
        help="The spaCy entities of --data, written on the first run (default: %(default)s).",
    )
    cli.add_argument("--aliases-file", type=Path, default=None, help="A user alias table (as ALIASES_FILE).")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m bench.aliases", description=__doc__.split("\n\n")[0])
    add_sample_arguments(cli)
    cli.add_argument("--pairs", type=int, default=100, help="Merges sampled for the precision (default 100).")
    cli.add_argument("--seed", type=int, default=18, help="Seed of the sample (default 18).")
    cli.add_argument("--top", type=int, default=20, help="Persons per publication, before and after (default 20).")
    cli.add_argument("--verdicts", type=Path, default=VERDICTS, help="The hand-given verdicts (default: %(default)s).")
    cli.add_argument("--contexts", action="store_true", help="Print each sampled merge in its sentences, and stop.")
    cli.add_argument("--docs", type=Path, help="Write the figures into this file between its marker comments.")
    return cli


@dataclass(frozen=True)
class Sample:
    """What :func:`add_sample_arguments` names, loaded: the alias table, the articles and their entities."""

    table: AliasTable
    articles: list[SourceArticle]
    entities: list[list[tuple[str, str]]]
    """Each article's (text, label) entities, in the order of ``articles``."""


def load_sample(options: argparse.Namespace, settings: ConsumerSettings) -> Sample:
    """The alias table (--aliases-file, else ALIASES_FILE), the articles of --data and their entities (through
    --cache); a bad table or a missing file ends the command with what to do."""
    try:
        table = load_alias_table(options.aliases_file or settings.aliases_file)
    except AliasFileError as error:
        raise SystemExit(f"error: {error}") from None
    if not options.data.is_file():
        raise SystemExit(f"sample articles not found at {options.data}: pass --data or set NEWSCOUNTS_SAMPLE_DATA")
    source = read_articles([options.data])
    found = cached_entities(source.articles, options.cache, settings.ner_model, settings.ner_chunk_chars)
    return Sample(table, source.articles, found)


# --- the entities, once ------------------------------------------------------------------------------


def cached_entities(
    articles: Sequence[SourceArticle], cache: Path, model: str, chunk_chars: int
) -> list[list[tuple[str, str]]]:
    """Each article's (text, label) entities as the workers find them, from ``cache`` when it was written for
    the same articles, model and chunk size (spaCy over the sample takes minutes of CPU), else found now."""
    header = {"ids": [article.article_id for article in articles], "model": model, "chunk_chars": chunk_chars}
    if cache.is_file():
        with gzip.open(cache, "rt", encoding="utf-8") as lines:
            if json.loads(next(lines)) == header:
                return [[(text, label) for text, label in json.loads(line)] for line in lines]
    print(f"running spaCy over {len(articles)} articles (cached in {cache} for the next runs)", file=sys.stderr)
    nlp = load_ner(model)
    texts = [article.record["content"] for article in articles]
    found = list(entities_per_text(nlp, texts, batch_size=1, chunk_chars=chunk_chars))
    with gzip.open(cache, "wt", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        out.writelines(json.dumps(entities) + "\n" for entities in found)
    return found


# --- the measurement ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One (publication, entity) row of a view: its mentions and spellings over all articles."""

    mentions: int = 0
    surfaces: Counter[str] = field(default_factory=Counter)
    merged: Counter[EntityCountingKey] = field(default_factory=Counter)
    """Aliased rows only: the raw keys counted in this row, with their mentions."""


@dataclass
class Counted:
    """One article: where it comes from, its raw entities and its aliased view."""

    source: SourceArticle
    raw: dict[EntityCountingKey, ArticleEntity]
    aliased: AliasedArticle

    @property
    def publication(self) -> str:
        return " ".join(str(self.source.record["publication"]).split())


@dataclass(frozen=True)
class Merge:
    """One raw key of one article counted under another key."""

    article: int
    raw: EntityCountingKey
    resolution: Resolution

    @property
    def stratum(self) -> str:
        return "+".join(self.resolution.rules)


def count_views(articles: Sequence[Counted]) -> tuple[dict[str, dict[EntityCountingKey, Row]], ...]:
    """Per publication, the raw rows and the aliased rows."""
    raw: dict[str, dict[EntityCountingKey, Row]] = defaultdict(dict)
    aliased: dict[str, dict[EntityCountingKey, Row]] = defaultdict(dict)
    for article in articles:
        for key, entity in article.raw.items():
            row = raw[article.publication].setdefault(key, Row())
            row.mentions += entity.mentions
            row.surfaces.update(entity.surfaces)
        for key, entity in article.aliased.entities.items():
            row = aliased[article.publication].setdefault(key, Row())
            row.mentions += entity.mentions
            row.surfaces.update(entity.surfaces)
            row.merged.update(article.aliased.sources[key])
    return dict(raw), dict(aliased)


def merges_of(articles: Sequence[Counted]) -> list[Merge]:
    return [
        Merge(index, raw, resolution)
        for index, article in enumerate(articles)
        for raw, resolution in article.aliased.resolutions.items()
        if resolution.key != raw
    ]


def stratified_sample(merges: Sequence[Merge], size: int, seed: int) -> list[Merge]:
    """``size`` merges: the same number from each stratum (the rules that applied, in order), the share of a
    stratum too small for it spread over the others; uniform at random within a stratum."""
    strata: dict[str, list[Merge]] = defaultdict(list)
    for merge in merges:
        strata[merge.stratum].append(merge)
    shares = dict.fromkeys(strata, 0)
    left = min(size, len(merges))
    while left:
        open_strata = sorted(
            (name for name in strata if shares[name] < len(strata[name])), key=lambda n: -len(strata[n])
        )
        for name in open_strata[:left]:
            shares[name] += 1
            left -= 1
    rng = random.Random(seed)
    sample: list[Merge] = []
    for name in sorted(strata):
        sample.extend(rng.sample(strata[name], shares[name]))
    return sample


def _key_text(key: EntityCountingKey, rows: dict[EntityCountingKey, Row]) -> str:
    row = rows.get(key)
    return display_text(row.surfaces) if row is not None and row.surfaces else key[0]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rows_section(
    raw: dict[str, dict[EntityCountingKey, Row]],
    aliased: dict[str, dict[EntityCountingKey, Row]],
    merges: Sequence[Merge],
    articles: Sequence[Counted],
) -> list[str]:
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    for merge in merges:
        per_rule[articles[merge.article].publication][merge.stratum] += 1
    rules = sorted({merge.stratum for merge in merges})
    lines: list[str] = []
    table: list[list[str]] = []
    totals = Counter[str]()
    for publication in sorted(raw):
        before, after = raw[publication], aliased[publication]
        mentions = sum(row.mentions for row in before.values())
        moved = sum(m for key, row in after.items() for raw_key, m in row.merged.items() if raw_key != key)
        gone = sum(1 for key in before if key not in after)
        figures = Counter(rows_raw=len(before), rows_aliased=len(after), gone=gone, mentions=mentions, moved=moved)
        figures.update({rule: per_rule[publication][rule] for rule in rules})
        totals.update(figures)
        table.append([publication, *_row_figures(figures, rules)])
    table.append(["**all**", *_row_figures(totals, rules)])
    lines += _table(
        [
            "publication",
            "raw rows",
            "aliased rows",
            "rows fewer",
            "raw rows merged away",
            "mentions counted under another row",
            *(f"merges: {rule}" for rule in rules),
        ],
        table,
    )
    return lines


def _row_figures(figures: Counter[str], rules: Sequence[str]) -> list[str]:
    fewer = figures["rows_raw"] - figures["rows_aliased"]
    return [
        f"{figures['rows_raw']:,}",
        f"{figures['rows_aliased']:,}",
        f"{fewer:,} ({fewer / figures['rows_raw']:.1%})",
        f"{figures['gone']:,}",
        f"{figures['moved']:,} of {figures['mentions']:,} ({figures['moved'] / figures['mentions']:.1%})",
        *(f"{figures[rule]:,}" for rule in rules),
    ]


def top_persons_section(
    raw: dict[str, dict[EntityCountingKey, Row]], aliased: dict[str, dict[EntityCountingKey, Row]], top: int
) -> list[str]:
    lines: list[str] = []
    for publication in sorted(raw):
        before = _top_persons(raw[publication], top)
        after = _top_persons(aliased[publication], top)
        lines += [f"**{publication}**", ""]
        rows = []
        for rank in range(max(len(before), len(after))):
            left = _person_cell(before, rank, raw[publication], None)
            right = _person_cell(after, rank, raw[publication], aliased[publication])
            rows.append([str(rank + 1), left, right])
        lines += _table(["#", "raw view (mentions)", "aliased view (mentions; merged raw rows)"], rows)
    return lines


def _top_persons(rows: dict[EntityCountingKey, Row], top: int) -> list[tuple[EntityCountingKey, Row]]:
    persons = [(key, row) for key, row in rows.items() if key[1] == "PERSON"]
    return sorted(persons, key=lambda item: rank_key(item[1].mentions, display_text(item[1].surfaces), item[0][1]))[
        :top
    ]


def _person_cell(
    ranked: list[tuple[EntityCountingKey, Row]],
    rank: int,
    raw_rows: dict[EntityCountingKey, Row],
    aliased_rows: dict[EntityCountingKey, Row] | None,
) -> str:
    if rank >= len(ranked):
        return ""
    key, row = ranked[rank]
    cell = f"{_cell(display_text(row.surfaces))} ({row.mentions:,})"
    if aliased_rows is not None:
        parts = [
            f"{_cell(_key_text(raw_key, raw_rows))}/{raw_key[1]} {mentions:,}"
            for raw_key, mentions in sorted(row.merged.items(), key=lambda item: (-item[1], item[0]))
            if raw_key != key
        ][:4]
        if parts:
            more = len(row.merged) - 1 - len(parts)
            cell += "; + " + ", ".join(parts) + (f", {more} more" if more > 0 else "")
    return cell


# --- the sample, its contexts and its verdicts ---------------------------------------------------------


def pair_fields(merge: Merge, articles: Sequence[Counted]) -> dict[str, str]:
    article = articles[merge.article]
    raw_entity = article.raw[merge.raw]
    return {
        "article_id": article.source.article_id,
        "raw_text": display_text(raw_entity.surfaces),
        "raw_label": merge.raw[1],
        "canonical_text": merge.resolution.text,
        "canonical_label": merge.resolution.key[1],
    }


def print_contexts(sample: Sequence[Merge], articles: Sequence[Counted], model: str, chunk_chars: int) -> None:
    """Each sampled merge with the sentences holding the raw mention and the canonical one (spaCy runs again
    over the sampled articles only, with a sentencizer, to know where the mentions are)."""
    nlp = load_ner(model)
    nlp.add_pipe("sentencizer")
    for number, merge in enumerate(sample, start=1):
        article = articles[merge.article]
        fields = pair_fields(merge, articles)
        print(
            f"\n[{number}] {merge.stratum}: {fields['raw_text']!r}/{fields['raw_label']} -> "
            f"{fields['canonical_text']!r}/{fields['canonical_label']}   {article.publication}: "
            f"{article.source.record.get('title')!r}"
        )
        others = sorted(f"{k[0]}/{k[1]}" for k in article.aliased.sources[merge.resolution.key] if k != merge.raw)
        print(f"    also counted there: {', '.join(others) or '-'}")
        people = sorted(k[0] for k in article.raw if k[1] == "PERSON")
        print(f"    persons of the article: {'; '.join(people)}")
        for label, key, limit in (("raw", merge.raw, 3), ("canonical", merge.resolution.key, 1)):
            for sentence in _sentences_with(nlp, article.source.record["content"], key, chunk_chars, limit):
                print(f"    {label}: {sentence}")


def _sentences_with(nlp, content: str, key: EntityCountingKey, chunk_chars: int, limit: int) -> Iterator[str]:
    shown = 0
    for doc in nlp.pipe(ner_chunks(content, chunk_chars), batch_size=1):
        for entity in doc.ents:
            normalized = normalize_entity_text(entity.text)
            if normalized and counting_key(normalized, entity.label_) == key and shown < limit:
                sentence = entity.sent
                text = (
                    sentence.text[: entity.start_char - sentence.start_char]
                    + "[["
                    + entity.text
                    + "]]"
                    + sentence.text[entity.end_char - sentence.start_char :]
                )
                shown += 1
                yield " ".join(text.split())[:400]


def read_verdicts(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """The verdicts given by hand, by (article id, raw text, raw label, canonical text, canonical label)."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as lines:
        reader = csv.DictReader((line for line in lines if not line.startswith("#")), delimiter="\t")
        return {tuple(row[name] for name in VERDICT_FIELDS[1:6]): row for row in reader}


def precision_section(
    sample: Sequence[Merge], merges: Sequence[Merge], articles: Sequence[Counted], verdicts_path: Path
) -> list[str]:
    verdicts = read_verdicts(verdicts_path)
    sizes = Counter(merge.stratum for merge in merges)
    judged: dict[str, Counter[str]] = defaultdict(Counter)
    rows = []
    for number, merge in enumerate(sample, start=1):
        fields = pair_fields(merge, articles)
        verdict = verdicts.get(tuple(fields[name] for name in VERDICT_FIELDS[1:6]), {})
        judged[merge.stratum][verdict.get("verdict", "unjudged")] += 1
        rows.append(
            [
                str(number),
                merge.stratum,
                articles[merge.article].publication,
                f"{_cell(fields['raw_text'])}/{fields['raw_label']}",
                f"{_cell(fields['canonical_text'])}/{fields['canonical_label']}",
                verdict.get("verdict", "**unjudged**"),
                _cell(verdict.get("why", "")),
            ]
        )
    summary = []
    weighted = variance = 0.0
    for stratum in sorted(judged):
        counts = judged[stratum]
        checked = counts["right"] + counts["wrong"]
        share = counts["right"] / checked if checked else 0.0
        weight = sizes[stratum] / len(merges)
        weighted += share * weight
        variance += weight**2 * share * (1 - share) / max(checked, 1)
        summary.append([stratum, f"{sizes[stratum]:,}", str(checked), str(counts["right"]), f"{share:.0%}"])
    right = sum(counts["right"] for counts in judged.values())
    checked_all = sum(counts["right"] + counts["wrong"] for counts in judged.values())
    summary.append(
        ["**all**", f"{len(merges):,}", str(checked_all), str(right), f"{weighted:.1%} ± {1.96 * variance**0.5:.1%}"]
    )
    lines = _table(["rules", "merges (all articles)", "checked", "right", "precision"], summary)
    unjudged = sum(counts["unjudged"] for counts in judged.values())
    if unjudged:
        lines += [f"**{unjudged} sampled merges have no verdict in {verdicts_path.name}.**", ""]
    lines += _table(["#", "rules", "publication", "raw row", "counted under", "verdict", "why wrong (or a note)"], rows)
    return lines


def write_verdict_template(sample: Sequence[Merge], articles: Sequence[Counted], path: Path) -> None:
    """The sampled pairs as a verdicts file to fill in, keeping the verdicts already given."""
    known = read_verdicts(path)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(VERDICTS_HEADER)
        writer = csv.DictWriter(out, VERDICT_FIELDS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for number, merge in enumerate(sample, start=1):
            fields = pair_fields(merge, articles)
            old = known.get(tuple(fields[name] for name in VERDICT_FIELDS[1:6]), {})
            writer.writerow(
                {"pair": str(number), **fields, "verdict": old.get("verdict", ""), "why": old.get("why", "")}
            )


# --- the command -------------------------------------------------------------------------------------


def measure(options: argparse.Namespace) -> list[str]:
    settings = ConsumerSettings()
    loaded = load_sample(options, settings)
    table = loaded.table
    articles = []
    for article, entities in zip(loaded.articles, loaded.entities, strict=True):
        counted = article_entities(entities, settings.excluded_labels)
        articles.append(Counted(article, counted, alias_article(counted, table)))
    merges = merges_of(articles)
    sample = stratified_sample(merges, options.pairs, options.seed)
    if options.contexts:
        write_verdict_template(sample, articles, options.verdicts)
        print_contexts(sample, articles, settings.ner_model, settings.ner_chunk_chars)
        return []
    raw, aliased = count_views(articles)
    command = "python -m bench.aliases" + (f" --aliases-file {options.aliases_file}" if options.aliases_file else "")
    return [
        f"`{command}` over {len(articles):,} articles of {len(raw)} publications (`{options.data.name}`), "
        f"alias table `{table.version}`, NER model `{settings.ner_model}`.",
        "",
        "#### Rows merged",
        "",
        *rows_section(raw, aliased, merges, articles),
        f"#### Precision on {len(sample)} merges",
        "",
        f"A merge is one raw row of one article counted under another row. {len(sample)} of the "
        f"{len(merges):,} merges, drawn at random (seed {options.seed}) in equal numbers from each combination "
        f"of rules, each read in its article and judged by hand (`python -m bench.aliases --contexts` prints "
        f"them; the verdicts are in `bench/results/{options.verdicts.name}`). The overall precision weights each "
        f"stratum by its share of all merges; ± is its 95% interval (normal approximation).",
        "",
        *precision_section(sample, merges, articles, options.verdicts),
        f"#### Top {options.top} persons per publication",
        "",
        *top_persons_section(raw, aliased, options.top),
    ]


def write_docs(path: Path, lines: Sequence[str]) -> None:
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(DOCS_START) + ".*?" + re.escape(DOCS_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no {DOCS_START} ... {DOCS_END} markers: add them where the figures go")
    body = "\n".join([DOCS_START, "", *lines, DOCS_END])
    path.write_text(pattern.sub(lambda _: body, text), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    lines = measure(options)
    if options.docs is not None and lines:
        write_docs(options.docs, lines)
        print(f"wrote the figures into {options.docs}")
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
