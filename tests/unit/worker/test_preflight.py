"""Start-up checks: the data directory is made (parents too) or refused clearly, and the
worker waits for the broker for BROKER_WAIT_S, then says which URL it tried."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.errors import CannotStart
from app.settings import Settings
from app.worker.preflight import check_web_port, prepare_data_dir, wait_for_broker
from devtools.net import free_port


def test_data_dir_is_created_with_its_parents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "var" / "data"
    prepare_data_dir(Settings(data_dir=target))
    assert target.is_dir()
    assert f"table state in {target}" in capsys.readouterr().err


def test_data_dir_under_a_file_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(CannotStart, match=r"STREAMREC_DATA_DIR=.*cannot be created"):
        prepare_data_dir(Settings(data_dir=tmp_path / "file" / "data"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waits_until_a_bootstrap_server_answers(capsys: pytest.CaptureFixture[str]) -> None:
    clock, tried = FakeClock(), []

    def reachable(host: str, port: int) -> bool:
        tried.append((host, port))
        return host == "b" and clock.now >= 2

    settings = Settings(broker="kafka://a:1;kafka://b:2", broker_wait_s=30)
    wait_for_broker(settings, reachable, clock, clock.sleep)
    assert clock.now == 2 and ("a", 1) in tried
    assert "waiting up to 30s for the Kafka broker at kafka://a:1;kafka://b:2" in (
        capsys.readouterr().err
    )


def test_gives_up_after_the_wait_naming_the_url() -> None:
    clock = FakeClock()
    settings = Settings(broker="kafka://nowhere:9", broker_wait_s=3)
    with pytest.raises(
        CannotStart, match="no Kafka broker answered at kafka://nowhere:9 within 3s"
    ):
        wait_for_broker(settings, lambda host, port: False, clock, clock.sleep)
    assert clock.now == 3


def test_a_taken_web_port_is_refused_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CannotStart, match=f"cannot listen on 127.0.0.1:{port} "
                           r"\(Address already in use\): .*STREAMREC_WEB_PORT"):  # fmt: skip
            check_web_port(Settings(web_bind="127.0.0.1", web_port=port))
    check_web_port(Settings(web_bind="127.0.0.1", web_port=port))  # free again


def test_a_taken_grpc_port_or_the_web_port_itself_is_refused() -> None:
    web = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(web_bind="127.0.0.1", web_port=web, grpc_port=port)
        with pytest.raises(CannotStart, match=r"gRPC server cannot listen.*STREAMREC_GRPC_PORT"):
            check_web_port(settings)
    with pytest.raises(CannotStart, match="both"):
        check_web_port(Settings(web_bind="127.0.0.1", web_port=web, grpc_port=web))
    check_web_port(Settings(web_bind="127.0.0.1", web_port=web, grpc_port=port))
