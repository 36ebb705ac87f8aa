"""Fixtures for integration tests: the session's embedded broker and deployments on it.

The helpers behind them (Deployment, RedisServer, TcpProxy, wait_for...) live in tests/support/.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from devtools.broker import EmbeddedBroker
from devtools.net import free_port
from tests.support.demo import DemoRun
from tests.support.deployment import Deployment
from tests.support.movielens import MovieLensSlice, movielens_records
from tests.support.redis_server import RedisServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ (a conftest's pytestmark marks nothing)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker("127.0.0.1", free_port(), log=log) as b:
        yield b


@pytest.fixture
async def deployment_factory(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[Callable[..., Deployment]]:
    """Make deployments (``extra_env`` overrides settings; ``default_model``: serve what a
    worker serves by default, not the light model); all their workers stop after."""
    made: list[Deployment] = []

    def make(default_model: bool = False, **extra_env: str) -> Deployment:
        ns = uuid.uuid4().hex[:8]
        d = Deployment(broker, tmp_path / ns, ns, extra_env, default_model)
        made.append(d)
        return d

    yield make
    for d in made:
        for w in d.workers:
            w.stop()


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[Callable[..., DemoRun]]:
    """Start ``faust -A app demo *args`` (own directory and process group, free ports);
    after the test nothing it started is left running, whatever it did."""
    made: list[DemoRun] = []

    def make(*args: str) -> DemoRun:
        made.append(DemoRun(tmp_path / f"demo{len(made)}", *args))
        return made[-1]

    yield make
    for run in made:
        run.kill_everything()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def movielens_slice() -> MovieLensSlice:
    """``make(users, per_user, seed=7)``: real ml-100k events of a seeded sample of users, in
    time order, each with an event id, as (key, value) records."""
    return movielens_records
