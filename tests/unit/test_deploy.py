"""deploy/ cannot run here (no Docker): what can be checked is that it is consistent, refers
to files that exist and to settings streamrec really reads."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.http.routes import ROUTES
from app.inference.registry import ModelRegistry
from app.settings import Settings
from app.settings.load import load_settings
from tests.support.paths import DEPLOY, MODELS, ROOT


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
OVERLAYS = ("dev", "production")
BUILT_IN = {"ConfigMap", "Secret", "Service", "StatefulSet", "PodDisruptionBudget",
            "PersistentVolumeClaim", "CronJob", "Pod"}  # fmt: skip
KEDA = {"ScaledObject", "TriggerAuthentication"}
# KEDA v2's fields (its CRDs and the kafka scaler's typed metadata), so a misspelt one fails
# here rather than being ignored by the cluster. *FromEnv: the fields it also reads from env.
KEDA_FIELDS = {
    "spec": {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
             "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "advanced", "fallback",
             "triggers"},
    "scaleTargetRef": {"apiVersion", "kind", "name", "envSourceContainerName"},
    "trigger": {"type", "name", "metadata", "authenticationRef", "metricType",
                "useCachedMetrics"},
    "kafka": {"bootstrapServers", "consumerGroup", "topic", "bootstrapServersFromEnv",
              "consumerGroupFromEnv", "topicFromEnv", "partitionLimitation", "lagThreshold",
              "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
              "excludePersistentLag", "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag",
              "ensureEvenDistributionOfPartitions", "version", "sasl", "tls", "unsafeSsl"},
    "auth": {"env", "secretTargetRef", "podIdentity", "hashiCorpVault", "azureKeyVault",
             "awsSecretManager", "gcpSecretManager", "configMapTargetRef",
             "boundServiceAccountToken"},
    "env": {"parameter", "name", "containerName"},
    "secretTargetRef": {"parameter", "name", "key"},
}  # fmt: skip
# The one ConfigMap key that is not a streamrec setting: the Kafka address in the form KEDA
# reads (the worker's STREAMREC_BROKER is built from it).
BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"


def kustomize(root: Path) -> dict[str, dict[str, Any]]:
    """Every object ``kustomize build root`` renders, by ``kind/name``."""
    if shutil.which("kustomize"):
        command = ["kustomize", "build", str(root)]
    elif shutil.which("kubectl"):  # kubectl carries kustomize (v5.5 in kubectl 1.32)
        command = ["kubectl", "kustomize", str(root)]
    else:
        pytest.skip("neither kustomize nor kubectl is installed: the overlays cannot be "
                    "rendered (the kustomizations' files are checked without them)")  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    found: dict[str, dict[str, Any]] = {}
    for obj in yaml.safe_load_all(done.stdout):
        key = f"{obj['kind']}/{obj['metadata']['name']}"
        assert key not in found, key
        found[key] = obj
    return found


@functools.cache
def render(overlay: str) -> dict[str, dict[str, Any]]:
    return kustomize(K8S / "overlays" / overlay)


def one(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    (obj,) = (o for key, o in objects.items() if key.startswith(f"{kind}/"))
    return obj


def worker_pod(objects: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The StatefulSet's pod spec and its worker container."""
    pod = objects["StatefulSet/streamrec"]["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    return pod, worker


def container_env(objects: dict[str, dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom first, then env with
    ``$(VAR)`` expanded (fieldRef values are left as the field path)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(objects[f"ConfigMap/{source['configMapRef']['name']}"]["data"])
    for var in container.get("env", []):
        value = var.get("value")
        if value is None:
            value = var["valueFrom"]["fieldRef"]["fieldPath"]
        env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), value)
    return env


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def test_k8s_kustomizations_hold_no_secret_and_name_files_that_exist() -> None:
    """Works without kustomize: an applied Secret would overwrite one made with kubectl, so
    none is a resource anywhere; only the dev overlay generates one, from a file it holds."""
    dirs = {p.parent.relative_to(K8S).as_posix() for p in kustomizations()}
    assert dirs == {"base", "overlays/dev", "overlays/production", "components/web-tls"}
    for path in kustomizations():
        kustomization = yaml.safe_load(path.read_text())
        for entry in kustomization.get("resources", []):
            target = path.parent / entry
            assert target.exists(), (path, entry)
            if target.is_file():
                kinds = {obj["kind"] for obj in yaml.safe_load_all(target.read_text())}
                assert "Secret" not in kinds, (path, entry)
        for patch in kustomization.get("patches", []):
            assert "path" not in patch or (path.parent / patch["path"]).is_file(), patch
        generators = kustomization.get("secretGenerator", [])
        if path.parent.name != "dev":
            assert generators == [], path
        for generator in generators:
            for name in generator["files"]:
                assert (path.parent / name.split("=")[-1]).read_text().strip(), name
    assert not list(K8S.rglob("secret.yaml"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_overlays_validate_against_the_kubernetes_schemas(overlay: str) -> None:
    import kubernetes_validate

    objects = render(overlay)
    kinds = {key.split("/")[0] for key in objects}
    expected = {"ConfigMap", "Service", "StatefulSet", "PersistentVolumeClaim", "CronJob"}
    if overlay == "dev":  # its generated secret; no autoscaler and no PDB on one worker
        assert kinds == expected | {"Secret"}
    else:  # the secret is created with kubectl, never rendered
        assert kinds == expected | {"PodDisruptionBudget"} | KEDA
    # The upload helper pod (applied by hand) is validated along with them.
    helper = yaml.safe_load((K8S / "tools" / "models-upload.yaml").read_text())
    for key, obj in [*objects.items(), ("Pod/upload", helper)]:
        # One label finds everything: kubectl get all -l app.kubernetes.io/part-of=streamrec
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamrec", key
        if obj["kind"] in BUILT_IN:  # offline schemas of Kubernetes 1.37, unknown fields refused
            kubernetes_validate.validate(obj, "1.37.0", strict=True)
        else:  # KEDA's CRDs: not in the Kubernetes schemas; their fields are checked below
            assert obj["apiVersion"] == "keda.sh/v1alpha1", key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_workers_read_valid_settings_and_mount_their_secret(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    objects = render(overlay)
    settings = objects["ConfigMap/streamrec-settings"]["data"]
    fields = {f"STREAMREC_{name.upper()}" for name in Settings.model_fields}
    assert set(settings) - {BOOTSTRAP} <= fields, set(settings) - fields
    assert "STREAMREC_BROKER" not in settings  # the pod's own value would win over it
    pod, worker = worker_pod(objects)
    env = container_env(objects, worker)
    assert {e["name"] for e in worker["env"]} - {"POD_NAME", "POD_NAMESPACE"} <= fields

    # Mounts: every one has its volume; the secret's files are what the settings point at.
    mounts = {m["name"]: m for m in worker["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    sts = objects["StatefulSet/streamrec"]
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    assert set(mounts) == set(volumes) | claims
    assert mounts["data"]["mountPath"] == settings["STREAMREC_DATA_DIR"] and "data" in claims
    secret_dir = Path(mounts["secrets"]["mountPath"])
    secret_name = volumes["secrets"]["secret"]["secretName"]
    files = {name: Path(value) for name, value in env.items()
             if name.endswith("_FILE") and Path(value).parent == secret_dir}  # fmt: skip
    assert "STREAMREC_ADMIN_TOKEN_FILE" in files
    if overlay == "dev":
        secret = objects[f"Secret/{secret_name}"]  # generated, its name hashed
        assert secret_name.startswith("streamrec-secrets-")
        keys = set(secret["data"])
    else:  # made by hand with the command in the kustomization's comment, by this name
        assert secret_name == "streamrec-secrets"
        comment = (K8S / "overlays" / "production" / "kustomization.yaml").read_text()
        assert f"kubectl create secret generic {secret_name}" in comment
        keys = set(re.findall(r"--from-literal=([\w.-]+)=", comment))
    assert {path.name for path in files.values()} <= keys

    # The worker's settings load as the worker loads them, secret files in place.
    for name, path in files.items():
        (tmp_path / path.name).write_text("not-a-real-secret\n")
        env[name] = str(tmp_path / path.name)
    for key in [k for k in os.environ if k.startswith("STREAMREC_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("STREAMREC_"):
            monkeypatch.setenv(key, value)
    loaded = load_settings()
    assert loaded.bootstrap_servers == settings[BOOTSTRAP].split(",")

    # Each worker's web host is its stable name under the headless Service.
    headless = objects[f"Service/{sts['spec']['serviceName']}"]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    host = next(e["value"] for e in worker["env"] if e["name"] == "STREAMREC_WEB_HOST")
    assert host == f"$(POD_NAME).{sts['spec']['serviceName']}.$(POD_NAMESPACE).svc.cluster.local"
    port = int(settings["STREAMREC_WEB_PORT"])
    grpc = int(settings["STREAMREC_GRPC_PORT"])
    assert {p["name"]: p["containerPort"] for p in worker["ports"]} == {"http": port, "grpc": grpc}
    headless = objects[f"Service/{sts['spec']['serviceName']}"]
    assert {p["targetPort"] for p in headless["spec"]["ports"]} == {"http"}  # forwarding: REST
    assert {p["targetPort"] for p in objects["Service/streamrec"]["spec"]["ports"]} == {
        "http", "grpc"}  # fmt: skip
    for service in (objects["Service/streamrec"], headless):
        assert service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]

    # Probes ask the worker's own health views.
    served = {route.path for route in ROUTES if route.method == "GET"}
    probes = {name: worker[name]["httpGet"] for name in ("startupProbe", "livenessProbe",
                                                         "readinessProbe")}  # fmt: skip
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == "/health/ready"
    for probe in probes.values():
        assert probe["path"] in served and probe["port"] == "http"
    # The image runs as its unprivileged user (Dockerfile: 10001).
    assert pod["securityContext"]["runAsUser"] == 10001
    assert "USER 10001:10001" in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_models_come_from_one_shared_volume_at_the_model_dir(overlay: str) -> None:
    """Workers read the registry from a claim every pod shares, at STREAMREC_MODEL_DIR,
    read-only; the seed init container and the retrain job write into the same claim."""
    objects = render(overlay)
    settings = objects["ConfigMap/streamrec-settings"]["data"]
    model_dir = settings["STREAMREC_MODEL_DIR"]
    pod, worker = worker_pod(objects)
    claim = one(objects, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in pod["volumes"]}
    claimed = {"claimName": claim["metadata"]["name"]}
    (models,) = (name for name, v in volumes.items() if v.get("persistentVolumeClaim") == claimed)
    mounts = {m["name"]: m for m in worker["volumeMounts"]}
    assert mounts[models]["mountPath"] == model_dir and mounts[models]["readOnly"] is True
    if overlay == "production":  # several workers, on several nodes
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]

    # The seed copies what the image carries at the model dir the Dockerfile sets.
    (seed,) = pod["initContainers"]
    assert seed["image"] == worker["image"]
    (seed_mount,) = seed["volumeMounts"]
    assert seed_mount["name"] == models and not seed_mount.get("readOnly")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"STREAMREC_MODEL_DIR={model_dir}" in dockerfile and "COPY models ./models" in dockerfile
    assert f"{model_dir}/*/*/" in seed["command"][-1]

    # The retrain job reads the same settings and writes the same claim.
    job = objects["CronJob/streamrec-retrain"]["spec"]
    assert job["suspend"] is True and job["concurrencyPolicy"] == "Forbid"
    job_pod = job["jobTemplate"]["spec"]["template"]["spec"]
    (retrain,) = job_pod["containers"]
    assert retrain["args"] == ["retrain"] and retrain["image"] == worker["image"]
    assert container_env(objects, retrain)["STREAMREC_BROKER"] == container_env(
        objects, worker)["STREAMREC_BROKER"]  # fmt: skip
    job_volumes = {v["name"]: v for v in job_pod["volumes"]}
    job_mounts = {m["name"]: m for m in retrain["volumeMounts"]}
    assert set(job_mounts) == set(job_volumes)
    assert job_volumes[models] == volumes[models] and job_volumes["secrets"] == volumes["secrets"]
    assert job_mounts[models]["mountPath"] == model_dir and not job_mounts[models].get("readOnly")
    assert job_mounts["data"]["mountPath"] == settings["STREAMREC_DATA_DIR"]
    # Not a worker: the Services and Prometheus' job must not pick it up.
    labels = job["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] != "streamrec"

    helper = yaml.safe_load((K8S / "tools" / "models-upload.yaml").read_text())["spec"]
    assert helper["volumes"][0]["persistentVolumeClaim"] == volumes[models]["persistentVolumeClaim"]
    assert helper["containers"][0]["volumeMounts"][0]["mountPath"] == model_dir


def seed_script(model_dir: Path, volume: Path) -> str:
    """The seed init container's script, with the image's and the volume's paths moved."""
    pod, _ = worker_pod(render("production"))
    (seed,) = pod["initContainers"]
    (mount,) = seed["volumeMounts"]
    script: str = seed["command"][-1]
    return script.replace(mount["mountPath"], str(volume)).replace("/srv/models", str(model_dir))


def run_seed(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-ceu", script], capture_output=True, text=True, timeout=60,
                          check=True)  # fmt: skip


def test_k8s_seed_fills_an_empty_models_volume_once(tmp_path: Path) -> None:
    """The init container's own script, run against a copy of the image's models."""
    volume = tmp_path / "volume"
    (volume / "lost+found").mkdir(parents=True)  # what a fresh ext4 volume holds
    (volume / "itemsvd" / ".seed-crashed").mkdir(parents=True)  # a pod killed mid-copy
    script = seed_script(MODELS, volume)
    shipped = sorted(p.relative_to(MODELS) for p in MODELS.glob("*/*/"))

    # Two pods seeding at once: each version lands once, whole, and nothing is left aside.
    runs = [subprocess.Popen(["sh", "-ceu", script], stdout=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = sorted(line for out in outputs for line in out.splitlines() if line.startswith("seeded"))
    assert said == sorted(f"seeded {version}" for version in shipped)
    seeded = [p.relative_to(volume) for p in volume.glob("*/*/") if not p.name.startswith(".")]
    assert sorted(seeded) == shipped
    leftovers = [p.name for p in volume.glob("*/.*") if p.name != ".seed-crashed"]
    assert not leftovers, "a half-copied version was left behind"
    for version in shipped:
        for file in (MODELS / version).iterdir():
            assert (volume / version / file.name).read_bytes() == file.read_bytes()
    registry = ModelRegistry(volume)
    for name in {v.parts[0] for v in shipped}:
        assert registry.versions(name) == [v.name for v in shipped if v.parts[0] == name]

    # A volume that holds versions is left alone: a removed version does not come back.
    removed = volume / shipped[0]
    shutil.rmtree(removed)
    assert "not seeding" in run_seed(script).stdout
    assert not removed.exists()


def test_k8s_resources_follow_the_bench_and_the_grace_period() -> None:
    bench = json.loads((ROOT / "BENCHMARKS.json").read_text())
    assert bench["table"]["users"] == 1_000_000
    for overlay in OVERLAYS:
        objects = render(overlay)
        pod, worker = worker_pod(objects)
        limit = worker["resources"]["limits"]["memory"]
        assert limit.endswith("Gi") or limit.endswith("Mi")
        limit_bytes = int(limit[:-2]) * (2**30 if limit.endswith("Gi") else 2**20)
        assert bench["table"]["peak_rss"] < limit_bytes, overlay
        # A stopping worker exits on its own before Kubernetes kills it.
        settings = objects["ConfigMap/streamrec-settings"]["data"]
        grace = pod["terminationGracePeriodSeconds"]
        assert float(settings["STREAMREC_SHUTDOWN_TIMEOUT_S"]) < grace
        template = objects["StatefulSet/streamrec"]["spec"]["template"]["metadata"]
        assert template["annotations"]["prometheus.io/port"] == settings["STREAMREC_WEB_PORT"]
        assert template["annotations"]["prometheus.io/path"] == "/metrics"
    assert render("dev")["StatefulSet/streamrec"]["spec"]["replicas"] == 1
    production = render("production")
    # The autoscaler owns the count: a replicas field would reset it on every apply.
    assert "replicas" not in production["StatefulSet/streamrec"]["spec"]
    assert production["ScaledObject/streamrec"]["spec"]["minReplicaCount"] >= 2
    budget = production["PodDisruptionBudget/streamrec"]["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"] == production["StatefulSet/streamrec"]["spec"]["selector"]


def test_k8s_manifest_comments_quote_no_measurement() -> None:
    """Figures live in BENCHMARKS.md and the README; a copy in a comment goes stale."""
    figure = re.compile(r"\d[\d,.]*\s*k?\s*(?:MiB|GiB|events/s|CPU s|x\b)")
    for path in K8S.rglob("*.yaml"):
        if path.name == "alerts.yaml":  # the alert rules' own text (burn rates), not a bench
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            comment = line.partition("#")[2] if line.lstrip().startswith("#") else ""
            assert not figure.search(comment), f"{path.relative_to(ROOT)}:{number}: {line}"


def test_k8s_autoscaling_reads_the_workers_env_and_stops_at_the_partition_count() -> None:
    objects = render("production")
    settings = objects["ConfigMap/streamrec-settings"]["data"]
    scaled = objects["ScaledObject/streamrec"]["spec"]
    target = scaled["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1", "StatefulSet", "streamrec")  # fmt: skip
    _, worker = worker_pod(objects)
    assert target["envSourceContainerName"] == worker["name"]
    assert scaled["maxReplicaCount"] == int(settings["STREAMREC_PARTITIONS"])
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]

    # The broker, group and topic KEDA reads are the worker's own env: nothing to keep in step.
    (trigger,) = scaled["triggers"]
    meta = trigger["metadata"]
    assert set(scaled) <= KEDA_FIELDS["spec"] and set(target) <= KEDA_FIELDS["scaleTargetRef"]
    assert set(trigger) <= KEDA_FIELDS["trigger"] and set(meta) <= KEDA_FIELDS["kafka"]
    assert all(isinstance(value, str) for value in meta.values())  # the CRD: strings only
    assert trigger["type"] == "kafka" and meta["allowIdleConsumers"] == "false"
    assert not {"bootstrapServers", "consumerGroup", "topic"} & set(meta)
    env = container_env(objects, worker)
    assert meta["bootstrapServersFromEnv"] == BOOTSTRAP
    assert env["STREAMREC_BROKER"] == f"kafka://{env[BOOTSTRAP]}"
    assert meta["consumerGroupFromEnv"] == "STREAMREC_APP_ID"  # Faust's group is the app id
    assert meta["topicFromEnv"] == "STREAMREC_INPUT_TOPIC"
    for name in (BOOTSTRAP, "STREAMREC_APP_ID", "STREAMREC_INPUT_TOPIC"):
        assert env[name] == settings[name]  # from the ConfigMap, which KEDA resolves too
    assert int(meta["lagThreshold"]) > 0

    # KEDA logs in as the workers do: the same TLS, mechanism, user and password.
    protocol = settings["STREAMREC_KAFKA_SECURITY_PROTOCOL"]
    assert meta["tls"] == ("enable" if protocol in ("SSL", "SASL_SSL") else "disable")
    mechanism = settings["STREAMREC_KAFKA_SASL_MECHANISM"]
    keda_names = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256",
                  "SCRAM-SHA-512": "scram_sha512"}  # fmt: skip
    assert meta["sasl"] == keda_names[mechanism]
    auth = objects[f"TriggerAuthentication/{trigger['authenticationRef']['name']}"]["spec"]
    assert set(auth) <= KEDA_FIELDS["auth"]
    for source in ("env", "secretTargetRef"):
        assert all(set(ref) <= KEDA_FIELDS[source] for ref in auth[source])
    (user,) = auth["env"]
    assert user == {"parameter": "username", "name": "STREAMREC_KAFKA_SASL_USERNAME",
                    "containerName": worker["name"]}  # fmt: skip
    assert user["name"] in env
    (password,) = auth["secretTargetRef"]
    assert password["parameter"] == "password" and password["name"] == "streamrec-secrets"
    assert password["key"] == Path(settings["STREAMREC_KAFKA_SASL_PASSWORD_FILE"]).name


def test_k8s_the_partition_count_set_in_an_overlay_caps_the_autoscaler(tmp_path: Path) -> None:
    """KEDA cannot read the ConfigMap for maxReplicaCount: the overlay copies it in after its
    patches, so changing STREAMREC_PARTITIONS in one place moves the cap with it."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    patch = copy / "overlays" / "production" / "settings.yaml"
    text = patch.read_text()
    assert 'STREAMREC_PARTITIONS: "' in text
    patch.write_text(re.sub(r'STREAMREC_PARTITIONS: "\d+"', 'STREAMREC_PARTITIONS: "5"', text))
    objects = kustomize(copy / "overlays" / "production")
    assert objects["ConfigMap/streamrec-settings"]["data"]["STREAMREC_PARTITIONS"] == "5"
    assert objects["ScaledObject/streamrec"]["spec"]["maxReplicaCount"] == 5


def test_k8s_the_web_tls_component_serves_https_and_grpc_with_the_mounted_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production with components/web-tls, as its comment says to add it: valid objects, the
    settings pointing at the mounted Secret's files (the names cert-manager writes), probes
    over https, the Service on 443, and settings that load and build with real files."""
    import kubernetes_validate
    import trustme

    from app.http.tls import web_tls

    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    overlay = copy / "overlays" / "production" / "kustomization.yaml"
    comment = (K8S / "components" / "web-tls" / "kustomization.yaml").read_text()
    assert "components: [../../components/web-tls]" in comment
    overlay.write_text(overlay.read_text() + "components: [../../components/web-tls]\n")
    objects = kustomize(overlay.parent)
    for obj in objects.values():
        if obj["kind"] in BUILT_IN:
            kubernetes_validate.validate(obj, "1.37.0", strict=True)
    pod, worker = worker_pod(objects)
    env = container_env(objects, worker)
    (volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName")
                 == "streamrec-web-tls"]  # fmt: skip
    (mount,) = [m for m in worker["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    files = {name: Path(env[f"STREAMREC_WEB_TLS_{name}"]) for name in ("CERTFILE", "KEYFILE",
                                                                       "CAFILE")}  # fmt: skip
    assert {name: (p.parent, p.name) for name, p in files.items()} == {
        "CERTFILE": (Path(mount["mountPath"]), "tls.crt"),
        "KEYFILE": (Path(mount["mountPath"]), "tls.key"),
        "CAFILE": (Path(mount["mountPath"]), "ca.crt"),
    }
    assert f"--from-file={files['CERTFILE'].name}" in comment
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert worker[probe]["httpGet"]["scheme"] == "HTTPS", probe
    annotations = objects["StatefulSet/streamrec"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scheme"] == "https"
    ports = {p["name"]: (p["port"], p["targetPort"])
             for p in objects["Service/streamrec"]["spec"]["ports"]}  # fmt: skip
    assert ports == {"https": (443, "http"), "grpc": (8001, "grpc")}

    # With real files where the Secret puts them, the settings load and the TLS builds.
    ca = trustme.CA()
    cert = ca.issue_cert("*.streamrec-workers.default.svc.cluster.local")
    blobs = {"CERTFILE": b"".join(b.bytes() for b in cert.cert_chain_pems),
             "KEYFILE": cert.private_key_pem.bytes(), "CAFILE": ca.cert_pem.bytes()}  # fmt: skip
    for key in [k for k in os.environ if k.startswith("STREAMREC_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("STREAMREC_") and not key.endswith("_FILE"):
            monkeypatch.setenv(key, value)
    for name, path in files.items():
        (tmp_path / path.name).write_bytes(blobs[name])
        monkeypatch.setenv(f"STREAMREC_WEB_TLS_{name}", str(tmp_path / path.name))
    monkeypatch.setenv("STREAMREC_ADMIN_TOKEN", "not-a-real-secret")
    monkeypatch.setenv("STREAMREC_KAFKA_SASL_PASSWORD", "not-a-real-secret")
    tls = web_tls(load_settings())
    # The wildcard the comment asks for names every worker's WEB_HOST.
    host = env["STREAMREC_WEB_HOST"].replace("metadata.namespace", "default")
    host = host.replace("metadata.name", "streamrec-0")
    assert "*.streamrec-workers.<namespace>.svc.cluster.local" in comment
    assert fnmatch.fnmatch(host, "*.streamrec-workers.default.svc.cluster.local")
    assert tls.url(host, 6066) == f"https://{host}:6066"


def test_k8s_alert_rules_are_the_composes() -> None:
    """The same rules as deploy/prometheus/alerts.yml (promtool checks those), scraped under
    the job name they ask for, from the pods that carry the workers' label and annotation.
    (Debian's promtool is built without Kubernetes service discovery: it cannot load this
    config, so its relabelling is checked here.)"""
    objects = render("production")
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
    # A pod annotated prometheus.io/scheme (components/web-tls: https) is scraped so.
    (scheme,) = [r for r in job["relabel_configs"] if r.get("target_label") == "__scheme__"]
    assert scheme["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scheme"]
    assert [re.fullmatch(scheme["regex"], v) is not None for v in ("https", "http", "")] == [
        True, True, False]  # fmt: skip


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
