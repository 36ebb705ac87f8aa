"""Faust CLI commands: ``faust -A app broker | replay | train``."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

from faust.cli import AppCommand, option

from app.broker import EmbeddedBroker
from app.main import app
from app.settings import get_settings

__all__ = ["broker", "replay", "train"]

logger = logging.getLogger(__name__)


@app.command(
    option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on."),
    option("--port", default=9092, type=int, show_default=True, help="Port to listen on."),
)
async def broker(self: AppCommand, host: str, port: int) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory only) until Ctrl-C."""
    with EmbeddedBroker(host, port):
        self.say(f"broker ready: kafka://{host}:{port}  (memory only; Ctrl-C stops it)")
        await asyncio.Event().wait()


@app.command(
    option("--rate", default=1000.0, type=float, show_default=True,
           help="Events per second (0 = as fast as possible)."),
    option("--count", default=0, type=int, help="Stop after this many events (0 = all)."),
    option("--users", default="", help="Only these user ids (comma separated)."),
    option("--sample-users", default=0, type=int,
           help="Only a random sample of this many users (seeded)."),
    option("--seed", default=0, type=int, show_default=True, help="Seed for --sample-users."),
    option("--no-progress", is_flag=True, default=False, help="No progress bar."),
)  # fmt: skip
async def replay(
    self: AppCommand,
    rate: float,
    count: int,
    users: str,
    sample_users: int,
    seed: int,
    no_progress: bool,
) -> None:
    """Produce MovieLens-100k interactions to the input topic in timestamp order."""
    from app.movielens import load_ratings
    from app.replay import replay as run_replay
    from app.topics import ensure_topics

    s = get_settings()
    ratings = load_ratings()
    if users:
        wanted = {u.strip() for u in users.split(",") if u.strip()}
        ratings = [r for r in ratings if r.user_id in wanted]
    if sample_users:
        all_users = sorted({r.user_id for r in ratings}, key=int)
        chosen = set(random.Random(seed).sample(all_users, min(sample_users, len(all_users))))
        ratings = [r for r in ratings if r.user_id in chosen]
    if count:
        ratings = ratings[:count]
    await ensure_topics(
        s.bootstrap_servers, [s.input_topic, s.output_topic, s.dlq_topic], s.partitions
    )
    sent = await run_replay(
        ratings,
        bootstrap_servers=s.bootstrap_servers,
        topic=s.input_topic,
        rate=rate,
        progress=not no_progress,
    )
    self.say(f"replayed {sent} interactions to {s.input_topic}")


@app.command(
    option("--model-dir", default=None, help="Registry root (default STREAMREC_MODEL_DIR)."),
    option("--name", default="itemsvd", show_default=True, help="Model name."),
)
async def train(self: AppCommand, model_dir: str | None, name: str) -> None:
    """Train the model on MovieLens-100k and write the next version into the registry."""
    from app.training.train import train_itemsvd

    root = Path(model_dir) if model_dir else get_settings().model_dir
    path = await asyncio.to_thread(train_itemsvd, root, name)
    self.say(f"wrote {path}")
