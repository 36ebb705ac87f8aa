"""The framework-overhead reference: the same pipeline as a plain aiokafka loop.

consume (getmany) -> decode -> state (a dict) -> score (one run per poll) -> produce.
Run as ``python -m devtools.bench.reference BOOTSTRAP INPUT OUTPUT COUNT`` (in its own
process, like a worker, so CPU and memory are measured the same way).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.errors import InvalidInteraction
from app.features.state import UserFeatureState, apply
from app.inference.batcher import merge, split_top_k
from app.inference.registry import ModelRegistry
from app.pipeline.decode import RecordSource, decode_interaction
from app.records import Interaction, Recommendation
from app.settings import get_settings

__all__ = ["reference_loop"]


async def reference_loop(bootstrap: str, input_topic: str, output_topic: str, count: int) -> None:
    """Process ``count`` records of ``input_topic`` from the start, then return."""
    s = get_settings()
    scorer = ModelRegistry(s.model_dir).load(s.model_name)
    encode = msgspec.json.Encoder().encode
    # The worker's fetch wait, so latency compares like with like (aiokafka's 500 ms default
    # is what the embedded broker would hold every fetch for).
    consumer = AIOKafkaConsumer(
        input_topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
        fetch_max_wait_ms=s.fetch_max_wait_ms,
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await consumer.start()
    await producer.start()
    states: dict[str, UserFeatureState] = {}
    done = 0
    try:
        while done < count:
            polled = await consumer.getmany(timeout_ms=50, max_records=s.max_batch)
            records = [r for batch in polled.values() for r in batch]
            if not records:
                continue
            done += len(records)
            valid: list[Interaction] = []
            batch_states: list[UserFeatureState] = []
            for r in records:
                src = RecordSource(r.topic, r.partition, r.offset, r.timestamp / 1000)
                try:
                    it = decode_interaction(
                        r.key, r.value, src, max_bytes=s.max_message_bytes,
                        max_future_skew_s=s.max_future_skew_s,
                    )  # fmt: skip
                except InvalidInteraction:
                    continue
                state = apply(states.get(it.user_id) or UserFeatureState(), it)
                states[it.user_id] = state
                valid.append(it)
                batch_states.append(state)
            model_batch = merge(batch_states, scorer)
            scores = await scorer.score_async(model_batch.inputs)
            ranked = split_top_k(scores, model_batch, scorer, s.top_k)
            now = time.time()
            pending = []
            for it, items in zip(valid, ranked, strict=True):
                value = encode(
                    Recommendation(it.user_id, items, scorer.name, scorer.version, "main",
                                   it.event_id, it.ts, now)
                )  # fmt: skip
                pending.append(await producer.send(output_topic, value, key=it.user_id.encode()))
            await asyncio.gather(*pending)
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    bootstrap_arg, input_arg, output_arg, count_arg = sys.argv[1:5]
    asyncio.run(reference_loop(bootstrap_arg, input_arg, output_arg, int(count_arg)))
    # Own figures on stdout: the runner cannot read /proc of a process that has exited.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(msgspec.json.encode({"cpu_s": cpu, "peak_rss": usage.ru_maxrss * 1024}).decode())
