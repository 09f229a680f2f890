"""The machine a run measured: cores, memory, CPU model and load, printed and stored with the figures."""

import os
import platform
import sys
from pathlib import Path
from typing import Any

import psutil


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (``platform.processor()`` is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict[str, Any]:
    """Cores, memory, CPU model, OS, Python and the 1-minute load average at the time of the call."""
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
