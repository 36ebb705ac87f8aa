"""deploy/ cannot run here (no Docker): what can be checked is that it is consistent, refers
to files that exist and to settings streamrec really reads."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import yaml

from app.http.routes import ROUTES
from app.settings import Settings
from tests.support.paths import DEPLOY, ROOT


def load(path: str) -> Any:
    return yaml.safe_load((DEPLOY / path).read_text())


def test_compose_mounts_files_that_exist_and_sets_real_settings() -> None:
    compose = load("compose.yml")
    services = compose["services"]
    assert {"kafka", "topics", "redis", "prometheus", "grafana"} <= services.keys()
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert len(workers) >= 2
    fields = {f"STREAMREC_{name.upper()}" for name in Settings.model_fields}
    hosts = set()
    for name, worker in workers.items():
        env = worker["environment"]
        assert set(env) <= fields, set(env) - fields
        assert env["STREAMREC_WEB_HOST"] == worker["hostname"] == name
        assert env["STREAMREC_BROKER"] == "kafka://kafka:9092"
        assert env["STREAMREC_CACHE_URL"].startswith("redis://redis:")
        hosts.add(f"{worker['hostname']}:{env['STREAMREC_WEB_PORT']}")
        assert worker["build"]["context"] == ".." and (ROOT / "Dockerfile").is_file()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
            else:
                assert source in compose["volumes"], volume
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper

    # Prometheus scrapes exactly the workers, under the job name the alert rules use.
    prometheus = load("prometheus/prometheus.yml")
    (job,) = prometheus["scrape_configs"]
    assert job["job_name"] == "streamrec"
    assert set(job["static_configs"][0]["targets"]) == hosts
    assert prometheus["rule_files"] == ["alerts.yml"]


def test_grafana_is_provisioned_with_the_prometheus_source_and_the_dashboard() -> None:
    (source,) = load("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = load("grafana/provisioning/dashboards/streamrec.yml")["providers"]
    mounts = load("compose.yml")["services"]["grafana"]["volumes"]
    assert f"./grafana/streamrec.json:{provider['options']['path']}/streamrec.json:ro" in mounts
    dashboard = json.loads((DEPLOY / "grafana" / "streamrec.json").read_text())
    assert dashboard["uid"] == "streamrec" and len(dashboard["panels"]) >= 12
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


K8S = DEPLOY / "k8s"
BUILT_IN = {"ConfigMap", "Secret", "Service", "StatefulSet", "PodDisruptionBudget"}


def k8s_objects() -> dict[str, dict[str, Any]]:
    """Every object of the kustomization's resources, by ``kind/name``."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files  # nothing left out, nothing missing
    found: dict[str, dict[str, Any]] = {}
    for name in files:
        for obj in yaml.safe_load_all((K8S / name).read_text()):
            key = f"{obj['kind']}/{obj['metadata']['name']}"
            assert key not in found, key
            found[key] = obj
    return found


def test_k8s_manifests_validate_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    objects = k8s_objects()
    assert {k.split("/")[0] for k in objects} == BUILT_IN | {"ScaledObject"}
    for key, obj in objects.items():
        if obj["kind"] in BUILT_IN:  # offline schemas of Kubernetes 1.37, unknown fields refused
            kubernetes_validate.validate(obj, "1.37.0", strict=True)
        else:  # KEDA's CRD: not in the Kubernetes schemas; its fields are checked below
            assert obj["apiVersion"] == "keda.sh/v1alpha1", key


