"""deploy/ cannot run here (no Docker): what can be checked is that it is consistent, refers
to files that exist and to settings streamrec really reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from app.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


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
        assert worker["build"]["context"] == ".." and (DEPLOY / ".." / "Dockerfile").is_file()
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
