"""``python -m bench.ner_pieces``: what reading long articles in overlapping pieces costs.

- Memory: the peak RSS of one fresh process (the model loaded as an NER process loads it) reading a 1 MB
  article, made of sample articles end to end, in pieces of ``NER_CHUNK_CHARS``, ``NER_BATCH_SIZE`` pieces per
  ``nlp.pipe`` batch as an NER process reads them; and, for contrast, of one reading a shorter such article
  whole (``--whole-chars``), which is what pieces avoid.
- CPU: the tokens spaCy reads in pieces against the tokens of the whole articles, on every sample article (the
  overlap is all of the extra work: a token costs the same wherever it is).
"""

import argparse
import itertools
import multiprocessing
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from bench.data import SAMPLE
from common.article import DEFAULT_MAX_ARTICLE_BYTES
from consumer.nlp import CONTEXT_CHARS, cut_points, load_ner, merged_per_text, plan_pieces
from consumer.settings import ConsumerSettings
from loadtool.load import read_articles

MB = 1024 * 1024


def _read(model: str, content: str, chunk_chars: int, batch: int, results: "multiprocessing.Queue[str]") -> None:
    nlp = load_ner(model)
    warm_up = ["Angela Merkel met Emmanuel Macron in Paris."]
    list(merged_per_text(nlp, warm_up, batch_size=batch, chunk_chars=chunk_chars))
    loaded = psutil.Process().memory_info().rss
    started, cpu = time.monotonic(), time.process_time()
    (merged,) = merged_per_text(nlp, [content], batch_size=batch, chunk_chars=chunk_chars)
    seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    results.put(
        f"{len(content):,} characters, {len(cut_points(content, chunk_chars)):,} cuts "
        f"({len(merged.inexact_cuts)} inexact), {len(merged.entities):,} entities: RSS {loaded / MB:.0f} MB "
        f"after loading the model, peak {peak / MB:.0f} MB; {seconds:.0f} s ({cpu_seconds:.0f} s of CPU)"
    )


def measure_memory(model: str, content: str, chunk_chars: int, batch: int) -> str:
    """One fresh process reads ``content`` in pieces of ``chunk_chars`` (a piece longer than it: read whole),
    ``batch`` pieces per ``nlp.pipe`` batch."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[str] = context.Queue()
    process = context.Process(target=_read, args=(model, content, chunk_chars, batch, results))
    process.start()
    line = results.get()
    process.join()
    return line


def overlap_cost(model: str, contents: Sequence[str], chunk_chars: int) -> str:
    """Tokens read in pieces against tokens of the whole contents (the tokenizer only: it is local)."""
    tokenizer = load_ner(model).tokenizer
    whole = [len(tokenizer(content)) for content in contents]
    read = [sum(len(tokenizer(piece.text)) for piece in plan_pieces(content, chunk_chars)) for content in contents]
    long = [index for index, content in enumerate(contents) if len(content) > chunk_chars]
    extra = sum(read) - sum(whole)
    long_tokens = sum(whole[index] for index in long)
    cuts = sum(len(cut_points(contents[index], chunk_chars)) for index in long)
    return (
        f"{len(contents):,} articles, {len(long)} over {chunk_chars:,} characters with {cuts} cuts: "
        f"{sum(whole):,} tokens, {sum(read):,} read in pieces: {100 * extra / sum(whole):.2f}% more "
        f"({100 * extra / long_tokens if long_tokens else 0:.2f}% more on the long articles)"
    )


def article_of(contents: Sequence[str], chars: int) -> str:
    """Sample contents end to end, a blank line between them, cut to ``chars`` characters."""
    parts: list[str] = []
    total = 0
    for content in itertools.cycle(contents):
        if total >= chars:
            break
        parts.append(content)
        total += len(content) + 2
    return "\n\n".join(parts)[:chars]


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.ner_pieces", description=(__doc__ or "").split("\n\n")[0])
    cli.add_argument("--data", type=Path, default=SAMPLE, help="Articles (JSONL[.gz]; default: %(default)s).")
    cli.add_argument("--chars", type=int, default=DEFAULT_MAX_ARTICLE_BYTES, help="The long article's length.")
    cli.add_argument("--whole-chars", type=int, default=100_000, help="The article read whole, for contrast.")
    options = cli.parse_args(argv)
    if not options.data.exists():
        cli.error(f"no articles at {options.data}: pass --data or set NEWSCOUNTS_SAMPLE_DATA")
    settings = ConsumerSettings(_env_file=None)
    contents = [article.record["content"] for article in read_articles([options.data]).articles]
    chunk_chars, batch = settings.ner_chunk_chars, settings.ner_batch_size
    print(
        f"NER_CHUNK_CHARS={chunk_chars}, context {CONTEXT_CHARS} characters each side of a cut, NER_BATCH_SIZE={batch}"
    )
    print("overlap:", overlap_cost(settings.ner_model, contents, chunk_chars))
    print("in pieces:", measure_memory(settings.ner_model, article_of(contents, options.chars), chunk_chars, batch))
    whole = article_of(contents, options.whole_chars)
    print("whole:", measure_memory(settings.ner_model, whole, len(whole), batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