def test_k8s_workers_set_real_settings_and_mount_what_exists() -> None:
    objects = k8s_objects()
    settings = objects["ConfigMap/streamrec-settings"]["data"]
    fields = {f"STREAMREC_{name.upper()}" for name in Settings.model_fields}
    assert set(settings) <= fields, set(settings) - fields
    sts = objects["StatefulSet/streamrec"]
    pod = sts["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    env = {e["name"]: e for e in worker["env"]}
    assert set(env) - {"POD_NAME", "POD_NAMESPACE"} <= fields

    # Each worker's web host is its stable name under the headless Service.
    headless = objects[f"Service/{sts['spec']['serviceName']}"]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    host = env["STREAMREC_WEB_HOST"]["value"]
    assert host == f"$(POD_NAME).{sts['spec']['serviceName']}.$(POD_NAMESPACE).svc.cluster.local"
    port = int(settings["STREAMREC_WEB_PORT"])
    assert {p["name"]: p["containerPort"] for p in worker["ports"]} == {"http": port}
    for service in (objects["Service/streamrec"], objects[f"Service/{sts['spec']['serviceName']}"]):
        assert service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
        assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http"}

    # Probes ask the worker's own health views.
    served = {route.path for route in ROUTES if route.method == "GET"}
    probes = {name: worker[name]["httpGet"] for name in ("startupProbe", "livenessProbe",
                                                         "readinessProbe")}  # fmt: skip
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == "/health/ready"
    for probe in probes.values():
        assert probe["path"] in served and probe["port"] == "http"

    # Mounts: RocksDB on the claim at DATA_DIR, the token file inside the secret's mount.
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    assert set(mounts) == set(volumes) | claims
    assert mounts["data"] == settings["STREAMREC_DATA_DIR"] and "data" in claims
    secret = objects["Secret/streamrec-secrets"]
    assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
    token = Path(settings["STREAMREC_ADMIN_TOKEN_FILE"])
    assert str(token.parent) == mounts["secrets"] and token.name in secret["stringData"]
    # Shipped empty: the worker refuses an empty token, so no deployment runs a public one.
    assert all(value == "" for value in secret["stringData"].values())
    # The image runs as its unprivileged user (Dockerfile: 10001).
    assert pod["securityContext"]["runAsUser"] == 10001
    assert "USER 10001:10001" in (ROOT / "Dockerfile").read_text()


def test_k8s_resources_follow_the_bench_and_the_grace_period() -> None:
    objects = k8s_objects()
    pod = objects["StatefulSet/streamrec"]["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    bench = json.loads((ROOT / "BENCHMARKS.json").read_text())
    limit = worker["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") or limit.endswith("Mi")
    limit_bytes = int(limit[:-2]) * (2**30 if limit.endswith("Gi") else 2**20)
    assert bench["table"]["users"] == 1_000_000 and bench["table"]["peak_rss"] < limit_bytes
    # A stopping worker exits on its own before Kubernetes kills it.
    settings = objects["ConfigMap/streamrec-settings"]["data"]
    assert float(settings["STREAMREC_SHUTDOWN_TIMEOUT_S"]) < pod["terminationGracePeriodSeconds"]
    annotations = objects["StatefulSet/streamrec"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == settings["STREAMREC_WEB_PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_k8s_autoscaling_reads_the_workers_group_and_stops_at_the_partition_count() -> None:
    objects = k8s_objects()
    settings = objects["ConfigMap/streamrec-settings"]["data"]
    scaled = objects["ScaledObject/streamrec"]["spec"]
    target = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "streamrec"}
    assert scaled["scaleTargetRef"] == target and f"StatefulSet/{target['name']}" in objects
    assert scaled["maxReplicaCount"] == int(settings["STREAMREC_PARTITIONS"])
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    meta = trigger["metadata"]
    defaults = Settings.model_fields
    assert trigger["type"] == "kafka" and meta["allowIdleConsumers"] == "false"
    assert meta["consumerGroup"] == settings.get("STREAMREC_APP_ID", defaults["app_id"].default)
    assert meta["topic"] == settings.get("STREAMREC_INPUT_TOPIC", defaults["input_topic"].default)
    assert settings["STREAMREC_BROKER"] == f"kafka://{meta['bootstrapServers']}"
    assert int(meta["lagThreshold"]) > 0


def test_k8s_alert_rules_are_the_composes() -> None:
    """The same rules as deploy/prometheus/alerts.yml (promtool checks those), scraped under
    the job name they ask for, from the pods that carry the workers' label and annotation.
    (Debian's promtool is built without Kubernetes service discovery: it cannot load this
    config, so its relabelling is checked here.)"""
    objects = k8s_objects()
    prometheus = objects["ConfigMap/streamrec-prometheus"]["data"]
    assert prometheus["alerts.yml"] == (DEPLOY / "prometheus" / "alerts.yml").read_text()
    config = yaml.safe_load(prometheus["prometheus.yml"])
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "streamrec" and job["kubernetes_sd_configs"] == [{"role": "pod"}]
    keep = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"]
            if r.get("action") == "keep"}  # fmt: skip
    template = objects["StatefulSet/streamrec"]["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == keep[
        "__meta_kubernetes_pod_label_app_kubernetes_io_name"]  # fmt: skip
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == keep[
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape"]  # fmt: skip
    assert keep["__meta_kubernetes_pod_container_port_name"] == "http"


def test_the_build_context_leaves_out_the_venv_and_state_but_not_what_the_image_copies() -> None:
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    assert {".venv", "var", ".git", "devtools", "tests"} <= set(ignored)
    copied = [
        part
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for part in line.split()[1:-1]
    ]
    assert sorted(copied) == ["README.md", "app", "models", "pyproject.toml"]
    for path in copied:
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
