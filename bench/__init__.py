"""The benchmark suite: ``python -m bench`` (or ``make bench``); see docs/benchmarks.md.

Every figure is measured side by side in one run on one machine, so ratios hold on a noisy machine:
the raw spaCy limit, end to end (balanced and skewed mix), HTTP ingest next to raw Kafka produce,
sink writes against a naive design, freshness, and memory.
"""
