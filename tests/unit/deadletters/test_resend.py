"""The redrive's sender: its records go out as the worker's own, STREAMREC_COMPRESSION
included (consumers of the input topic read what producers and the redrive write alike)."""

from __future__ import annotations

from typing import Any

import pytest

from app.deadletters import resend as resend_module
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner


async def test_the_redrive_sends_with_the_configured_compression(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[dict[str, Any]] = []

    class Sender:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(kwargs)

        async def start(self) -> None:
            pass

        async def stop(self) -> None:
            pass

    async def topics_exist(*args: Any) -> None:
        pass

    monkeypatch.setattr(resend_module, "ensure_topics", topics_exist)
    monkeypatch.setattr(resend_module, "BatchSender", Sender)
    sent = await resend_module.resend(
        Brokers(["127.0.0.1:1"]), [], dlq_topic="in.dlq", input_topic="in",
        partitioner=KeyPartitioner("murmur2"), compression="zstd",
    )  # fmt: skip
    assert sent == 0 and made == [{"max_request_bytes": 32 << 20, "compression_type": "zstd"}]
