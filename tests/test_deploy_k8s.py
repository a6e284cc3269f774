"""deploy/k8s, checked offline: every manifest against the Kubernetes schemas that
`kubernetes-validate` ships, and against the app itself (settings, routes, ports, commands).

No cluster and no kubectl: the kustomize overlay is applied here as far as this project uses it
(resources, one strategic-merge patch, a Secret generator, an image override), enough to check
that the overlay points at things that exist.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from backend.cli import build_parser
from backend.config import Settings
from tests.support.processes import PROJECT_ROOT
from tests.support.settings import setting_names

K8S = PROJECT_ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests are for (preStop `sleep`)
SERVERS = {"api": "todo-agent-api", "mcp": "todo-agent-mcp"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


@cache
def base_resources() -> tuple[tuple[str, dict[str, Any]], ...]:
    found = []
    for name in kustomization(BASE)["resources"]:
        for doc in documents(BASE / name):
            found.append((name, doc))
    return tuple(found)


def resource(kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        doc for _, doc in base_resources() if (doc["kind"], doc["metadata"]["name"]) == (kind, name)
    ]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Maps merge key by key (all this project's patches need)."""
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = strategic_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def served_paths(server: str) -> set[str]:
    settings = Settings(_env_file=None)
    if server == "api":
        from backend.main import create_app

        return set(create_app(settings).openapi()["paths"])
    from mcp_server.server import build_app

    return {route.path for route in build_app(settings).routes}


@pytest.mark.parametrize(
    "name, doc",
    base_resources(),
    ids=[f"{doc['kind']}/{doc['metadata']['name']}" for _, doc in base_resources()],
)
def test_every_base_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_production_overlay_builds_valid_manifests() -> None:
    overlay = kustomization(PRODUCTION)
    for name in overlay["resources"]:
        target = PRODUCTION / name
        assert target.exists(), name
        if target.is_file():
            for doc in documents(target):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    for patch in overlay["patches"]:
        (change,) = documents(PRODUCTION / patch["path"])
        merged = strategic_merge(resource(change["kind"], change["metadata"]["name"]), change)
        kubernetes_validate.validate(merged, KUBERNETES_VERSION, strict=True)
    images = {image["name"] for image in overlay["images"]}
    used = {
        container(doc)["image"].split(":")[0]
        for _, doc in base_resources()
        if doc["kind"] in ("Deployment",)
    }
    assert used == images


def test_the_overlay_secret_replaces_the_base_one_with_the_same_keys() -> None:
    (generator,) = kustomization(PRODUCTION)["secretGenerator"]
    assert (generator["name"], generator["behavior"]) == ("todo-agent", "replace")
    (env_file,) = generator["envs"]
    example = PRODUCTION / f"{env_file}.example"
    keys = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert keys == set(resource("Secret", "todo-agent")["stringData"])
    assert "deploy/k8s/**/secrets.env" in (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert not (PRODUCTION / env_file).exists() or "secrets.env" not in _tracked_files()


def _tracked_files() -> str:
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", str(K8S)], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    return listed.stdout.replace("secrets.env.example", "")


def test_every_variable_named_is_a_setting() -> None:
    named = set(resource("ConfigMap", "todo-agent")["data"])
    named |= set(resource("Secret", "todo-agent")["stringData"])
    for _, doc in base_resources():
        if doc["kind"] in ("Deployment", "Job"):
            named |= {env["name"] for env in container(doc).get("env", [])}
    unknown = named - setting_names()
    assert not unknown, f"the manifests set variables the app does not read: {unknown}"


def test_the_base_secret_is_a_placeholder_the_app_refuses() -> None:
    from backend.config import ConfigError, resolve_secret

    secret = resource("Secret", "todo-agent")["stringData"]
    config = resource("ConfigMap", "todo-agent")["data"]
    settings = Settings(
        _env_file=None,
        environment=config["ENVIRONMENT"],
        better_auth_secret=secret["BETTER_AUTH_SECRET"],
    )
    with pytest.raises(ConfigError):
        resolve_secret(settings)


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_each_server_runs_its_command_on_its_declared_port(server: str) -> None:
    deployment = resource("Deployment", SERVERS[server])
    spec = container(deployment)
    program, *arguments = spec["command"]
    parsed = build_parser().parse_args(arguments)
    assert (program, parsed.command, parsed.host) == ("todo-agent", server, "0.0.0.0")
    (port,) = spec["ports"]
    assert port["containerPort"] == parsed.port
    service = resource("Service", SERVERS[server])
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in (port["name"], port["containerPort"])
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert {
        source.get("configMapRef", source.get("secretRef"))["name"] for source in spec["envFrom"]
    } == {"todo-agent"}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_probes_use_routes_the_server_serves(server: str) -> None:
    spec = container(resource("Deployment", SERVERS[server]))
    paths = served_paths(server)
    assert spec["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/health"
    (port,) = spec["ports"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        check = spec[probe]["httpGet"]
        assert check["path"] in paths, (probe, check["path"], paths)
        assert check["port"] in (port["name"], port["containerPort"])


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_each_server_has_an_autoscaler_and_a_disruption_budget(server: str) -> None:
    name = SERVERS[server]
    deployment = resource("Deployment", name)
    hpa = resource("HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert (
        hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    )
    pdb = resource("PodDisruptionBudget", name)
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can proceed
    resources = container(deployment)["resources"]
    assert resources["requests"]["cpu"]  # the HPA's utilisation is relative to the request
    assert resources["limits"]["memory"]
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_the_api_finds_the_mcp_service_and_the_mcp_server_accepts_that_host() -> None:
    config = resource("ConfigMap", "todo-agent")["data"]
    url = urlsplit(config["MCP_SERVER_URL"])
    (mcp_port,) = resource("Service", SERVERS["mcp"])["spec"]["ports"]
    assert (url.hostname, url.port, url.path) == (SERVERS["mcp"], mcp_port["port"], "/mcp")
    allowed = Settings(_env_file=None, mcp_allowed_hosts=config["MCP_ALLOWED_HOSTS"])
    assert url.hostname in allowed.mcp_allowed_hosts
    assert f"{url.hostname}:*" in allowed.mcp_allowed_hosts


def test_the_migration_job_runs_migrate_with_the_servers_image_and_settings() -> None:
    job = resource("Job", "todo-agent-migrate")
    spec = job["spec"]["template"]["spec"]["containers"][0]
    program, *arguments = spec["command"]
    assert program == "todo-agent" and build_parser().parse_args(arguments).command == "migrate"
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    for server in SERVERS.values():
        deployment = container(resource("Deployment", server))
        assert deployment["image"] == spec["image"]
        assert deployment["envFrom"] == spec["envFrom"]


def test_pods_run_as_the_images_unprivileged_user() -> None:
    uid = re.search(r"useradd [^\n]*--uid (\d+)", (PROJECT_ROOT / "Dockerfile").read_text())
    assert uid
    for _, doc in base_resources():
        if doc["kind"] in ("Deployment", "Job"):
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] == int(uid[1])
            assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
