"""The load tool: sends articles from JSONL files to the HTTP service or straight to Kafka (dev and bench
tooling, not part of the service: nothing in ``common``, ``producer`` or ``consumer`` imports it)."""
