"""What a worker checks before Faust starts: its data directory, its web address, a broker
that answers, and topics whose partition counts agree with STREAMREC_PARTITIONS
(``app.worker.partitions``).

The broker check is two steps: something accepts TCP at a bootstrap address (waited for up to
BROKER_WAIT_S), then one real Kafka connection with the configured security (TLS handshake,
SASL login, one request), so a wrong CA, password or protocol stops the worker with a message
naming the setting to fix, instead of aiokafka retrying "Unable to bootstrap" for ever.

Without these checks a fresh clone's first ``faust -A app worker`` ended in Faust's
``FileNotFoundError`` for ``var/data`` (Faust creates only the last path component), and a
broker that was not up yet ended it in an aiokafka traceback.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import time
from collections.abc import Callable

from app.errors import CannotStart
from app.kafka.brokers import Brokers
from app.kafka.topics import partition_counts, topic_config
from app.settings import Settings
from app.worker.partitions import check_partitions
from app.worker.startup_loop import run_before_faust

__all__ = [
    "check_broker_access",
    "check_output_compacted",
    "check_web_port",
    "is_reachable",
    "prepare_data_dir",
    "prepare_worker",
    "wait_for_broker",
]

ACCESS_TIMEOUT_S = 15.0


def is_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def prepare_worker(settings: Settings) -> None:
    """Create the data directory, wait for the broker and check the topics' partitions;
    CannotStart says what is wrong."""
    prepare_data_dir(settings)
    check_web_port(settings)
    wait_for_broker(settings)
    brokers = Brokers.from_settings(settings)
    check_broker_access(brokers)
    check_partitions(settings, brokers, ACCESS_TIMEOUT_S, _say)
    check_output_compacted(settings, brokers, ACCESS_TIMEOUT_S, _say)


def prepare_data_dir(settings: Settings) -> None:
    """Create STREAMREC_DATA_DIR (with its parents) and say where the state lives."""
    path = settings.data_dir.absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotStart(
            f"STREAMREC_DATA_DIR={str(settings.data_dir)!r} cannot be created "
            f"({exc.strerror or exc}): point it at a writable directory"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CannotStart(
            f"STREAMREC_DATA_DIR={str(settings.data_dir)!r} is not writable: "
            "point it at a writable directory"
        )
    _say(f"table state in {path} (STREAMREC_DATA_DIR)")


def check_web_port(settings: Settings) -> None:
    """The web server's address (and the gRPC server's, if on) must be free: taken, Faust
    failed 95 lines later with ``OSError: [Errno 98]`` after starting its consumer."""
    ports = [("the web server", settings.web_port, "STREAMREC_WEB_PORT")]
    if settings.grpc_port:
        ports.append(("the gRPC server", settings.grpc_port, "STREAMREC_GRPC_PORT"))
    for what, port, setting in ports:
        try:
            infos = socket.getaddrinfo(
                settings.web_bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, proto, _, address = infos[0]
            with socket.socket(family, kind, proto) as probe:
                # As the servers bind (SO_REUSEADDR): only a live listener makes it fail.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            raise CannotStart(
                f"{what} cannot listen on {settings.web_bind}:{port} "
                f"({exc.strerror or exc}): stop what holds it or set {setting} "
                "(or STREAMREC_WEB_BIND)"
            ) from None
    if settings.grpc_port == settings.web_port:
        raise CannotStart(f"STREAMREC_GRPC_PORT and STREAMREC_WEB_PORT are both {port}: "
                          "give the gRPC server a port of its own")  # fmt: skip


def wait_for_broker(
    settings: Settings,
    reachable: Callable[[str, int], bool] = is_reachable,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once a bootstrap server accepts connections; CannotStart after BROKER_WAIT_S."""
    addresses = settings.broker_addresses
    deadline = clock() + settings.broker_wait_s
    told = False
    while not any(reachable(host, port) for host, port in addresses):
        if clock() >= deadline:
            raise CannotStart(
                f"no Kafka broker answered at {settings.broker} within "
                f"{settings.broker_wait_s:g}s: check STREAMREC_BROKER and that the broker is "
                "up (`faust -A app broker` or `make run` starts an embedded one); exit code 1, "
                "so an orchestrator restarts the worker"
            )
        if not told:
            _say(f"waiting up to {settings.broker_wait_s:g}s for the Kafka broker at "
                 f"{settings.broker} (STREAMREC_BROKER): not reachable yet")  # fmt: skip
            told = True
        sleep(0.5)


