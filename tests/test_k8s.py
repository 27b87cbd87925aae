"""deploy/k8s is valid Kubernetes, and gives each service what its code reads.

No cluster and no kustomize binary (PyPI has no build of the Kubernetes
project's tool, and this project installs only from PyPI): the base and the
overlay are rendered here by `render`, which does the part of `kustomize
build` they use, and no more: `resources` (files and folders), `patches`
(strategic merge, by the object they name or by `target` kind; lists merged
by Kubernetes' merge keys), `labels`, `namespace`, `images`, `replicas` and
`secretGenerator` (files only, no name suffix; a file that is not there, as
the signing keys never are in git, is a stand-in). Every object is then
validated offline against the Kubernetes JSON schemas that the
`kubernetes-validate` package bundles (strict: an unknown field fails). The
operator's kinds (CloudNativePG) have no schema there; the checks below test
what Shippy relies on in them.

Each service's environment is read from its Deployment as the kubelet makes
it (envFrom, env with `valueFrom` and `$(NAME)` references) and run through
the service's own configuration readers (devstack.service_env, as
tests/test_compose_env.py does for compose).
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from devstack.service_env import start_error, variables_read

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE, OVERLAY = K8S / "base", K8S / "overlays" / "example"
NATS_VALUES = K8S / "nats-values.yaml"
SERVICES = ["consignment-service", "email-service", "user-service", "vessel-service"]
OPERATOR_KINDS = {("postgresql.cnpg.io/v1", "Cluster"), ("postgresql.cnpg.io/v1", "Database")}
"""CloudNativePG's: validated by its operator, and checked by the tests below."""
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
}
"""The strategic-merge keys of the lists the patches touch (other lists are replaced)."""
REFERENCE = re.compile(r"\$\((\w+)\)")
Object = dict[str, Any]


