"""Monitoring with the real tools: promtool on the alert rules, a Prometheus server scraping a
worker, and the dashboard and rules checked against what a worker really exports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.training.train import catalogue
from devtools.net import free_port, http_get
from devtools.processes import WorkerProcess
from devtools.verify.check import make_traffic
from tests.support.deployment import Deployment
from tests.support.paths import DEPLOY
from tests.support.waiting import wait_for

RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "streamrec.json"
METRIC = re.compile(r"\bstreamrec_[a-z0-9_]+")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: `make test` installs it (Debian package prometheus)"
    return path


def test_the_alert_rules_and_config_are_valid_and_the_rule_tests_pass() -> None:
    config = DEPLOY / "prometheus" / "prometheus.yml"  # deploy/compose.yml's, with the rules
    for args in (
        ["check", "rules", str(RULES)],
        ["test", "rules", str(RULE_TESTS)],
        ["check", "config", str(config)],
    ):
        done = subprocess.run(
            [tool("promtool"), *args], capture_output=True, text=True, cwd=RULE_TESTS.parent
        )
        assert done.returncode == 0, done.stdout + done.stderr


def exported_names(worker: WorkerProcess) -> set[str]:
    _, body = http_get(worker.web_url + "/metrics")
    names = set()
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def queried_names() -> dict[str, set[str]]:
    """Metric names each rule and each dashboard panel asks for, by where they are."""
    found: dict[str, set[str]] = {}
    for line in RULES.read_text().splitlines():
        for name in METRIC.findall(line.split("#", 1)[0]):
            found.setdefault(name, set()).add(RULES.name)
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            for name in METRIC.findall(target["expr"]):
                found.setdefault(name, set()).add(f"panel {panel['title']!r}")
    return found


async def test_every_rule_and_panel_names_a_metric_the_worker_exports(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker = d.start_worker()
    # Traffic with a malformed record, so the labelled series (DLQ reason, stage) exist too.
    traffic = make_traffic(5, 4, catalogue(), bad_users=1)
    assert (await d.verify(traffic)).ok
    sampled = {"streamrec_consumer_lag", "streamrec_table_keys"}  # by timers, 1 s and 10 s
    assert await asyncio.to_thread(wait_for, lambda: sampled <= exported_names(worker), 30)
    exported = exported_names(worker)
    queried = queried_names()
    assert len(queried) >= 12, queried
    missing = {name: where for name, where in queried.items() if name not in exported}
    assert not missing, f"queried but not exported: {missing}"


class Prometheus:
    """A real Prometheus server (Debian package) scraping the given targets every second."""

    def __init__(self, root: Path, targets: list[str]) -> None:
        self.root = root
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "streamrec", "static_configs": [{"targets": targets}]}],
        }
        (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={root / 'prometheus.yml'}",
             f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=(root / "prometheus.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert wait_for(lambda: http_get(self.url("/-/ready"))[0] == 200, 30), self.log()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, promql: str) -> list[dict[str, object]]:
        status, body = http_get(self.url("/api/v1/query?query=" + urllib.parse.quote(promql)))
        assert status == 200, body
        result: list[dict[str, object]] = json.loads(body)["data"]["result"]
        return result

    def value(self, promql: str) -> float:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else float("nan")  # type: ignore[index]

    def log(self) -> str:
        return (self.root / "prometheus.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[WorkerProcess], Prometheus]]:
    started: list[Prometheus] = []

    def start(worker: WorkerProcess) -> Prometheus:
        server = Prometheus(tmp_path / "prometheus", [worker.web_url.split("://", 1)[1]])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def test_a_real_prometheus_scrapes_a_worker_and_the_series_move(
    deployment_factory: Callable[..., Deployment],
    prometheus_for: Callable[[WorkerProcess], Prometheus],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker = d.start_worker()
    prom = prometheus_for(worker)
    assert await asyncio.to_thread(wait_for, lambda: prom.value('up{job="streamrec"}') == 1, 30), (
        prom.log()
    )

    items = catalogue()
    counts = []
    for run in ("a", "b"):
        traffic = make_traffic(10, 20, items, run=run)
        assert (await d.verify(traffic)).ok
        total = 200.0 * (len(counts) + 1)
        assert await asyncio.to_thread(
            wait_for, lambda t=total: prom.value("streamrec_events_in_total") >= t, 30
        ), prom.log()
        counts.append(prom.value("streamrec_events_in_total"))
    assert counts == [200.0, 400.0]  # the series moved with the events, and only with them

    queries = {
        "sum(rate(streamrec_events_in_total[1m]))": lambda v: v > 0,
        "histogram_quantile(0.99, sum by (le) (rate(streamrec_end_to_end_seconds_bucket[1m])))":
            lambda v: 0 < v < 10,
        'streamrec_model_info{name="itemsvd"}': lambda v: v == 1,
        "sum(streamrec_consumer_lag)": lambda v: v >= 0,
        "sum(streamrec_recommendations_out_total)": lambda v: v == 400,
        'streamrec_table_keys{table="features"}': lambda v: v >= 20,  # (an estimate)
    }  # fmt: skip
    # Table sizes are sampled every 10 s: wait for a sample taken after all 20 users.
    assert await asyncio.to_thread(
        wait_for, lambda: prom.value('streamrec_table_keys{table="features"}') >= 20, 30
    ), prom.log()
    answers = {q: prom.value(q) for q in queries}
    print("PromQL answered by Prometheus:", json.dumps(answers, indent=1))
    for q, ok in queries.items():
        assert ok(answers[q]), (q, answers[q])
    # The alert rules are loaded, and a healthy worker fires none.
    _, body = http_get(prom.url("/api/v1/rules"))
    groups = json.loads(body)["data"]["groups"]
    assert {g["name"] for g in groups} >= {"streamrec-availability", "streamrec-progress"}
    _, body = http_get(prom.url("/api/v1/alerts"))
    firing = [a for a in json.loads(body)["data"]["alerts"] if a["state"] == "firing"]
    assert firing == [], firing
