"""The dependencies whose private internals the code uses are within the version range tested (pyproject.toml
bounds it), and those internals are still there: a new release fails here, naming the package, the range and
the attribute, instead of failing in production.

The Firestore sink reads query results and builds commit writes through private helpers of
google-cloud-firestore (common/sinks/firestore.py, for speed); the HTTP service subclasses uvicorn's httptools
protocol (producer/http_protocol.py). To move to a new version: check these attributes there, run the suite
(the sink contract and HTTP tests exercise them), then widen the range in pyproject.toml and `make lock`.
"""

import inspect
import tomllib
from importlib import import_module, metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]

PRIVATE_USES: dict[str, dict[str, list[str] | None]] = {
    # attribute ("module:Class.attribute") -> the leading parameters the code passes, or None for a property
    "google-cloud-firestore": {
        "google.cloud.firestore_v1.query:Query._get_stream_iterator": ["self", "transaction", "retry", "timeout"],
        "google.cloud.firestore_v1.base_batch:BaseWriteBatch._add_write_pbs": ["self", "write_pbs"],
        "google.cloud.firestore_v1.base_document:BaseDocumentReference._document_path": None,
    },
    "uvicorn": {
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.__init__": ["self"],
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.data_received": ["self", "data"],
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_message_begin": ["self"],
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_headers_complete": ["self"],
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.send_400_response": ["self", "msg"],
    },
}


def private_names(package: str) -> str:
    return ", ".join(attribute.split(":")[1] for attribute in PRIVATE_USES[package])


def range_in_pyproject(package: str) -> Requirement:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = [Requirement(text) for text in dependencies if Requirement(text).name == package]
    return requirement


@pytest.mark.parametrize("package", sorted(PRIVATE_USES))
def test_the_installed_version_is_in_the_range_in_pyproject(package: str) -> None:
    requirement = range_in_pyproject(package)
    assert any(spec.operator in ("<", "<=", "==") for spec in requirement.specifier), (
        f"{package}: pyproject.toml must bound it from above ({requirement}): the code uses its private "
        f"{private_names(package)}"
    )
    installed = metadata.version(package)
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{package} {installed} is installed, outside the range tested ({requirement.specifier}, pyproject.toml). "
        f"The code uses its private {private_names(package)}: check them in {installed}, run the tests, "
        "then widen the range and `make lock`."
    )


@pytest.mark.parametrize(
    ("package", "attribute"), [(package, attribute) for package, uses in PRIVATE_USES.items() for attribute in uses]
)
def test_the_private_attributes_the_code_uses_are_still_there(package: str, attribute: str) -> None:
    module_name, path = attribute.split(":")
    class_name, name = path.split(".")
    where = f"{package} {metadata.version(package)} (tested range {range_in_pyproject(package).specifier})"
    owner = getattr(import_module(module_name), class_name, None)
    assert owner is not None and hasattr(owner, name), f"{where} has no {module_name}.{path}, which the code uses"
    found = inspect.getattr_static(owner, name)  # the function or property itself, not bound
    expected = PRIVATE_USES[package][attribute]
    if expected is None:
        assert isinstance(found, property), f"{where}: {module_name}.{path} is no longer a property"
    else:
        parameters = list(inspect.signature(found).parameters)
        assert parameters[: len(expected)] == expected, (
            f"{where}: {module_name}.{path} now takes ({', '.join(parameters)}), the code passes "
            f"({', '.join(expected)})"
        )


def test_a_write_batch_still_keeps_its_writes_in_write_pbs() -> None:
    """common/sinks/firestore.py sums the size of ``batch._write_pbs`` before a commit (an instance attribute)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    client = firestore.Client(project="newscounts-check", credentials=AnonymousCredentials())
    try:
        batch = client.batch()
        batch.set(client.collection("c").document("d"), {"x": 1})
        where = f"google-cloud-firestore {metadata.version('google-cloud-firestore')}"
        assert len(getattr(batch, "_write_pbs", [])) == 1, f"{where}: WriteBatch._write_pbs no longer holds the writes"
    finally:
        client.close()
