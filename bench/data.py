"""The articles the benchmarks send: by default ``NEWSCOUNTS_SAMPLE_DATA`` or the AllSides sample beside the
checkout, which the figures in docs/benchmarks.md were measured with (it may not be copied into the repository)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("NEWSCOUNTS_SAMPLE_DATA", REPO.parent / "shared/data/allsides-3k.jsonl.gz"))


def missing_articles(path: Path) -> str | None:
    """None when the articles file is there, else the error to print (what to pass instead)."""
    if path.is_file():
        return None
    return (
        f"error: no articles at {path}: pass --data with the AllSides sample (allsides-3k.jsonl.gz, which the "
        "figures in docs/benchmarks.md were measured with) or another JSONL file, e.g. demo/wikinews-cc-by.jsonl.gz"
    )
