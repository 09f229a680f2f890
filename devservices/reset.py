"""``python -m devservices reset`` (``make reset``): forget everything the local pipeline kept between runs.

That is the local broker's data (the topics with their records and the consumer group's committed offsets),
the SQLite file, the Firestore emulator's kept data and the local API key. It lists exactly what it will delete
and asks first (``--yes`` skips the question); it refuses while anything still runs (``make stop`` first).
"""

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.settings import CommonSettings
from devservices.firestore import FirestoreEmulator
from devservices.kafka import KafkaBroker
from devservices.paths import api_key_file, firestore_kept_dir
from devservices.stack import stack_pid


@dataclass(frozen=True)
class Kept:
    """One thing to delete: what it is, and where."""

    what: str
    path: Path

    def size(self) -> int:
        if self.path.is_dir():
            return sum(item.stat().st_size for item in self.path.rglob("*") if item.is_file())
        return self.path.stat().st_size


def amount(size: int) -> str:
    """``512 bytes``, ``34 kB``, ``2.1 MB``."""
    if size < 1000:
        return f"{size} bytes"
    return f"{size / 1000:.0f} kB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"


def kept_state() -> list[Kept]:
    """What the local pipeline keeps between runs and exists now, in the order it is listed."""
    sqlite = CommonSettings(_env_file=None).sqlite_path.absolute()  # the services run in this folder too
    candidates = [
        Kept("Kafka broker data (topics, records, committed offsets)", KafkaBroker().home),
        *(Kept("SQLite counts", sqlite.with_name(sqlite.name + suffix)) for suffix in ("", "-wal", "-shm", "-journal")),
        Kept("Firestore emulator data", firestore_kept_dir()),
        Kept("local API key", api_key_file()),
    ]
    return [item for item in candidates if item.path.exists()]


def running() -> list[str]:
    services = [("the stack (make run)", stack_pid()), ("Kafka", KafkaBroker().running_pid())]
    services.append(("the Firestore emulator", FirestoreEmulator().running_pid()))
    return [name for name, pid in services if pid]


def reset(*, yes: bool, ask: Callable[[str], str] | None = None) -> int:
    """List what is kept, ask (``ask``, default: the terminal), delete; 0 when deleted or nothing was kept."""
    if still := running():
        print(f"error: still running: {', '.join(still)}. Stop it first (`make stop`).", file=sys.stderr)
        return 1
    items = kept_state()
    if not items:
        print("Nothing to delete: no topic data, SQLite file, Firestore emulator data or API key is kept.")
        return 0
    print("make reset deletes:")
    for item in items:
        print(f"  {item.what:56} {item.path}  ({amount(item.size())})")
    if not yes:
        if ask is None and not sys.stdin.isatty():
            print("error: no terminal to ask in: run `make reset YES=1` to delete them.", file=sys.stderr)
            return 1
        if (ask or input)("Delete them? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    for item in items:
        if item.path.is_dir():
            shutil.rmtree(item.path)
        else:
            item.path.unlink()
    print(
        "Deleted. The next `make run` starts with empty topics, no counts and a new API key "
        "(the Kafka jars in .cache/kafka/jars are kept)."
    )
    return 0
