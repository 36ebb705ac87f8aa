"""A batch's ranked answers encoded as the records it sends, and the state writes after them.

In input order: each event's update (its arm's top-K as a JSON ``Recommendation``), the
shadow's for the shadow topic, then each user's newest update for the latest stores and one
state write per user holding what the user was shown (what the user's next events are judged
against: ``prequential``).

With ``state_header``, each user's last update of the batch also carries the user's state
after the batch (header ``STATE_HEADER``): the output topic is then the state's changelog
too, one record per user and batch instead of two (``app.worker.user_states`` restores it).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from app.features.state import UserFeatureState
from app.inference.scorer import Scorer
from app.pipeline.apply import Applied
from app.pipeline.arms import Answer, Ranked
from app.pipeline.decode import InputRecord
from app.pipeline.result import BatchResult, LatestUpdate
from app.pipeline.store import StateWrite
from app.pipeline.variants import SHADOW, Arms
from app.records import Interaction, Recommendation, ScoredItem

__all__ = ["STATE_HEADER", "UpdateEncoder"]

STATE_HEADER = "streamrec-state"
"""Header of a user's last update of a batch: the user's feature state after the batch."""


class UpdateEncoder:
    """Builds a batch's updates, latest updates and state writes from its ranked rows."""

    def __init__(self, state_header: Callable[[UserFeatureState], bytes] | None = None) -> None:
        self._encode = msgspec.json.Encoder().encode
        self._state_header = state_header

    def emit(
        self,
        applied: Applied,
        ranked: dict[int, Ranked],
        shadow_ranked: dict[int, Answer],
        arms: Arms,
        result: BatchResult,
        now: float,
    ) -> list[StateWrite]:
        """Add the batch's updates and prequential counts to ``result``; the state writes."""
        last_out: dict[str, int] = {}
        latest = self._updates(applied, ranked, shadow_ranked, arms, result, now, last_out)
        result.quality = applied.prequential.quality
        # One state write and one latest update per user, attributed to the user's newest
        # record; users whose every event was a replay or a duplicate have nothing new.
        shown, shadow_shown = applied.prequential.shown, applied.prequential.shadow_shown
        writes = []
        for user_id, (value, answered) in latest.items():
            record, state = applied.newest[user_id]
            state = msgspec.structs.replace(
                state,
                recommended=shown[user_id],
                shadow_recommended=shadow_shown.get(user_id, state.shadow_recommended),
            )
            writes.append(StateWrite(user_id, record, state))
            result.latest.append(
                LatestUpdate(user_id, answered.partition, answered.offset, value, answered)
            )
        if self._state_header is not None:
            self._attach_states(self._state_header, applied, writes, last_out, result)
        return writes

    @staticmethod
    def _attach_states(
        dumps: Callable[[UserFeatureState], bytes],
        applied: Applied,
        writes: list[StateWrite],
        last_out: dict[str, int],
        result: BatchResult,
    ) -> None:
        """Each user's state after the batch, on the user's last update. A user whose events
        were all replays gets the stored state again: its update may be the one a compacted
        topic keeps, so it must carry the state too."""
        written = {w.user_id: w.state for w in writes}
        outputs = result.outputs
        for user_id, n in last_out.items():
            state = written.get(user_id)
            if state is None:  # a replay: the stored state
                state = applied.newest[user_id][1]
            key, value, _ = outputs[n]
            outputs[n] = (key, value, [(STATE_HEADER, dumps(state))])

    def _updates(
        self,
        applied: Applied,
        ranked: dict[int, Ranked],
        shadow_ranked: dict[int, Answer],
        arms: Arms,
        result: BatchResult,
        now: float,
        last_out: dict[str, int],
    ) -> dict[str, tuple[bytes, InputRecord]]:
        """The outputs and shadow updates in input order, each event judged before its own
        update is shown; each user's newest update (value, the record it answers). Notes in
        ``last_out`` the position of each user's last output."""
        prequential, replays, shadow = applied.prequential, applied.replays, arms.shadow
        # Users are sticky to an arm, so a user's earlier update came from the same one.
        valid = applied.valid
        variant_of = {valid[n][1].user_id: v for n, (v, _, _, _) in ranked.items()}
        latest: dict[str, tuple[bytes, InputRecord]] = {}
        for n, (record, interaction) in enumerate(valid):
            replay = n in replays
            user_id = interaction.user_id
            # A replay was judged when first read; a synthetic event (verify) is no user's
            # behaviour: the quality figures leave it out (it is served all the same).
            if not replay and not interaction.synthetic:
                prequential.judge(user_id, interaction.item_id, variant_of, shadow is not None)
            if shadow is not None and n in shadow_ranked:
                items, source = shadow_ranked[n]
                value = self._output(shadow, SHADOW, items, source, interaction, now)
                result.shadows.append((record.key, value, []))
                if not replay:
                    prequential.show_shadow(user_id, items)
            if n not in ranked:  # coalesced into the user's later event
                continue
            variant, scorer, items, source = ranked[n]
            value = self._output(scorer, variant, items, source, interaction, now)
            last_out[user_id] = len(result.outputs)
            result.outputs.append((record.key, value, []))
            result.updates_by_variant[variant] += 1
            result.latencies.append(max(0.0, now - record.timestamp))
            # A replayed record's update goes out again (its first copy may be lost) but
            # leaves the store alone: the latest update stays the newest event's.
            if not replay:
                prequential.show(user_id, items)
                latest[user_id] = (value, record)
        if shadow_ranked:
            result.updates_by_variant[SHADOW] += len(shadow_ranked)
        return latest

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
