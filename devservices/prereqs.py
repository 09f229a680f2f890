"""One-line messages for missing prerequisites, naming what is missing and how to get it."""

import re
import shutil
import subprocess


class MissingPrerequisite(RuntimeError):
    """A tool the local services need is not installed; the message says how to get it."""


_HOW_TO_GET = {
    "java": "Java 17 or newer is required for the local Kafka broker: install a JDK (e.g. `apt-get install "
    "openjdk-17-jre-headless`) or set JAVA_HOME / PATH to one",
    "mvn": "Maven is required to fetch the Kafka broker jars from Maven Central: install it (e.g. `apt-get "
    "install maven`)",
    "gcloud": "The gcloud CLI with the Firestore emulator is required for SINK=firestore locally: install the "
    "Google Cloud CLI and run `gcloud components install cloud-firestore-emulator` (or use SINK=sqlite)",
}


def require(tool: str) -> str:
    """The tool's path, or :class:`MissingPrerequisite` with a one-line explanation."""
    path = shutil.which(tool)
    if path is None:
        raise MissingPrerequisite(f"{tool} not found on PATH. {_HOW_TO_GET[tool]}.")
    return path


def require_java(minimum: int = 17) -> str:
    """The java executable, checking its major version (Kafka 4 needs 17+)."""
    java = require("java")
    output = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match:
        major = int(match.group(1)) if match.group(1) != "1" else int(match.group(2) or 0)
        if major < minimum:
            raise MissingPrerequisite(
                f"java {major} found at {java}, but Kafka 4 needs Java {minimum} or newer. {_HOW_TO_GET['java']}."
            )
    return java
