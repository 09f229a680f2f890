"""``--wait``: after sending, follow the service's ``GET /status`` with a second progress bar until the consumer
group has counted every article that was accepted.

An article is counted once the committed offset of its partition (as ``/status`` reports it) has passed the
article's offset: the consumer group commits only after the counts are in the sink. An article sent again with
an id already counted passes the same way (it is processed, and not counted twice).
"""

import json
import time
import urllib.error
import urllib.request
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

POLL_SECONDS = 1.0
"""How often ``/status`` is read while waiting."""
STALL_SECONDS = 60.0
"""Without progress for this long, the user is told what may be wrong (the wait goes on)."""


def by_partition(positions: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    """(partition, offset) pairs -> the sorted offsets of each partition."""
    offsets: dict[int, list[int]] = {}
    for partition, offset in positions:
        offsets.setdefault(partition, []).append(offset)
    return {partition: sorted(found) for partition, found in offsets.items()}


def counted(sent: dict[int, list[int]], committed: dict[int, int | None]) -> int:
    """How many sent offsets lie below their partition's committed offset (None: nothing committed yet)."""
    return sum(bisect_left(offsets, committed.get(partition) or 0) for partition, offsets in sent.items())


def committed_offsets(status: dict[str, Any]) -> dict[int, int | None]:
    """The committed offset per partition in a ``GET /status`` answer."""
    return {int(item["partition"]): item["committed"] for item in status.get("partitions", [])}


def read_status(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """``GET {url}/status`` as JSON; raises OSError (unreachable) or ValueError (not the service's answer)."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=timeout) as response:
        answer = json.loads(response.read())
    if not isinstance(answer, dict) or "partitions" not in answer:
        raise ValueError(f"{url}/status did not answer a newscounts status: {str(answer)[:200]}")
    return answer


@dataclass(frozen=True)
class Counting:
    """How the wait ended: articles counted of those sent, seconds since sending started."""

    counted: int
    total: int
    elapsed: float

    @property
    def complete(self) -> bool:
        return self.counted == self.total

    @property
    def rate(self) -> float:
        """Articles counted per second, from the start of sending until the last was counted."""
        return self.counted / self.elapsed if self.elapsed > 0 else 0.0


def wait_until_counted(
    url: str,
    positions: list[tuple[int, int]],
    started: float,
    *,
    progress: bool,
    timeout: float | None = None,
    read: Callable[[str], dict[str, Any]] = read_status,
) -> Counting:
    """Poll ``/status`` every :data:`POLL_SECONDS` until every (partition, offset) in ``positions`` is counted,
    ``timeout`` seconds passed or Ctrl-C. ``started`` is when sending began (``time.monotonic()``)."""
    sent = by_partition(positions)
    total = len(positions)
    bar = tqdm(total=total, unit="art", desc="counted", disable=not progress, dynamic_ncols=True, smoothing=0.1)
    done = 0
    last_progress = time.monotonic()
    warned = False
    try:
        while done < total:
            try:
                now_done = counted(sent, committed_offsets(read(url)))
            except (OSError, ValueError) as error:
                bar.set_postfix_str(f"GET /status failed: {error}", refresh=True)
            else:
                if now_done > done:
                    bar.update(now_done - done)
                    done, last_progress = now_done, time.monotonic()
            if done == total or (timeout is not None and time.monotonic() - started > timeout):
                break
            if not warned and time.monotonic() - last_progress > STALL_SECONDS:
                bar.write(
                    f"Nothing counted for {STALL_SECONDS:.0f}s: is the consumer group running (`make run`, "
                    f"or `python -m consumer`)? Still waiting; Ctrl-C stops waiting (the articles stay sent)."
                )
                warned = True
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        bar.write("Stopped waiting (Ctrl-C); the articles are sent and will be counted.")
    finally:
        bar.close()
    return Counting(done, total, time.monotonic() - started)


def format_counting(counting: Counting, send_rate: float) -> str:
    """The lines printed after the wait: what was counted, and both rates."""
    seconds = f"{counting.elapsed:.1f}s"
    if counting.complete:
        head = f"Counted:   {counting.counted} articles, all counted {seconds} after sending started"
    else:
        head = f"Counted:   {counting.counted} of {counting.total} articles after {seconds} (stopped waiting)"
    return f"{head}\nRates:     sent {send_rate:.1f} articles/s, counted {counting.rate:.1f} articles/s"
