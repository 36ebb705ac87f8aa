"""The worker's Faust app: its settings, its Worker class, and how a start-up failure ends.

Faust's own settings are chosen here, once, from streamrec's; ``faust -A app worker`` then runs
``StreamrecWorker``, which checks what the worker needs before Faust starts, summarises the
Kafka client's repeated errors (``app.worker.log_summary``) and stops within
SHUTDOWN_TIMEOUT_S of a stop signal (``app.worker.shutdown``).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import aiohttp
import faust

from app.errors import CannotStart, InvalidSettings
from app.http.guard import guard
from app.http.tls import WebTls
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.settings import Settings
from app.worker.faust_compat import TunedApp
from app.worker.log_summary import summarise_client_errors
from app.worker.preflight import prepare_worker
from app.worker.shutdown import Shutdown

__all__ = ["CHANGELOG_COMPRESSION", "cannot_start", "create_faust_app", "worker_class"]


CHANGELOG_COMPRESSION = "zstd"


def create_faust_app(
    settings: Settings,
    brokers: Brokers,
    partitioner: KeyPartitioner,
    shutdown: Shutdown,
    tls: WebTls,
) -> TunedApp:
    """The Faust app of a worker, with the consumer changes of ``faust_compat``."""

    def http_client() -> aiohttp.ClientSession:
        # Forwarded requests give up after FORWARD_TIMEOUT_S; with TLS they check the other
        # worker's certificate against WEB_TLS_CAFILE.
        timeout = aiohttp.ClientTimeout(total=settings.forward_timeout_s)
        return aiohttp.ClientSession(timeout=timeout, connector=tls.connector())

    return TunedApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=settings.broker,
        broker_credentials=brokers.security.faust_credentials(),
        store=settings.store,
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        # Other workers forward a user's requests here, over https with WEB_TLS_CERTFILE.
        canonical_url=tls.url(settings.web_host, settings.web_port),
        web_ssl_context=tls.server,
        topic_partitions=settings.partitions,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        # Keys are the raw UTF-8 user id everywhere (topics, tables, router), so the partition
        # a producer picks, the partition holding the state and the worker a view routes to
        # agree.
        key_serializer="raw",
        value_serializer="raw",
        # The router (views, OIP forwarding) finds a user's worker with the producers' one.
        producer_partitioner=partitioner,
        # Faust's producer writes the changelogs, which only workers read: zstd needs no
        # consumer's consent there (a one-event state batch shrinks 1.9x for ~0.4 us each).
        producer_compression_type=CHANGELOG_COMPRESSION,
        processing_guarantee="at_least_once",
        table_standby_replicas=1,
        autodiscover=False,
        web_in_thread=False,
        # Every request passes the guard (JSON errors, size limits); aiohttp enforces the
        # body limit itself while reading.
        web_application_options={
            "client_max_size": settings.max_request_bytes,
            "middlewares": [guard(settings.max_request_bytes, settings.max_path_segment_bytes)],
        },
        HttpClient=http_client,
        Worker=worker_class(settings, shutdown),
    )


def worker_class(settings: Settings, shutdown: Shutdown) -> type[faust.Worker]:
    """``faust -A app worker``'s Worker for ``settings``."""

    class StreamrecWorker(faust.Worker):  # type: ignore[misc]  # faust's Worker is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                prepare_worker(settings)
            except CannotStart as exc:
                cannot_start(exc, "start-up check failed", 1)
            summarise_client_errors()
            super().__init__(*args, **kwargs)

        def _on_sigterm(self) -> None:
            shutdown.begin()
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            shutdown.begin()
            super()._on_sigint()

    return StreamrecWorker


def cannot_start(exc: InvalidSettings | CannotStart, what: str, code: int) -> NoReturn:
    """End the process with one line per problem instead of a traceback."""
    problems = exc.problems if isinstance(exc, InvalidSettings) else [str(exc)]
    print(f"streamrec: cannot start: {what}:", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    raise SystemExit(code)
