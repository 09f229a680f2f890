"""The gcloud Firestore emulator as a background service (``gcloud emulators firestore start``)."""

import urllib.error
import urllib.request
from dataclasses import dataclass

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
        return self._launch(command, lambda: emulator_answers(self.host, timeout=1.0), timeout)
