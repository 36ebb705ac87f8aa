"""The recommend agent: take a micro-batch -> features -> one model call -> emit.

Per batch, not per event: one table read per user, one ``session.run``, one changelog write
per user and table, and one wait for all produced records. Offsets are acked by
``take_events`` only after the batch body returns, i.e. after every output and dead letter of
the batch was delivered (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import faust
import msgspec
from faust.types import EventT

from app.emit import BatchSender, OutRecord
from app.errors import InvalidInteraction, StreamrecError
from app.features import UserFeatureState, apply, is_duplicate, is_replay
from app.inference.batcher import rank_states
from app.inference.cache import PredictionCache
from app.inference.rollout import MAIN, SHADOW, Arms, Rollout
from app.inference.scorer import OnnxScorer
from app.ingest import RecordSource, dead_letter, decode_interaction
from app.metrics import AppMetrics
from app.records import Interaction, Recommendation, ScoredItem
from app.settings import Settings

__all__ = ["RecommendPipeline", "as_current_event"]

logger = logging.getLogger(__name__)


@contextmanager
def as_current_event(stream: faust.Stream[Any], event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` the current event while a table is read or written.

    Tables use the current event's partition: a write sends its changelog record there and a
    RocksDB read looks in that partition's database. Inside a ``take_events`` batch Faust
    has no current event (faust#300), so it is set per access. Afterwards this task's
    context is cleared, but the stream attribute gets its old value back: the stream's
    buffering task reads it for the event it is adding to the next batch.
    """
    previous = stream.current_event
    stream._set_current_event(event)
    try:
        yield
    finally:
        stream._set_current_event(None)
        stream.current_event = previous


