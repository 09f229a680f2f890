"""``python -m devservices status`` (``make status``): the running service's ``GET /status`` in a terminal."""

import sys
from typing import Any

from loadtool.wait import read_status

DEFAULT_URL = "http://127.0.0.1:8000"


def format_status(status: dict[str, Any]) -> str:
    """The summary line, then the rate, the per-partition lag and the health of Kafka and the sink."""
    rate = status["rate"]
    lines = [
        status["summary"],
        "  rate:    not known yet (it needs readings a few seconds apart)"
        if rate is None
        else f"  rate:    {rate:g} articles/s over the last {status['rate_seconds']:g}s",
        f"  topic:   {status['topic']} ({len(status['partitions'])} partitions), consumer group {status['group']}",
    ]
    if status["partitions"]:
        lags = " ".join(str(partition["lag"]) for partition in status["partitions"])
        lines.append(f"  lag:     {status['lag']} in all; per partition from 0: {lags}")
    lines += [f"  Kafka:   {status['kafka']}", f"  sink:    {status['sink']}"]
    return "\n".join(lines)


def print_status(url: str) -> int:
    try:
        status = read_status(url)
    except (OSError, ValueError) as error:
        print(f"error: GET {url}/status did not answer ({error}): is the stack running (`make run`)?", file=sys.stderr)
        return 1
    print(format_status(status))
    return 0