def render(directory: Path) -> list[Object]:
    """The objects `kustomize build directory` makes, for what deploy/k8s uses."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[Object] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += render(path) if path.is_dir() else list(_documents(path))
    objects += [_secret(directory, spec) for spec in kustomization.get("secretGenerator", [])]
    for patch in kustomization.get("patches", []):
        body = yaml.safe_load((directory / patch["path"]).read_text())
        target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
        body = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")}
        chosen = [o for o in objects if _is_target(o, target)]
        assert chosen, f"{directory}: patch {patch['path']} matches nothing"
        for obj in chosen:
            obj.update(merge(obj, body))
    for label in kustomization.get("labels", []):
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    for obj in objects:
        if "namespace" in kustomization:
            obj["metadata"]["namespace"] = kustomization["namespace"]
        for image in kustomization.get("images", []):
            _retag(obj, image)
        for replicas in kustomization.get("replicas", []):
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == replicas["name"]:
                obj["spec"]["replicas"] = replicas["count"]
    return objects


def merge(original: Any, patch: Any, key: str = "") -> Any:
    """A strategic merge of `patch` into `original` (a copy)."""
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = dict(original)
        for name, value in patch.items():
            merged[name] = merge(original[name], value, name) if name in original else value
        return merged
    if isinstance(original, list) and isinstance(patch, list) and key in MERGE_KEYS:
        by = MERGE_KEYS[key]
        merged_list = list(original)
        for item in patch:
            index = next((i for i, o in enumerate(merged_list) if o[by] == item[by]), None)
            if index is None:
                merged_list.append(item)
            else:
                merged_list[index] = merge(merged_list[index], item)
        return merged_list
    return copy.deepcopy(patch)


def _secret(directory: Path, spec: Mapping[str, Any]) -> Object:
    assert spec.get("options", {}).get("disableNameSuffixHash"), "name suffixes are not rendered"
    data = {}
    for entry in spec["files"]:
        key, _, file = entry.rpartition("=")
        path = directory / file
        content = path.read_bytes() if path.exists() else b"stand-in for " + file.encode()
        data[key or path.name] = base64.b64encode(content).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec["name"]},
        "type": "Opaque",
        "data": data,
    }


def _documents(path: Path) -> Iterator[Object]:
    yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def _is_target(obj: Object, target: Mapping[str, str]) -> bool:
    name: str = obj["metadata"]["name"]
    return obj["kind"] == target["kind"] and target.get("name", name) == name


def _retag(obj: Object, image: Mapping[str, str]) -> None:
    if obj["kind"] != "Deployment":
        return
    for container in obj["spec"]["template"]["spec"]["containers"]:
        name, _, _ = container["image"].partition(":")
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


RENDERED = {"base": render(BASE), "overlay": render(OVERLAY)}


def find(objects: list[Object], kind: str, name: str) -> Object:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(objects: list[Object], service: str) -> Object:
    pod: Object = find(objects, "Deployment", service)["spec"]["template"]["spec"]
    containers: list[Object] = pod["containers"]
    [only] = containers
    return only


def environment(objects: list[Object], service: str) -> tuple[dict[str, str], set[str]]:
    """The environment the kubelet gives `service`'s container, and the names
    that are only there to be referenced as `$(NAME)` by another variable."""
    spec = container(objects, service)
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env |= find(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in spec.get("env", []):
        if "value" in variable:
            env[variable["name"]] = REFERENCE.sub(lambda m: env[m[1]], variable["value"])
        else:
            env[variable["name"]] = _value_from(objects, variable["valueFrom"])
    plumbing = {
        name
        for variable in spec.get("env", [])
        for name in REFERENCE.findall(variable.get("value", ""))
    }
    return env, plumbing


def _value_from(objects: list[Object], source: Mapping[str, Any]) -> str:
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return str(find(objects, "ConfigMap", ref["name"])["data"][ref["key"]])
    if "secretKeyRef" in source:
        return "s3cret"  # made by the operator (CloudNativePG's app secret)
    if "fieldRef" in source:
        return "10.1.2.3"  # status.podIP
    raise AssertionError(f"unexpected valueFrom {source}")


@pytest.mark.parametrize("variant", RENDERED)
def test_every_manifest_is_valid_kubernetes(variant: str) -> None:
    invalid = []
    for obj in RENDERED[variant]:
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as error:
            invalid.append(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")

    assert invalid == []


def test_an_invalid_manifest_would_be_found() -> None:
    """The control for the test above: a misspelt field fails strict validation."""
    broken = copy.deepcopy(find(RENDERED["base"], "Deployment", "user-service"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_the_base_runs_the_four_services_with_a_budget_each() -> None:
    objects = RENDERED["base"]

    deployments = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment")
    budgets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PodDisruptionBudget"}

    assert deployments == SERVICES
    for service in SERVICES:
        labels = find(objects, "Deployment", service)["spec"]["template"]["metadata"]["labels"]
        assert budgets[service]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert find(objects, "Deployment", service)["spec"]["replicas"] >= 2, (
            "one replica and a budget of one would block every node drain"
        )


@pytest.mark.parametrize("variant", RENDERED)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_every_variable_it_requires(variant: str, service: str) -> None:
    env, _ = environment(RENDERED[variant], service)

    assert start_error(service, env) is None, f"{service} would not start on Kubernetes"


@pytest.mark.parametrize("variant", RENDERED)
@pytest.mark.parametrize("service", SERVICES)
def test_no_variable_is_set_that_the_service_never_reads(variant: str, service: str) -> None:
    env, plumbing = environment(RENDERED[variant], service)

    never_read = set(env) - plumbing - variables_read(service, env)

    assert never_read == set(), f"deploy/k8s sets them for {service}, which never reads them"


def test_a_variable_left_out_would_be_found() -> None:
    """The control for the two tests above."""
    env, plumbing = environment(RENDERED["base"], "user-service")
    without_key = {k: v for k, v in env.items() if k != "JWT_PRIVATE_KEY_FILE"}
    with_smtp = {**env, "SMTP_HOST": "smtp.example.com"}

    assert "JWT_PRIVATE_KEY_FILE" in (start_error("user-service", without_key) or "")
    assert set(with_smtp) - plumbing - variables_read("user-service", with_smtp) == {"SMTP_HOST"}


@pytest.mark.parametrize("service", SERVICES)
def test_pods_run_as_the_images_user_and_are_probed_over_grpc_health(service: str) -> None:
    objects = RENDERED["overlay"]
    pod = find(objects, "Deployment", service)["spec"]["template"]["spec"]
    spec = container(objects, service)
    env, _ = environment(objects, service)
    port = int(env["MICRO_SERVER_ADDRESS"].rpartition(":")[2])

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # docker/service.Dockerfile's user
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert spec[probe]["grpc"]["port"] == port, f"{probe} asks another port than it serves"
    assert spec["resources"]["requests"]
    assert spec["resources"]["limits"]["memory"]
    assert env["MICRO_SERVER_ADVERTISE"] == f"10.1.2.3:{port}", "register the pod's own address"


def test_only_user_service_is_given_the_signing_key() -> None:
    objects = RENDERED["overlay"]

    def key_files(service: str) -> set[str]:
        volumes = find(objects, "Deployment", service)["spec"]["template"]["spec"]["volumes"]
        [keys] = [v["secret"] for v in volumes if v.get("secret", {}).get("secretName")]
        return {item["path"] for item in keys["items"]} if "items" in keys else {"*"}

    assert key_files("user-service") == {"*"}
    for service in ("consignment-service", "vessel-service"):
        assert key_files(service) == {"jwt-public.json"}


@pytest.mark.parametrize("service", ["user-service", "consignment-service", "vessel-service"])
def test_the_key_files_a_service_is_given_are_in_the_secret_it_mounts(service: str) -> None:
    objects = RENDERED["overlay"]
    pod = find(objects, "Deployment", service)["spec"]["template"]["spec"]
    env, _ = environment(objects, service)
    [(volume, mount)] = [
        (v, m)
        for v in pod["volumes"]
        if "secret" in v
        for m in container(objects, service)["volumeMounts"]
        if m["name"] == v["name"]
    ]
    secret = find(objects, "Secret", volume["secret"]["secretName"])
    files = {
        f"{mount['mountPath']}/{item['path']}": item["key"]
        for item in volume["secret"].get("items", [{"key": k, "path": k} for k in secret["data"]])
    }

    for variable in ("JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEYS_FILE"):
        if variable in env:
            assert env[variable] in files, f"{variable} names no file of the Secret's volume"
            assert files[env[variable]] in secret["data"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_database_is_one_the_postgres_cluster_declares(service: str) -> None:
    objects = RENDERED["overlay"]
    [cluster] = [o for o in objects if o["kind"] == "Cluster"]
    declared = {cluster["spec"]["bootstrap"]["initdb"]["database"]} | {
        o["spec"]["name"]
        for o in objects
        if o["kind"] == "Database" and o["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    }
    url = urlsplit(environment(objects, service)[0]["DATABASE_URL"])

    assert url.hostname == f"{cluster['metadata']['name']}-rw", "the primary's Service"
    assert url.username == cluster["spec"]["bootstrap"]["initdb"]["owner"]
    assert url.path.lstrip("/") in declared


def test_the_nats_chart_runs_a_jetstream_cluster_as_large_as_the_streams_replicas() -> None:
    values = yaml.safe_load(NATS_VALUES.read_text())["config"]
    micro = find(RENDERED["overlay"], "ConfigMap", "shippy-micro")["data"]

    assert values["jetstream"]["enabled"] is True
    assert values["cluster"]["enabled"] is True
    assert values["cluster"]["replicas"] == int(micro["MICRO_JETSTREAM_REPLICAS"]) == 3
    assert urlsplit(micro["NATS_URL"]).hostname == "nats", "the chart's Service, release `nats`"


def test_the_overlay_changes_what_it_says_and_keeps_the_rest() -> None:
    base, overlay = RENDERED["base"], RENDERED["overlay"]

    assert {o["metadata"].get("namespace") for o in overlay} == {"shippy"}
    assert container(overlay, "user-service")["image"] == (
        "registry.example.com/shippy/user-service:0.1.0"
    )
    assert find(overlay, "Deployment", "consignment-service")["spec"]["replicas"] == 3
    smtp = find(overlay, "ConfigMap", "shippy-email")["data"]
    assert smtp["SMTP_HOST"] == "smtp.internal.example.com"
    assert smtp["MAIL_FROM"] == find(base, "ConfigMap", "shippy-email")["data"]["MAIL_FROM"]
    assert (
        container(overlay, "vessel-service")["readinessProbe"]
        == (container(base, "vessel-service")["readinessProbe"])
    )