class RecommendPipeline:
    """Everything the agent needs, wired once by ``app.main``."""

    def __init__(
        self,
        settings: Settings,
        features: faust.Table[str, UserFeatureState],
        latest: faust.Table[str, bytes],
        rollout: Rollout,
        metrics: AppMetrics,
        sender: BatchSender,
        cache: PredictionCache,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.cache = cache
        self.features = features
        self.latest = latest
        self.rollout = rollout
        self.model = rollout.main
        self.metrics = metrics
        self._encode = msgspec.json.Encoder().encode
        self._batch_started: float | None = None

    async def run(self, stream: faust.Stream[bytes]) -> None:
        """Agent body: load the model, then process micro-batches until the worker stops."""
        s = self.settings
        while not self.model.ready:
            # No model yet: stay up and unready (events wait in Kafka), retry until one loads.
            try:
                await self.model.load()
            except StreamrecError as exc:
                logger.error("cannot serve yet: %s; retrying in %.0fs", exc, s.model_retry_s)
                await asyncio.sleep(s.model_retry_s)
        await self.rollout.load_candidates()
        await self.sender.start()
        try:
            async for events in stream.take_events(s.max_batch, within=s.max_wait_ms / 1000):
                await self.process_batch(stream, events)
        finally:
            await self.sender.stop()
            await self.cache.close()

    def stalled_for(self) -> float:
        """Seconds the batch in progress has been running (0 when none is)."""
        started = self._batch_started
        return 0.0 if started is None else time.monotonic() - started

    async def process_batch(
        self, stream: faust.Stream[bytes], events: Sequence[EventT[Any]]
    ) -> None:
        """Decode, update state, score and emit one batch; a failure sends it to the DLQ."""
        self._batch_started = time.monotonic()
        try:
            await self._process_batch(stream, events)
        finally:
            self._batch_started = None

    async def _process_batch(
        self, stream: faust.Stream[bytes], events: Sequence[EventT[Any]]
    ) -> None:
        s, m = self.settings, self.metrics
        m.events_in.inc(len(events))
        m.batch_size.observe(len(events))
        # Queue wait: from the records' timestamps (produce time) until their batch starts.
        stamps = [e.message.timestamp for e in events]
        m.stage_seconds.labels("queue").observe(max(0.0, time.time() - sum(stamps) / len(stamps)))
        outputs: list[OutRecord] = []
        shadows: list[OutRecord] = []
        dead: dict[int, tuple[str, OutRecord]] = {}
        for attempt in range(s.batch_retries + 1):
            outputs.clear()
            shadows.clear()
            dead.clear()
            try:
                await self._process(stream, events, outputs, shadows, dead)
                break
            except Exception as exc:
                # Tables are written last and replays are not applied twice, so a retry
                # after a partial write is safe.
                if attempt < s.batch_retries:
                    m.batch_failures.labels("retried").inc()
                    delay = 0.5 * 2**attempt
                    logger.exception(
                        "batch of %d events failed; retrying in %.1fs", len(events), delay
                    )
                    await asyncio.sleep(delay)
                    continue
                # Never kill the agent nor ack the batch silently: the events go to the DLQ;
                # those already rejected keep their own reason.
                m.batch_failures.labels("dead_lettered").inc()
                logger.exception("batch of %d events failed; sending it to the DLQ", len(events))
                outputs.clear()
                shadows.clear()
                for n, event in enumerate(events):
                    if n not in dead:
                        dead[n] = self._dead_letter(event, exc)
        letters = []
        for n in sorted(dead):
            reason, letter = dead[n]
            m.dead_letters.labels(reason).inc()
            letters.append(letter)
        t0 = time.perf_counter()
        await self._deliver(outputs, letters, shadows)
        m.stage_seconds.labels("produce").observe(time.perf_counter() - t0)

    async def _deliver(
        self, outputs: list[OutRecord], dead: list[OutRecord], shadows: list[OutRecord]
    ) -> None:
        """Deliver the batch's records before take_events acks it (at-least-once).

        Failures are retried until they pass: raising here would let Faust ack the batch
        and restart the agent, losing its outputs. A stuck worker shows in the logs, the
        ``produce_errors`` metric and, after STALL_TIMEOUT_S, a failing /health/live; records
        delivered before a retry may be sent twice.
        """
        s = self.settings
        backoff = 0.2
        while True:
            try:
                futures = await self.sender.send_many(s.output_topic, outputs)
                futures += await self.sender.send_many(s.dlq_topic, dead)
                futures += await self.sender.send_many(s.shadow_topic, shadows)
                await asyncio.gather(*futures)
                return
            except Exception:
                self.metrics.produce_errors.inc()
                logger.exception("cannot deliver %d records; retrying in %.1fs",
                                 len(outputs) + len(dead), backoff)  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _process(
        self,
        stream: faust.Stream[bytes],
        events: Sequence[EventT[Any]],
        outputs: list[OutRecord],
        shadows: list[OutRecord],
        dead: dict[int, tuple[str, OutRecord]],
    ) -> None:
        """Fill ``outputs``, ``shadows`` and ``dead`` (by position in the batch) and update
        the tables."""
        s, m = self.settings, self.metrics
        t0 = time.perf_counter()
        decoded: list[tuple[int, EventT[Any], Interaction]] = []
        for n, event in enumerate(events):
            msg = event.message
            source = RecordSource(msg.topic, msg.partition, msg.offset, msg.timestamp)
            try:
                interaction = decode_interaction(
                    msg.key,
                    msg.value,
                    source,
                    max_bytes=s.max_message_bytes,
                    max_future_skew_s=s.max_future_skew_s,
                )
            except InvalidInteraction as exc:
                dead[n] = self._dead_letter(event, exc)
            else:
                decoded.append((n, event, interaction))
        t1 = time.perf_counter()
        m.stage_seconds.labels("decode").observe(t1 - t0)

        # State: one table read per user; later events of a user in the batch see earlier ones.
        # ``shown``: each user's latest recommended items, from the table, then this batch's
        # (``shadow_shown``: the same for the shadow arm).
        shown: dict[str, tuple[str, ...]] = {}
        shadow_shown: dict[str, tuple[str, ...]] = {}
        newest: dict[str, tuple[EventT[Any], UserFeatureState]] = {}
        valid: list[tuple[EventT[Any], Interaction]] = []
        states: list[UserFeatureState] = []
        replays: set[int] = set()  # positions in ``valid``
        for n, event, interaction in decoded:
            user_id = interaction.user_id
            prev = newest.get(user_id)
            if prev is not None:
                state = prev[1]
            else:
                with as_current_event(stream, event):
                    state = self.features.get(user_id) or UserFeatureState()
                shown[user_id] = state.recommended
                shadow_shown[user_id] = state.shadow_recommended
            if is_duplicate(state, interaction):
                dead[n] = self._dead_letter(event, _duplicate(interaction))
                newest.setdefault(user_id, (event, state))
                continue
            if is_replay(state, interaction):
                replays.add(len(valid))
            state = apply(state, interaction)
            newest[user_id] = (event, state)
            valid.append((event, interaction))
            states.append(state)
        t2 = time.perf_counter()
        m.stage_seconds.labels("state").observe(t2 - t1)
        if not valid:
            return

        # One snapshot of the arms for the whole batch: a reload lands between batches.
        arms = self.rollout.arms()
        # Which events get an update: all (the contract), or with COALESCE each user's last.
        emit: Sequence[int] = range(len(valid))
        if s.coalesce:
            emit = sorted({i.user_id: n for n, (_, i) in enumerate(valid)}.values())
        rows = [(n, valid[n][1].user_id, states[n]) for n in emit]
        ranked = await self._rank(arms, rows)
        shadow_ranked = await self._rank_shadow(arms, rows)
        # Users are sticky to an arm, so a user's earlier update came from the same one.
        user_variant = {user_id: ranked[n][0] for n, user_id, _ in rows}
        t3 = time.perf_counter()
        m.stage_seconds.labels("inference").observe(t3 - t2)

        now = time.time()
        latest_value: dict[str, bytes] = {}
        # Prequential quality: was each event's item in the user's previous update? Walked in
        # input order, so a user's second event in the batch is judged by the first's update.
        # The shadow arm is judged against its own previous update, and only while it runs.
        eligible: dict[str, int] = {}
        hits: dict[str, int] = {}
        judged = (shown, shadow_shown) if arms.shadow is not None else (shown,)
        for n, (event, interaction) in enumerate(valid):
            replay = n in replays
            user_id = interaction.user_id
            if not replay:
                for seen_by in judged:
                    before = seen_by.get(user_id)
                    if before:
                        variant = SHADOW if seen_by is shadow_shown else user_variant[user_id]
                        eligible[variant] = eligible.get(variant, 0) + 1
                        hits[variant] = hits.get(variant, 0) + (interaction.item_id in before)
            if arms.shadow is not None and n in shadow_ranked:
                shadow_items = shadow_ranked[n]
                shadows.append(
                    (event.message.key, self._output(arms.shadow, SHADOW, shadow_items,
                                                     interaction, now), [])
                )  # fmt: skip
                if not replay:
                    shadow_shown[user_id] = tuple(i.item_id for i in shadow_items)
            if n not in ranked:  # coalesced into the user's later event
                continue
            variant, scorer, items = ranked[n]
            value = self._output(scorer, variant, items, interaction, now)
            outputs.append((event.message.key, value, []))
            m.end_to_end_seconds.observe(max(0.0, now - event.message.timestamp))
            # A replayed record's update goes out again (its first copy may be lost) but
            # leaves the tables alone: the latest update stays the newest event's.
            if not replay:
                shown[interaction.user_id] = tuple(i.item_id for i in items)
                latest_value[interaction.user_id] = value
        # One changelog write per user and table, attributed to the user's newest event;
        # users whose every event was a replay or a duplicate have nothing new to write.
        for user_id, value in latest_value.items():
            event, state = newest[user_id]
            state = msgspec.structs.replace(
                state,
                recommended=shown[user_id],
                shadow_recommended=shadow_shown.get(user_id, state.shadow_recommended),
            )
            with as_current_event(stream, event):
                self.features[user_id] = state
                self.latest[user_id] = value
        m.recommendations_out.inc(len(ranked))
        for variant, count in Counter(v for v, _, _ in ranked.values()).items():
            m.variant_updates.labels(variant).inc(count)
        if shadow_ranked:
            m.variant_updates.labels(SHADOW).inc(len(shadow_ranked))
        for variant, count in eligible.items():
            m.prequential_events.labels(variant).inc(count)
            m.prequential_hits.labels(variant).inc(hits[variant])

    def _output(
        self,
        scorer: OnnxScorer,
        variant: str,
        items: list[ScoredItem],
        interaction: Interaction,
        now: float,
    ) -> bytes:
        return self._encode(
            Recommendation(
                user_id=interaction.user_id,
                items=items,
                model=scorer.name,
                model_version=scorer.version,
                variant=variant,
                event_id=interaction.event_id,
                event_ts=interaction.ts,
                emitted_ts=now,
            )
        )

    async def _rank(
        self, arms: Arms, rows: list[tuple[int, str, UserFeatureState]]
    ) -> dict[int, tuple[str, OnnxScorer, list[ScoredItem]]]:
        """Top-K per row, one model call per arm: row -> (variant, scorer, items).

        A canary that fails gives its rows to the main model (counted as its error): the
        candidate must never cost an update. The main model failing fails the batch.
        """
        groups: dict[str, list[tuple[int, UserFeatureState]]] = {}
        for n, user_id, state in rows:
            groups.setdefault(arms.variant_of(user_id), []).append((n, state))
        ranked: dict[int, tuple[str, OnnxScorer, list[ScoredItem]]] = {}
        for variant, group in groups.items():
            scorer = arms.scorer(variant)
            try:
                items = await self._rank_with(variant, scorer, group)
            except Exception:
                if variant == MAIN:
                    raise
                logger.exception("%s %s/%s failed on %d rows; the main model answers them",
                                 variant, scorer.name, scorer.version, len(group))  # fmt: skip
                variant, scorer = MAIN, arms.main
                items = await self._rank_with(variant, scorer, group)
            for (n, _), row_items in zip(group, items, strict=True):
                ranked[n] = (variant, scorer, row_items)
        return ranked

    async def _rank_shadow(
        self, arms: Arms, rows: list[tuple[int, str, UserFeatureState]]
    ) -> dict[int, list[ScoredItem]]:
        """The shadow arm's top-K for the same rows; empty without a shadow or on its failure."""
        if arms.shadow is None:
            return {}
        try:
            items = await self._rank_with(SHADOW, arms.shadow, [(n, st) for n, _, st in rows])
        except Exception:
            logger.exception("shadow %s/%s failed on %d rows; no shadow updates for them",
                             arms.shadow.name, arms.shadow.version, len(rows))  # fmt: skip
            return {}
        return {n: row_items for (n, _, _), row_items in zip(rows, items, strict=True)}

    async def _rank_with(
        self, variant: str, scorer: OnnxScorer, rows: list[tuple[int, UserFeatureState]]
    ) -> list[list[ScoredItem]]:
        """Top-K per row in one model call; with CACHE_IN_STREAM, cache hits skip the model."""
        k, m = self.settings.top_k, self.metrics
        t0 = time.perf_counter()
        try:
            if self.settings.cache_in_stream:
                ranked = await self.cache.rank(scorer, [(state, k) for _, state in rows])
            else:
                ranked = await rank_states(scorer, [state for _, state in rows], k)
        except Exception:
            m.variant_errors.labels(variant).inc()
            raise
        m.variant_inference_seconds.labels(variant).observe(time.perf_counter() - t0)
        return ranked

    def _dead_letter(self, event: EventT[Any], error: BaseException) -> tuple[str, OutRecord]:
        msg = event.message
        source = RecordSource(msg.topic, msg.partition, msg.offset, msg.timestamp)
        letter = dead_letter(msg.key, msg.value, source, error)
        reason = error.reason if isinstance(error, InvalidInteraction) else "processing_error"
        logger.warning(
            "dead letter %s-%d-%d: %s: %s", msg.topic, msg.partition, msg.offset, reason, error
        )
        return reason, (letter.key, letter.value, letter.headers)


def _duplicate(interaction: Interaction) -> InvalidInteraction:
    return InvalidInteraction(
        "duplicate_event",
        f"event id {interaction.event_id!r} was already applied for user "
        f"{interaction.user_id!r} (a record sent twice); it is not applied again",
    )
