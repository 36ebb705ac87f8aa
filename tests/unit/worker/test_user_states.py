"""Restoring users' states: from the updates' headers, from the features changelog, newest kept."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest
from faust.types import Message

from app.features.state import UserFeatureState
from app.pipeline.encode import STATE_HEADER
from app.worker.codecs import StructCodec
from app.worker.faust_compat import current_message, raw_key_table
from app.worker.user_states import FeaturesTable, StatesFromUpdates, TappedTable

CODEC = StructCodec(UserFeatureState)


def state(n_events: int, *recent: str) -> UserFeatureState:
    return UserFeatureState(recent=recent, n_events=n_events)


def event(
    topic: str, partition: int, offset: int, key: str, value: Any, headers: Any = None
) -> Any:
    """A changelog event as Faust's recovery hands it to a table: the message's raw bytes,
    and the key and value its topic decoded."""
    raw = CODEC.dumps(value) if isinstance(value, UserFeatureState) else value
    message = Message(topic, partition, offset, 0.0, 0, headers, key.encode(), raw, None)
    return SimpleNamespace(key=key, value=value, message=message)


@pytest.fixture
def tables() -> tuple[FeaturesTable, TappedTable]:
    app = faust.App("user-states-test", store="memory://", autodiscover=False)
    features = cast(FeaturesTable, raw_key_table(
        app, "features", 4, CODEC, "features", table_type=FeaturesTable,
    ))  # fmt: skip
    features.codec = CODEC
    latest = cast(TappedTable, raw_key_table(
        app, "latest", 4, "raw", "latest", changelog="recommendations", table_type=TappedTable,
    ))  # fmt: skip
    latest.tap = StatesFromUpdates(cast(Any, features), CODEC)
    return features, latest


def stored(features: FeaturesTable, user: str, partition: int) -> UserFeatureState | None:
    with current_message(SimpleNamespace(topic="t", partition=partition, offset=0)):
        return cast(UserFeatureState | None, features.data.get(user))


def put(features: FeaturesTable, user: str, partition: int, value: UserFeatureState) -> None:
    with current_message(SimpleNamespace(topic="t", partition=partition, offset=0)):
        features.data[user] = value


def update(offset: int, user: str, header: bytes | None, partition: int = 2) -> Any:
    headers = [] if header is None else [(STATE_HEADER, header)]
    return event("recommendations", partition, offset, user, b'{"items": []}', headers)


def test_the_latest_tables_restore_writes_each_headers_state_into_the_features_store(
    tables: tuple[FeaturesTable, TappedTable],
) -> None:
    features, latest = tables
    latest.apply_changelog_batch([
        update(0, "a", CODEC.dumps(state(1, "x"))),
        update(1, "b", None),  # an update without a state (an earlier one of the batch)
        update(2, "a", CODEC.dumps(state(2, "x", "y"))),
    ])  # fmt: skip
    assert stored(features, "a", 2) == state(2, "x", "y")
    assert stored(features, "b", 2) is None
    assert latest.data["a"] == b'{"items": []}'  # the latest table itself restores as before


def test_a_state_older_than_the_stored_one_is_not_restored_over_it(
    tables: tuple[FeaturesTable, TappedTable],
) -> None:
    # After STATE_CHANGELOG changed, both sources hold states, restored in no set order.
    features, latest = tables
    put(features, "a", 2, state(5, "v"))
    latest.apply_changelog_batch([update(0, "a", CODEC.dumps(state(3, "old")))])
    assert stored(features, "a", 2) == state(5, "v")

    features.apply_changelog_batch([
        event("streamrec-features-changelog", 2, 0, "a", state(4, "older")),
        event("streamrec-features-changelog", 2, 1, "b", state(1, "new")),
    ])  # fmt: skip
    assert stored(features, "a", 2) == state(5, "v")
    assert stored(features, "b", 2) == state(1, "new")

    latest.apply_changelog_batch([update(1, "a", CODEC.dumps(state(5, "same count")))])
    assert stored(features, "a", 2) == state(5, "same count")  # as many events: the later


def test_a_state_header_that_does_not_decode_is_skipped_with_a_warning(
    tables: tuple[FeaturesTable, TappedTable], caplog: pytest.LogCaptureFixture
) -> None:
    features, latest = tables
    with caplog.at_level(logging.WARNING):
        latest.apply_changelog_batch([
            update(7, "a", b"\xc1 not msgpack"), update(8, "b", CODEC.dumps(state(1, "z"))),
        ])  # fmt: skip
    assert stored(features, "a", 2) is None and stored(features, "b", 2) == state(1, "z")
    assert "recommendations partition 2 offset 7" in caplog.text
