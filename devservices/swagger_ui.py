"""Vendor Swagger UI for the API docs page: ``python -m devservices.swagger_ui``.

The service serves Swagger UI from its own static files (``producer/static/swagger-ui/``), so ``/docs`` works
offline and under a Content-Security-Policy that allows no other origin. This fetches the npm package
``swagger-ui-dist`` at :data:`VERSION` with npm (``npm pack``), refuses it unless its sha512 is
:data:`INTEGRITY` (the registry's ``dist.integrity`` of that release), and copies the files the page needs,
unchanged, with the licences; ``manifest.json`` records each file's sha256 (a test checks the copies against
it). To move to another release, change VERSION and INTEGRITY (``npm view swagger-ui-dist@X dist.integrity``)
and run this again.

Why npm's package and not a PyPI one: Swagger UI 5 is needed for OpenAPI 3.1 (what FastAPI writes), and
the PyPI package ``swagger-ui-bundle`` ships Swagger UI 4.15.
"""

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from devservices.paths import REPO

PACKAGE = "swagger-ui-dist"
VERSION = "5.35.0"
INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")
"""The page loads the first two; the others are the licences that must travel with them."""
TARGET = REPO / "producer" / "static" / "swagger-ui"
MANIFEST = "manifest.json"


def sri(data: bytes) -> str:
    """The npm ``integrity`` form of ``data``: ``sha512-`` and the base64 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch_package(folder: Path) -> Path:
    """The package's tarball, fetched into ``folder`` by npm; exits with a message when npm fails."""
    if shutil.which("npm") is None:
        sys.exit("error: npm not found on PATH: install Node.js and npm (e.g. `apt-get install npm`)")
    done = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"error: npm pack {PACKAGE}@{VERSION} failed:\n{done.stderr.strip()}")
    [packed] = json.loads(done.stdout)
    return folder / str(packed["filename"])


def vendor(tarball: Path, target: Path) -> dict[str, str]:
    """Copy :data:`FILES` out of ``tarball`` (checked against :data:`INTEGRITY`) into ``target``."""
    found = sri(tarball.read_bytes())
    if found != INTEGRITY:
        sys.exit(f"error: {tarball.name} has integrity {found}, expected {INTEGRITY}: not vendored")
    target.mkdir(parents=True, exist_ok=True)
    hashes = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for name in FILES:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                sys.exit(f"error: {tarball.name} has no file package/{name}")
            data = member.read()
            (target / name).write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()
    manifest = {"package": PACKAGE, "version": VERSION, "integrity": INTEGRITY, "sha256": hashes}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return hashes


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="newscounts-swagger-ui-") as folder:
        hashes = vendor(fetch_package(Path(folder)), TARGET)
    for name, digest in hashes.items():
        print(f"{digest}  {(TARGET / name).relative_to(REPO)}")
    print(f"vendored {PACKAGE} {VERSION} into {TARGET.relative_to(REPO)}")


if __name__ == "__main__":
    main()
