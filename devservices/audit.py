"""``python -m devservices.audit``: known vulnerabilities of the installed distributions, from PyPI.

``pip-audit`` asks PyPI's per-version JSON API (``/pypi/<name>/<version>/json``) or OSV, and neither is
reachable from the development machine. PyPI's per-project JSON API (``/pypi/<name>/json``) is: its
``vulnerabilities`` field lists the known vulnerabilities (from OSV) of the project's **latest** release.
So a distribution installed at its latest release is audited through that list; one installed at an older
release is reported as *not audited* (with the latest version): upgrade it, or audit where pip-audit works.
Exit code 1 when a vulnerability is found or a distribution could not be audited, else 0.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PYPI = "https://pypi.org/pypi"
SKIPPED = {"newscounts"}
"""This project itself (installed in editable mode, not on PyPI)."""


@dataclass
class Finding:
    name: str
    installed: str
    latest: str | None = None
    latest_requires_python: str | None = None
    vulnerabilities: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def audited(self) -> bool:
        return self.error is None and self.latest is not None and _same(self.installed, self.latest)


def _same(installed: str, latest: str) -> bool:
    try:
        return Version(installed) == Version(latest)
    except InvalidVersion:
        return installed == latest


def finding_from(name: str, installed: str, project: dict[str, Any]) -> Finding:
    """What PyPI's project document says about ``name`` at ``installed`` (pure: unit-tested)."""
    latest = str(project["info"]["version"])
    found = Finding(name, installed, latest, project["info"].get("requires_python") or None)
    if found.audited:
        found.vulnerabilities = [
            f"{vulnerability.get('id')} (fixed in {', '.join(vulnerability.get('fixed_in') or []) or 'no release'})"
            for vulnerability in project.get("vulnerabilities") or []
        ]
    return found


def _fetch(name: str, installed: str, timeout: float) -> Finding:
    try:
        with urllib.request.urlopen(f"{PYPI}/{name}/json", timeout=timeout) as response:
            return finding_from(name, installed, json.load(response))
    except (urllib.error.URLError, TimeoutError, ValueError, KeyError) as error:
        return Finding(name, installed, error=str(error))


def installed_distributions() -> dict[str, str]:
    """Canonical name -> version of every distribution in this environment (this project excluded)."""
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return {name: version for name, version in sorted(found.items()) if name not in SKIPPED}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per PyPI request")
    options = parser.parse_args()
    installed = installed_distributions()
    with ThreadPoolExecutor(16) as pool:
        findings = list(pool.map(lambda item: _fetch(item[0], item[1], options.timeout), installed.items()))
    vulnerable = [f for f in findings if f.vulnerabilities]
    unaudited = [f for f in findings if not f.audited]
    for finding in vulnerable:
        print(f"VULNERABLE  {finding.name} {finding.installed}: {'; '.join(finding.vulnerabilities)}")
    for finding in unaudited:
        reason = finding.error or f"installed {finding.installed}, latest {finding.latest}" + (
            f" (needs Python {finding.latest_requires_python})" if finding.latest_requires_python else ""
        )
        print(f"NOT AUDITED {finding.name}: {reason}")
    print(
        f"{len(findings)} distributions: {len(findings) - len(unaudited)} audited at their latest release "
        f"({len(vulnerable)} with known vulnerabilities), {len(unaudited)} not audited"
    )
    return 1 if vulnerable or unaudited else 0


if __name__ == "__main__":
    sys.exit(main())
