"""Where the local services keep their jars, data, logs and pid files."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """``NEWSCOUNTS_CACHE_DIR``, else ``.cache/`` in the checkout (git-ignored), else ``~/.cache/newscounts``."""
    if configured := os.environ.get("NEWSCOUNTS_CACHE_DIR"):
        return Path(configured)
    if (REPO / "pyproject.toml").exists():
        return REPO / ".cache"
    return Path.home() / ".cache" / "newscounts"


def state_dir() -> Path:
    """Pid and state files of running services."""
    path = cache_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    """Log files the user can read: ``kafka.log``, ``firestore.log``, ``producer.log``, ``consumer.log``."""
    path = cache_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def api_key_file() -> Path:
    """The local API key that ``make run`` creates once and ``make demo`` sends."""
    return cache_dir() / "run" / "api-key"


def firestore_kept_dir() -> Path:
    """Where ``make run FIRESTORE=1`` keeps the emulator's data between runs (an emulator export)."""
    return cache_dir() / "firestore" / "kept"