def check_broker_access(brokers: Brokers, timeout_s: float = ACCESS_TIMEOUT_S) -> None:
    """One Kafka connection to the first bootstrap server that takes it, with the configured
    security and one request; CannotStart says what was refused and which setting to check."""
    problems = []
    for server in brokers.servers:
        try:
            run_before_faust(_connect(server, brokers), timeout_s)
            return
        except Exception as exc:
            problems.append(f"{server}: {_explain(exc, brokers, timeout_s)}")
    raise CannotStart(
        f"Kafka refused streamrec's connection ({brokers.security.describe()}): "
        + "; ".join(problems)
    )


async def _connect(server: str, brokers: Brokers) -> None:
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    host, _, port = server.rpartition(":")
    kwargs = brokers.security.client_kwargs()
    conn = await create_conn(host.strip("[]"), int(port), request_timeout_ms=10_000, **kwargs)
    try:
        await conn.send(MetadataRequest([]))  # a listener of another protocol fails here
    finally:
        conn.close()


def _explain(exc: BaseException, brokers: Brokers, timeout_s: float) -> str:
    """The refusal in words, and the settings that decide it."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    k = "STREAMREC_KAFKA_"
    protocol = f"{k}SECURITY_PROTOCOL={brokers.security.protocol}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"its TLS certificate was not accepted ({exc.verify_message}): check "
                f"{k}SSL_CAFILE (the CA that signed it) and that the host in STREAMREC_BROKER "
                f"is a name in the certificate ({k}SSL_CHECK_HOSTNAME)")  # fmt: skip
    if isinstance(exc, ssl.SSLError):
        return (f"the TLS handshake failed ({exc.reason or exc}): check that this is a TLS "
                f"listener and whether it wants a client certificate ({k}SSL_CERTFILE, "
                f"{k}SSL_KEYFILE)")  # fmt: skip
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g}s: does this listener expect {protocol}?"
    login = f"the SASL login as {brokers.security.username!r} ({brokers.security.sasl_mechanism})"
    if brokers.security.sasl and not isinstance(exc, KafkaConnectionError | OSError):
        # aiokafka reports a refused SCRAM login as a KeyError on the server's final message
        detail = str(exc) if isinstance(exc, KafkaError) else "refused"
        return (f"{login} failed ({detail}): check {k}SASL_USERNAME, {k}SASL_PASSWORD and "
                f"{k}SASL_MECHANISM")  # fmt: skip
    if isinstance(exc, KafkaConnectionError):
        if brokers.security.sasl:
            return (f"the broker closed the connection during {login}: check {protocol} (the "
                    f"listener's protocol) and {k}SASL_MECHANISM (one it offers)")  # fmt: skip
        return (f"the broker closed the connection: check {protocol} (a TLS or SASL listener "
                "closes plaintext connections)")  # fmt: skip
    return f"{type(exc).__name__}: {exc}"


def check_output_compacted(
    settings: Settings, brokers: Brokers, timeout_s: float, say: Callable[[str], None]
) -> None:
    """Say so when the output topic exists and is not compacted. It is the changelog of the
    latest table and (STATE_CHANGELOG=updates) of the users' states: with time retention
    only, a restore from scratch forgets the users idle for longer. Not fatal: the operator
    may mean it."""
    topic = settings.output_topic

    async def policy() -> str | None:
        if not await partition_counts(brokers, [topic]):
            return None  # the worker creates it compacted
        return await topic_config(brokers, topic, "cleanup.policy")

    try:
        found = run_before_faust(policy(), timeout_s)
    except Exception as exc:  # e.g. no DescribeConfigs right: advisory, so go on
        say(f"could not read the output topic's cleanup.policy ({type(exc).__name__}: {exc}); "
            "not checked")  # fmt: skip
        return
    if found is None or "compact" in found.split(","):
        return
    states, elsewhere = "the latest update", ""
    if settings.state_changelog == "updates":
        states = "the latest update and the state"
        elsewhere = ", or STREAMREC_STATE_CHANGELOG=topic to keep the states elsewhere"
    say(f"the output topic {topic} is not compacted (cleanup.policy={found}): a worker that "
        f"restores from scratch loses {states} of users idle longer than its retention; set "
        f"cleanup.policy=compact (or compact,delete){elsewhere}")  # fmt: skip


def _say(line: str) -> None:
    # Faust sets up logging only once its Worker runs; these lines come before that.
    print(f"streamrec: {line}", file=sys.stderr, flush=True)
