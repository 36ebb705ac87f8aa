"""The batch core: one micro-batch of input records in, one ``BatchResult`` out.

Per batch, not per event: one store read per user, one model call per arm, one store write
per user. No Faust and no Kafka client here: the adapters hand records in, deliver the
result's records and acknowledge the batch only after that (at-least-once).

A batch that raises is tried again BATCH_RETRIES times; then its events go to the
dead-letter topic as ``processing_error`` (those rejected before keep their own reason), so
nothing is dropped and the stream goes on. The store is written only by an attempt that
succeeded, and replays are not applied twice, so a retry is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec

from app.errors import InvalidInteraction
from app.features.builders import state_fields
from app.features.state import UserFeatureState, apply, is_duplicate, is_replay
from app.inference.scorer import Scorer
from app.metrics import AppMetrics
from app.pipeline.arms import Answer, ArmRanker, Ranked, Row
from app.pipeline.by_item import by_item_records
from app.pipeline.decode import InputRecord, dead_letter, decode_record
from app.pipeline.degrade import Degradation
from app.pipeline.result import BatchResult, DeadLetterOut, LatestUpdate, Moved, Quality
from app.pipeline.routing import KeyRouting
from app.pipeline.store import StateStore, StateWrite
from app.records import Interaction, Recommendation, ScoredItem
from app.rollout.arms import SHADOW, Arms
from app.settings import Settings

__all__ = ["BatchConfig", "BatchCore"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchConfig:
    """The settings the core reads."""

    max_message_bytes: int = 65_536
    max_future_skew_s: float = 86_400.0
    coalesce: bool = False
    batch_retries: int = 2
    degrade_lag_s: float = 0.0
    trending: bool = False

    @classmethod
    def from_settings(cls, s: Settings) -> BatchConfig:
        return cls(s.max_message_bytes, s.max_future_skew_s, s.coalesce, s.batch_retries,
                   s.degrade_lag_s, s.trending)  # fmt: skip


class _Users:
    """Per user within one attempt: the newest (record, state) and the items shown before."""

    def __init__(self) -> None:
        self.newest: dict[str, tuple[InputRecord, UserFeatureState]] = {}
        self.shown: dict[str, tuple[str, ...]] = {}
        self.shadow_shown: dict[str, tuple[str, ...]] = {}


class BatchCore:
    """Decode, apply to the state, score per arm, build updates; retries and dead letters."""

    def __init__(
        self,
        config: BatchConfig,
        ranker: ArmRanker,
        metrics: AppMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        routing: KeyRouting | None = None,
    ) -> None:
        self.config = config
        self.routing = routing
        self.ranker = ranker
        self.metrics = metrics
        self.clock = clock
        self.sleep = sleep
        self.degradation = Degradation(config.degrade_lag_s)
        self._encode = msgspec.json.Encoder().encode

    async def process(
        self, records: Sequence[InputRecord], store: StateStore, arms: Arms
    ) -> BatchResult:
        """The batch's outputs, dead letters and counts; the store holds its state changes.

        With ``routing``, records on a partition their key does not belong to are not
        processed here but moved (``BatchResult.moved``)."""
        m, retries = self.metrics, self.config.batch_retries
        moved: list[Moved] = []
        if self.routing is not None:
            records, moved, misrouted = self.routing.split(records)
            for producer, count in misrouted.items():
                m.misrouted.labels(producer).inc(count)
            if not records:
                return BatchResult(moved=moved)
        m.events_in.inc(len(records))
        m.batch_size.observe(len(records))
        # Queue wait: from the records' timestamps (produce time) until their batch starts.
        now = self.clock()
        mean_ts = sum(r.timestamp for r in records) / max(1, len(records))
        m.stage_seconds.labels("queue").observe(max(0.0, now - mean_ts))
        degraded = self.degradation.observe(now - min(r.timestamp for r in records))
        m.degraded.set(degraded)
        if degraded:
            arms = arms._replace(shadow=None)
        for attempt in range(retries + 1):
            dead: dict[int, DeadLetterOut] = {}
            try:
                result = await self._attempt(records, store, arms, dead, degraded)
                break
            except Exception as exc:
                if attempt < retries:
                    m.batch_failures.labels("retried").inc()
                    delay = 0.5 * 2**attempt
                    logger.exception(
                        "batch of %d events failed; retrying in %.1fs", len(records), delay
                    )
                    await self.sleep(delay)
                    continue
                m.batch_failures.labels("dead_lettered").inc()
                logger.exception("batch of %d events failed; sending it to the DLQ", len(records))
                for n, record in enumerate(records):
                    if n not in dead:
                        dead[n] = dead_letter(record, exc)
                result = BatchResult()
        result.dead_letters = [dead[n] for n in sorted(dead)]
        result.moved = moved
        result.count_into(self.metrics)
        return result

    async def _attempt(
        self,
        records: Sequence[InputRecord],
        store: StateStore,
        arms: Arms,
        dead: dict[int, DeadLetterOut],
        degraded: bool = False,
    ) -> BatchResult:
        result = BatchResult()
        t0 = time.perf_counter()
        decoded = self._decode(records, dead)
        t1 = time.perf_counter()
        users = _Users()
        valid, states, replays = self._apply(decoded, store, users, dead, _reads_events(arms))
        t2 = time.perf_counter()
        result.stage_seconds = {"decode": t1 - t0, "state": t2 - t1}
        if not valid:
            return result
        if self.config.trending:
            result.by_item = by_item_records(valid, replays)
        # Which events get an update: all (the contract), or with COALESCE (or while
        # degraded) each user's last.
        emit: Sequence[int] = range(len(valid))
        if self.config.coalesce or degraded:
            emit = sorted({i.user_id: n for n, (_, i) in enumerate(valid)}.values())
            if not self.config.coalesce:
                result.coalesced = len(valid) - len(emit)
        rows: list[Row] = [(n, valid[n][1].user_id, states[n]) for n in emit]
        ranked = await self.ranker.rank(arms, rows, cached=not degraded)
        shadow_ranked = await self.ranker.rank_shadow(arms, rows)
        result.stage_seconds["inference"] = time.perf_counter() - t2
        writes = self._emit(valid, replays, ranked, shadow_ranked, arms, users, result)
        store.write_many(writes)
        result.writes = len(writes)
        return result

    def _decode(
        self, records: Sequence[InputRecord], dead: dict[int, DeadLetterOut]
    ) -> list[tuple[int, InputRecord, Interaction]]:
        c = self.config
        decoded = []
        for n, record in enumerate(records):
            try:
                interaction = decode_record(
                    record, max_bytes=c.max_message_bytes, max_future_skew_s=c.max_future_skew_s
                )
            except InvalidInteraction as exc:
                dead[n] = dead_letter(record, exc)
            else:
                decoded.append((n, record, interaction))
        return decoded

    def _apply(
        self,
        decoded: list[tuple[int, InputRecord, Interaction]],
        store: StateStore,
        users: _Users,
        dead: dict[int, DeadLetterOut],
        event_fields: bool,
    ) -> tuple[list[tuple[InputRecord, Interaction]], list[UserFeatureState], set[int]]:
        """Apply each event to its user's state: (valid events, state after each, replays).

        One store read per user; later events of a user in the batch see the earlier ones.
        Replays (positions in the valid events) get an update again but change nothing.
        """
        first: dict[str, InputRecord] = {}
        for _, record, interaction in decoded:
            first.setdefault(interaction.user_id, record)
        stored = store.read_many(list(first.items()))
        current: dict[str, UserFeatureState] = {}
        for user_id, state in zip(first, stored, strict=True):
            state = state or UserFeatureState()
            current[user_id] = state
            users.shown[user_id] = state.recommended
            users.shadow_shown[user_id] = state.shadow_recommended
        valid: list[tuple[InputRecord, Interaction]] = []
        states: list[UserFeatureState] = []
        replays: set[int] = set()
        for n, record, interaction in decoded:
            user_id = interaction.user_id
            state = current[user_id]
            if is_duplicate(state, interaction):
                dead[n] = dead_letter(record, _duplicate(interaction))
                users.newest.setdefault(user_id, (record, state))
                continue
            if is_replay(state, interaction):
                replays.add(len(valid))
            state = current[user_id] = apply(state, interaction, event_fields=event_fields)
            users.newest[user_id] = (record, state)
            valid.append((record, interaction))
            states.append(state)
        return valid, states, replays

    def _emit(
        self,
        valid: list[tuple[InputRecord, Interaction]],
        replays: set[int],
        ranked: dict[int, Ranked],
        shadow_ranked: dict[int, Answer],
        arms: Arms,
        users: _Users,
        result: BatchResult,
    ) -> list[StateWrite]:
        """Build the updates in input order, judge prequential quality, collect the writes.

        Each event is judged against the user's previous update (a user's second event in
        the batch against the first's); the shadow against its own, and only while it runs.
        """
        now = self.clock()
        shown, shadow_shown = users.shown, users.shadow_shown
        # Users are sticky to an arm, so a user's earlier update came from the same one.
        variant_of = {valid[n][1].user_id: v for n, (v, _, _, _) in ranked.items()}
        judged = (shown, shadow_shown) if arms.shadow is not None else (shown,)
        latest: dict[str, tuple[bytes, InputRecord]] = {}
        for n, (record, interaction) in enumerate(valid):
            replay = n in replays
            user_id = interaction.user_id
            if not replay:
                for seen_by in judged:
                    before = seen_by.get(user_id)
                    if before:
                        variant = SHADOW if seen_by is shadow_shown else variant_of[user_id]
                        quality = result.quality.setdefault(variant, Quality())
                        quality.events += 1
                        quality.hits += interaction.item_id in before
            if arms.shadow is not None and n in shadow_ranked:
                items, source = shadow_ranked[n]
                value = self._output(arms.shadow, SHADOW, items, source, interaction, now)
                result.shadows.append((record.key, value, []))
                if not replay:
                    shadow_shown[user_id] = tuple(i.item_id for i in items)
            if n not in ranked:  # coalesced into the user's later event
                continue
            variant, scorer, items, source = ranked[n]
            value = self._output(scorer, variant, items, source, interaction, now)
            result.outputs.append((record.key, value, []))
            result.updates_by_variant[variant] += 1
            result.latencies.append(max(0.0, now - record.timestamp))
            # A replayed record's update goes out again (its first copy may be lost) but
            # leaves the store alone: the latest update stays the newest event's.
            if not replay:
                shown[user_id] = tuple(i.item_id for i in items)
                latest[user_id] = (value, record)
        if shadow_ranked:
            result.updates_by_variant[SHADOW] += len(shadow_ranked)
        # One state write and one latest update per user, attributed to the user's newest
        # record; users whose every event was a replay or a duplicate have nothing new.
        writes = []
        for user_id, (value, answered) in latest.items():
            record, state = users.newest[user_id]
            state = msgspec.structs.replace(
                state,
                recommended=shown[user_id],
                shadow_recommended=shadow_shown.get(user_id, state.shadow_recommended),
            )
            writes.append(StateWrite(user_id, record, state))
            result.latest.append(
                LatestUpdate(user_id, answered.partition, answered.offset, value, answered)
            )
        return writes

    def _output(
        self,
        scorer: Scorer,
        variant: str,
        items: list[ScoredItem],
        source: str,
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
                source=source,
            )
        )


def _reads_events(arms: Arms) -> bool:
    """Does a model serving this batch read more of the state than the recent items?"""
    for scorer in (arms.main, arms.canary, arms.shadow):
        if scorer is not None:
            spec = scorer.manifest
            if set(state_fields(spec.feature_spec.builders(spec.inputs))) - {"recent"}:
                return True
    return False


def _duplicate(interaction: Interaction) -> InvalidInteraction:
    return InvalidInteraction(
        "duplicate_event",
        f"event id {interaction.event_id!r} was already applied for user "
        f"{interaction.user_id!r} (a record sent twice); it is not applied again",
    )
