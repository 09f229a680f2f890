"""The dependency audit's reading of PyPI's project document (pure logic; the command itself talks to PyPI)."""

from typing import Any

from devservices.audit import finding_from


def project(latest: str, vulnerabilities: list[dict[str, Any]]) -> dict[str, Any]:
    return {"info": {"version": latest, "requires_python": ">=3.12"}, "vulnerabilities": vulnerabilities}


def test_a_distribution_at_the_latest_release_is_audited_with_its_vulnerabilities() -> None:
    found = finding_from("lib", "2.0", project("2.0.0", [{"id": "GHSA-1", "fixed_in": ["2.0.1"]}, {"id": "PYSEC-2"}]))
    assert found.audited
    assert found.vulnerabilities == ["GHSA-1 (fixed in 2.0.1)", "PYSEC-2 (fixed in no release)"]


def test_a_clean_latest_release_has_no_finding() -> None:
    found = finding_from("lib", "1.4", project("1.4", []))
    assert (found.audited, found.vulnerabilities) == (True, [])


def test_an_older_release_is_not_audited_since_the_list_is_about_the_latest_one() -> None:
    found = finding_from("lib", "1.3", project("1.4", [{"id": "GHSA-1", "fixed_in": ["1.4"]}]))
    assert (found.audited, found.latest, found.vulnerabilities) == (False, "1.4", [])
    assert found.latest_requires_python == ">=3.12"
