"""The gcloud Firestore emulator as a background service (``gcloud emulators firestore start``).

The emulator keeps its data in memory. ``make run FIRESTORE=1`` keeps it between runs: at a clean stop the stack
exports the project (the emulator's export endpoint, while nothing writes any more) into ``kept_data``, and the
next start imports that export (``--import-data``). The emulator's own ``--export-on-exit`` is not used: it
exported nothing when its process was stopped with SIGTERM here.
"""

import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devservices.prereqs import require
from devservices.process import port_open
from devservices.service import BackgroundService


def emulator_answers(host: str, timeout: float = 2.0) -> bool:
    """True when a Firestore emulator at ``host`` (``127.0.0.1:8681``) answers its root URL with "Ok"."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def clear_emulator(host: str, project: str) -> None:
    """Delete every document of ``project`` in the emulator (its documented reset endpoint)."""
    request = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@dataclass(frozen=True)
class FirestoreEmulator(BackgroundService):
    """One local emulator process on 127.0.0.1:``port``."""

    title = "the Firestore emulator"
    stop_command = "python -m devservices firestore stop"
    name: str = "firestore"
    port: int = 8681
    kept_data: Path | None = None
    """Where :meth:`keep_data` exports to and :meth:`start` imports from; None: start empty, keep nothing."""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> int:
        """Start the emulator in the background and wait until it answers."""
        self._refuse_second_start(self.host)
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use by another program; choose another (--port)")
        gcloud = require("gcloud")
        command = [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet"]
        if kept := self.kept_export():
            command.append(f"--import-data={kept}")
        return self._launch(command, lambda: emulator_answers(self.host, timeout=1.0), timeout)

    def kept_export(self) -> Path | None:
        """The metadata file of the data kept at the last stop, if any."""
        if self.kept_data is None:
            return None
        return next(iter(sorted(self.kept_data.glob("*/*.overall_export_metadata"))), None)

    def keep_data(self, project: str, database: str = "(default)") -> None:
        """Export ``project`` into :attr:`kept_data`, replacing what was kept (call while nothing writes)."""
        if self.kept_data is None:
            raise ValueError("this emulator keeps no data (kept_data is None)")
        fresh = self.kept_data.with_name(self.kept_data.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        body = {"database": f"projects/{project}/databases/{database}", "export_directory": str(fresh)}
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}:export",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        shutil.rmtree(self.kept_data, ignore_errors=True)
        fresh.rename(self.kept_data)
