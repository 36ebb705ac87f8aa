"""The malformed-request corpus against the worker's real web app, in process: every request
gets its 4xx as JSON with an error naming the problem, never a 5xx or a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.main import build
from app.settings import Settings
from tests.support.malformed_requests import ADMIN_TOKEN, CORPUS, Malformed
from tests.support.paths import MODELS


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = Settings(store="memory://", data_dir=tmp_path, model_dir=MODELS,
                        admin_token=ADMIN_TOKEN)  # fmt: skip
    web_app = build(settings).app.web.web_app
    async with TestClient(TestServer(web_app)) as c:
        yield c


def test_the_corpus_is_big_enough_and_has_one_entry_per_name() -> None:
    assert len(CORPUS) >= 40
    assert len({m.name for m in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("bad", CORPUS, ids=[m.name for m in CORPUS])
async def test_each_malformed_request_gets_its_4xx_as_json(
    client: TestClient,
    bad: Malformed,
) -> None:
    body = bad.chunks() if bad.chunked else bad.body
    response = await client.request(bad.method, bad.path, data=body, headers=bad.headers)
    text = await response.text()
    assert response.status == bad.status, text
    assert response.content_type == "application/json", text
    error = msgspec.json.decode(text)["error"]
    assert isinstance(error, str) and len(error) > 10 and "Traceback" not in error
