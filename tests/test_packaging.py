"""The wheel (and so the image) carries only what the service runs: the packages common, producer and consumer,
the dashboard's files, and runtime dependencies without the dev tooling's (which are extras)."""

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
DEV_ONLY = {"aiohttp", "tqdm", "testcontainers", "httpx", "pytest", "matplotlib", "uv"}


@pytest.mark.slow
def test_the_wheel_holds_the_service_packages_only(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w"]
    result = subprocess.run([*build, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("newscounts-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        wheel_metadata = email.message_from_bytes(archive.read(metadata_name))
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"common", "producer", "consumer"}
    assert "producer/static/index.html" in names and "producer/static/app.js" in names
    requirements = [Requirement(text) for text in wheel_metadata.get_all("Requires-Dist") or []]
    runtime = {requirement.name for requirement in requirements if requirement.marker is None}
    assert runtime & DEV_ONLY == set(), "dev tooling among the runtime dependencies"
    assert {"confluent-kafka", "spacy", "fastapi", "uvicorn", "google-cloud-firestore"} <= runtime
    assert set(wheel_metadata.get_all("Provides-Extra") or []) == {"load", "test", "bench", "dev"}
