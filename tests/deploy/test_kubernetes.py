"""deploy/kubernetes without a cluster: the kustomize base and overlay build; every resource
validates, strictly, against the Kubernetes API schemas that kubernetes-validate ships (oldest
supported and newest release), the ServiceMonitor against the pinned schema in
deploy/kubernetes/schemas/; and the sidecar shape holds (containers, probes, ports, Secret files,
Service, ServiceMonitor, scrape annotations, the config in the ConfigMap loads).

The manifests are built with `kubectl kustomize` (or `kustomize build`) where one is installed,
else with build() below, which applies the kustomizations itself: resources, namespace, images
and strategic-merge patches (a `$patch: delete` of a whole resource included), all that these
files use (anything else makes it stop, not guess).
Where kubectl is installed, a test checks that build() and kubectl give the same objects.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from detector.config import load_config

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
BASE = KUBE / "base"
OVERLAY = KUBE / "overlays" / "example"
SEVERAL = KUBE / "overlays" / "several-instances"  # three replicas sharing one PostgreSQL
FOLDERS = [BASE, OVERLAY, SEVERAL]
FOLDER_IDS = ["base", "overlay", "several-instances"]
SERVICEMONITOR_SCHEMA = KUBE / "schemas" / "servicemonitor-monitoring.coreos.com-v1.json"
# the oldest Kubernetes minor release still in upstream support when this was written, and the
# newest kubernetes-validate knows
OLDEST = "1.32.0"
SECRETS_DIR = "/run/secrets/detector"
PORT = 9478

Resource = dict[str, Any]


# -- building ----------------------------------------------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
# strategic-merge keys of the lists these manifests patch (Kubernetes' patchMergeKey)
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}


def build(folder: Path) -> list[Resource]:
    """What `kubectl kustomize FOLDER` gives, for the features these kustomizations use."""
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(k) - KUSTOMIZATION_KEYS
    if unknown:
        raise NotImplementedError(
            f"{folder}/kustomization.yaml: {sorted(unknown)} not handled "
            "by build(): teach it, or install kubectl"
        )
    out: list[Resource] = []
    for entry in k.get("resources", []):
        path = folder / entry
        if path.is_dir():
            out.extend(build(path))
        else:
            out.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for entry in k.get("patches", []):
        if set(entry) != {"path"}:
            raise NotImplementedError(f"patch {entry}: only `path:` strategic-merge patches")
        for patch in yaml.safe_load_all((folder / entry["path"]).read_text()):
            patch = dict(patch)
            directive = patch.pop("$patch", None)
            if directive not in (None, "delete"):
                raise NotImplementedError(f"patch {entry['path']}: $patch: {directive}")
            i = next((i for i, r in enumerate(out) if same_object(r, patch)), None)
            if i is None:
                raise LookupError(
                    f"patch {entry['path']}: no {patch['kind']} "
                    f"{patch['metadata']['name']} to patch"
                )
            if directive == "delete":  # the whole resource goes
                del out[i]
            else:
                out[i] = merge(out[i], patch, strategic=is_builtin(patch))
    for image in k.get("images", []):
        for r in out:
            set_image(r, image)
    if "namespace" in k:
        for r in out:
            r["metadata"]["namespace"] = k["namespace"]
    return out


def same_object(a: Resource, b: Resource) -> bool:
    return bool(
        a["kind"] == b["kind"]
        and a["apiVersion"] == b["apiVersion"]
        and a["metadata"]["name"] == b["metadata"]["name"]
    )


def is_builtin(r: Resource) -> bool:
    """Kubernetes' own kinds merge lists by key; a custom resource's patch is a JSON merge."""
    group = r["apiVersion"].rpartition("/")[0]
    return group in ("", "apps", "batch", "policy", "networking.k8s.io", "autoscaling")


def merge(base: Any, patch: Any, strategic: bool) -> Any:
    if not (isinstance(base, dict) and isinstance(patch, dict)):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if key.startswith("$"):
            raise NotImplementedError(f"patch directive {key}")
        if value is None:
            out.pop(key, None)
        elif (
            strategic
            and isinstance(value, list)
            and isinstance(out.get(key), list)
            and (merge_key := list_merge_key(key, value + out[key])) is not None
        ):
            out[key] = merge_list(out[key], value, merge_key)
        elif key in out:
            out[key] = merge(out[key], value, strategic)
        else:
            out[key] = copy.deepcopy(value)
    return out


def list_merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":  # a container's ports merge on containerPort, a Service's on port
        return "containerPort" if all("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def merge_list(base: list[Any], patch: list[Any], key: str) -> list[Any]:
    """As kustomize orders them: the patch's items first, in its order (each merged into the
    base's item of the same key, if any), then the base's other items, in theirs."""
    out: list[Any] = []
    for item in patch:
        match = next((b for b in base if b.get(key) == item.get(key)), None)
        out.append(copy.deepcopy(item) if match is None else merge(match, item, strategic=True))
    patched = {item.get(key) for item in patch}
    out += [copy.deepcopy(b) for b in base if b.get(key) not in patched]
    return out


def set_image(r: Resource, image: dict[str, str]) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise NotImplementedError(f"images: {image}: only name, newName, newTag")
    pod = r.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, tag = split_image(container["image"])
        if name == image["name"]:
            tag = image.get("newTag", tag)
            container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")


def split_image(ref: str) -> tuple[str, str | None]:
    if "@" in ref:
        raise NotImplementedError(f"image digests: {ref}")
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:  # no tag (a colon, if any, was a registry's port)
        return ref, None
    return name, tag


def kustomize_command(folder: Path) -> list[str] | None:
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize", str(folder)]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build", str(folder)]
    return None


def kustomize(folder: Path) -> list[Resource]:
    cmd = kustomize_command(folder)
    assert cmd is not None
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def rendered(folder: Path) -> list[Resource]:
    return kustomize(folder) if kustomize_command(folder) else build(folder)


# -- validating --------------------------------------------------------------------------------


def kubernetes_validate() -> ModuleType:
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(
                "kubernetes-validate is not installed: CI installs it from requirements/lock.txt"
            )
        pytest.skip(
            "Kubernetes manifests NOT validated: kubernetes-validate is not installed "
            "(pip install kubernetes-validate)"
        )


def problems(resources: list[Resource]) -> list[str]:
    """Every way these resources fail their schemas (empty: all valid)."""
    kv = kubernetes_validate()
    newest: str = kv.utils.latest_version()
    servicemonitor = jsonschema.Draft202012Validator(json.loads(SERVICEMONITOR_SCHEMA.read_text()))
    found: list[str] = []
    for r in resources:
        what = f"{r.get('kind')}/{r.get('metadata', {}).get('name')}"
        if r.get("kind") == "ServiceMonitor":
            for e in servicemonitor.iter_errors(r):
                found.append(f"{what}: {'.'.join(map(str, e.absolute_path))}: {e.message}")
            continue
        for version in (OLDEST, newest):
            try:
                kv.validate(r, version, strict=True)
            except kv.utils.ValidationError as e:
                found.append(
                    f"{what} (Kubernetes {version}): {'.'.join(map(str, e.path))}: {e.message}"
                )
            except kv.utils.SchemaNotFoundError as e:
                found.append(f"{what}: no schema ({e.message})")
    return found


@pytest.mark.parametrize("folder", FOLDERS, ids=FOLDER_IDS)
def test_manifests_validate_against_the_kubernetes_schemas(folder: Path) -> None:
    resources = rendered(folder)
    assert resources
    assert problems(resources) == []


def test_validation_refuses_a_misspelt_field() -> None:
    """The validators are not a formality: a typo in a probe or a ServiceMonitor fails."""
    resources = build(OVERLAY)
    deployment = one(resources, "Deployment")
    container(deployment, "detector")["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    one(resources, "ServiceMonitor")["spec"]["endpoints"][0]["prot"] = "status"
    one(resources, "Service")["spec"]["ports"][0]["port"] = "eighty"
    found = problems(resources)
    assert any("Deployment/acme-api" in p and "paht" in p for p in found), found
    assert any("ServiceMonitor/outage-detector" in p and "prot" in p for p in found), found
    assert any("Service/outage-detector" in p and "eighty" in p for p in found), found


@pytest.mark.parametrize("folder", FOLDERS, ids=FOLDER_IDS)
def test_builder_agrees_with_kustomize(folder: Path) -> None:
    if kustomize_command(folder) is None:
        pytest.skip(
            "neither kubectl nor kustomize is installed: build() not cross-checked "
            "(the manifests are still built with it and validated)"
        )

    def key(r: Resource) -> tuple[str, str]:
        return r["kind"], r["metadata"]["name"]

    ours, theirs = sorted(build(folder), key=key), sorted(kustomize(folder), key=key)
    assert [key(r) for r in ours] == [key(r) for r in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a == b, key(a)


# -- the sidecar shape -------------------------------------------------------------------------


def one(resources: list[Resource], kind: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def container(deployment: Resource, name: str) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def dockerfile_user() -> str:
    users: list[str] = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    return users[-1]


@pytest.fixture(scope="module")
def overlay() -> list[Resource]:
    return rendered(OVERLAY)


def test_detector_runs_beside_the_app_in_one_pod(overlay: list[Resource]) -> None:
    deployment = one(overlay, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["api", "detector"]
    # one detector per SQLite store, kept across restarts and rollouts
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    assert pod["terminationGracePeriodSeconds"] >= 20  # the outbox gives sends 10 s on SIGTERM

    detector = container(deployment, "detector")
    assert detector["image"].endswith("/outage-detector:0.1.0")
    assert {"name": "DETECTOR_LISTEN", "value": f"0.0.0.0:{PORT}"} in detector["env"]
    assert detector["ports"] == [{"name": "detector", "containerPort": PORT}]
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert detector[probe]["httpGet"] == {"path": path, "port": "detector"}, probe

    resources = detector["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert "memory" in resources["limits"] and "cpu" not in resources["limits"]

    security = detector["securityContext"]
    uid, _, gid = dockerfile_user().partition(":")
    assert security["runAsNonRoot"] is True
    assert (str(security["runAsUser"]), str(security["runAsGroup"])) == (uid, gid)
    assert str(pod["securityContext"]["fsGroup"]) == gid
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False


def test_config_and_keys_are_mounted_as_files(overlay: list[Resource]) -> None:
    deployment = one(overlay, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {
        m["mountPath"]: volumes[m["name"]]
        for m in container(deployment, "detector")["volumeMounts"]
    }
    config_map, secret = one(overlay, "ConfigMap"), one(overlay, "Secret")
    assert mounts["/etc/detector"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert mounts[SECRETS_DIR]["secret"]["secretName"] == secret["metadata"]["name"]
    claim = one(overlay, "PersistentVolumeClaim")["metadata"]["name"]
    assert mounts["/data"]["persistentVolumeClaim"]["claimName"] == claim
    assert "emptyDir" in mounts["/tmp"]  # the root filesystem is read-only


def test_config_in_the_configmap_loads_with_the_secret_files(
    overlay: list[Resource], tmp_path: Path
) -> None:
    """The ConfigMap's detector.yaml, as the detector container sees it: the Secret's keys as
    files (here under tmp_path instead of /run/secrets/detector), subscribers.csv beside it."""
    secret = one(overlay, "Secret")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in secret["stringData"].items():
        (secrets / name).write_text(value + "\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    data = one(overlay, "ConfigMap")["data"]
    for name, text in data.items():
        (etc / name).write_text(text.replace(f"{SECRETS_DIR}/", f"{secrets}/"))
    referenced = set(
        re.findall(r"\$\{file:" + re.escape(SECRETS_DIR) + r"/([^}]+)\}", data["detector.yaml"])
    )
    assert referenced == set(secret["stringData"]), "every key used, every used key there"

    config = load_config(etc / "detector.yaml", env={"DETECTOR_LISTEN": f"0.0.0.0:{PORT}"})
    assert config.server.listen == f"0.0.0.0:{PORT}"
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == secret["stringData"]["admin_token"]
    assert config.storage.url == "sqlite:////data/detector.db"  # on the volume at /data
    assert len(config.channels) == 3
    assert config.subscribers


def test_status_page_service_and_scraping(overlay: list[Resource]) -> None:
    deployment = one(overlay, "Deployment")
    service = one(overlay, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "detector"

    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PORT)
    assert annotations["prometheus.io/path"] == "/metrics"

    monitor = one(overlay, "ServiceMonitor")
    selects = monitor["spec"]["selector"]["matchLabels"]
    assert selects.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == (port["name"], "/metrics")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]


# -- several instances -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def several() -> list[Resource]:
    return rendered(SEVERAL)


def test_several_instances_share_one_postgresql(several: list[Resource], tmp_path: Path) -> None:
    """Three replicas, one vantage, each reachable at its pod IP; the store in PostgreSQL
    from a Secret (no volume claim: a ReadWriteOnce volume would hold the other pods back);
    the config in the ConfigMap loads as the container sees it, with `cluster`."""
    deployment = one(several, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    pod = spec["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["api", "detector"]
    assert not [r for r in several if r["kind"] == "PersistentVolumeClaim"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]

    detector = container(deployment, "detector")
    assert detector["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "detector"}
    env = {e["name"]: e for e in detector["env"]}
    assert env["DETECTOR_VANTAGE"]["value"]  # one fixed vantage: the replicas share probes
    names = [e["name"] for e in detector["env"]]
    assert names.index("POD_IP") < names.index("DETECTOR_ADVERTISE")  # $(POD_IP) expands
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["DETECTOR_ADVERTISE"]["value"] == f"http://$(POD_IP):{PORT}"
    ref = env["DETECTOR_STORAGE_URL"]["valueFrom"]["secretKeyRef"]
    secrets = {r["metadata"]["name"]: r for r in several if r["kind"] == "Secret"}
    url = secrets[ref["name"]]["stringData"][ref["key"]]

    keys = tmp_path / "secrets"
    keys.mkdir()
    for name, value in secrets["outage-detector-secrets"]["stringData"].items():
        (keys / name).write_text(value + "\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    for name, text in one(several, "ConfigMap")["data"].items():
        (etc / name).write_text(text.replace(f"{SECRETS_DIR}/", f"{keys}/"))
    config = load_config(
        etc / "detector.yaml",
        env={"DETECTOR_LISTEN": f"0.0.0.0:{PORT}", "DETECTOR_STORAGE_URL": url},
    )
    assert config.storage.url == url and url.startswith("postgresql://")
    assert config.cluster is not None
    assert config.subscribers and len(config.channels) == 3
