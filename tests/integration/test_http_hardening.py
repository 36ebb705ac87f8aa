"""The HTTP surface of a running worker under hostile input: the malformed-request corpus gets
its 4xx as JSON while the worker keeps processing, and a request forwarded to a worker that
does not answer gets a 503 within FORWARD_TIMEOUT_S."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import aiohttp
import msgspec
from yarl import URL

from app.training.train import catalogue
from devtools.net import http_get
from devtools.verify.check import make_traffic
from tests.support.deployment import Deployment
from tests.support.malformed_requests import ADMIN_TOKEN, CORPUS
from tests.support.paths import MODELS
from tests.support.waiting import wait_for

ITEMS = catalogue()


async def test_the_corpus_gets_4xx_json_and_the_worker_keeps_processing(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory(STREAMREC_MODEL_DIR=str(MODELS), STREAMREC_ADMIN_TOKEN=ADMIN_TOKEN)
    await d.create_topics()
    worker = await asyncio.to_thread(d.start_worker)
    sending = asyncio.create_task(d.verify(make_traffic(20, 10, ITEMS), rate=100))
    wrong = []
    async with aiohttp.ClientSession() as http:
        for bad in CORPUS:
            url = URL(worker.web_url + bad.path, encoded=True)  # as typed: %ff stays %ff
            body = bad.chunks() if bad.chunked else bad.body
            async with http.request(bad.method, url, data=body, headers=bad.headers) as r:
                text = await r.text()
                is_json = r.content_type == "application/json"
                if r.status != bad.status or not is_json or "error" not in text:
                    wrong.append(f"{bad.name}: {r.status} {r.content_type} {text[:200]}")
    assert wrong == []
    report = await sending  # traffic sent meanwhile: all of it processed, nothing lost
    assert report.ok, report.summary()
    assert http_get(worker.web_url + "/health/live")[0] == 200
    assert "Traceback" not in worker.log.read_text(errors="replace")


async def test_a_forward_to_a_worker_that_does_not_answer_is_a_503_in_time(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory(STREAMREC_MODEL_DIR=str(MODELS), STREAMREC_FORWARD_TIMEOUT_S="1",
                           STREAMREC_SESSION_TIMEOUT_S="30")  # fmt: skip
    await d.create_topics()
    first = await asyncio.to_thread(d.start_worker)
    second = await asyncio.to_thread(d.start_worker)
    traffic = make_traffic(24, 2, ITEMS)
    report = await d.verify(traffic, rate=200)
    assert report.ok, report.summary()
    users = sorted(traffic.valid)

    def everyone_answered_by_first() -> bool:  # both own partitions and know who owns what
        return all(http_get(f"{first.web_url}/recommendations/{u}/")[0] == 200 for u in users)

    assert await asyncio.to_thread(wait_for, everyone_answered_by_first, 60)
    assert second.process is not None
    os.kill(second.process.pid, signal.SIGSTOP)  # up, holding its partitions, answering nothing
    try:
        statuses, slowest = {}, 0.0
        for user in users:
            start = time.monotonic()
            status, body = await asyncio.to_thread(
                http_get, f"{first.web_url}/recommendations/{user}/"
            )
            slowest = max(slowest, time.monotonic() - start)
            statuses[user] = status
            if status != 200:
                assert status == 503 and "retry" in msgspec.json.decode(body)["error"], body
        assert 200 in statuses.values() and 503 in statuses.values(), statuses
        assert slowest < 10, slowest  # FORWARD_TIMEOUT_S=1, not aiohttp's 5 minutes
    finally:
        os.kill(second.process.pid, signal.SIGCONT)
