"""Turns one version of a CustomResourceDefinition into the JSON Schema the manifest tests validate against.

    python k8s/tools/crd_schema.py CRD.yaml VERSION > k8s/schemas/KIND_VERSION.json

The same conversion as the Datree CRDs catalog (k8s/schemas/SOURCE.md): the version's ``openAPIV3Schema``,
with ``"additionalProperties": false`` on every object that declares properties and does not preserve unknown
fields (the API server's strict field validation), the descriptions removed (they are most of the size), and
Go's ``^(?i)...$`` patterns written as ``^(?i:...)$`` for Python's ``re``.
"""

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def python_pattern(pattern: str) -> str:
    """Go's leading ``(?i)`` flag, which Python's ``re`` accepts only at the very start, as a scoped group."""
    if pattern.startswith("^(?i)") and pattern.endswith("$"):
        return f"^(?i:{pattern[len('^(?i)') : -1]})$"
    return pattern


def strict(node: Any) -> Any:
    """A copy of ``node`` without descriptions, its declared objects closed to unknown fields."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: strict(value) for key, value in node.items() if key != "description"}
    if isinstance(converted.get("pattern"), str):
        converted["pattern"] = python_pattern(converted["pattern"])
    if (
        "properties" in converted
        and "additionalProperties" not in converted
        and not converted.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    return converted


def crd_schema(crd: dict[str, Any], version: str) -> dict[str, Any]:
    (served,) = [entry for entry in crd["spec"]["versions"] if entry["name"] == version]
    schema: dict[str, Any] = strict(served["schema"]["openAPIV3Schema"])
    return schema


if __name__ == "__main__":
    path, version = sys.argv[1:3]
    print(json.dumps(crd_schema(yaml.safe_load(Path(path).read_text()), version), indent=1, sort_keys=True))
