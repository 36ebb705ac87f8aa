"""The features table's value codec: compact arrays, and the maps earlier versions wrote."""

from __future__ import annotations

import msgspec
import pytest
from faust.exceptions import ValueDecodeError
from faust.serializers.registry import Registry

from app.features.state import UserFeatureState, apply
from app.records import Interaction
from app.worker.codecs import StructCodec


def state_after(events: int) -> UserFeatureState:
    """A user's state as the stream leaves it: every field set, and what the user was shown."""
    state = UserFeatureState()
    for n in range(events):
        event = Interaction(
            user_id="u1", item_id=f"i{n % 7}", event="rate", rating=n % 5 + 0.5,
            ts=1_700_000_000.0 + n, event_id=f"e{n}", partition=2, offset=100 + n,
        )  # fmt: skip
        state = apply(state, event)
    return msgspec.structs.replace(
        state, recommended=tuple(f"r{n}" for n in range(10)), shadow_recommended=("s1",)
    )


class Before(msgspec.Struct, frozen=True):
    items: tuple[str, ...]
    n: int = 0


class After(msgspec.Struct, frozen=True):
    items: tuple[str, ...]
    n: int = 0
    ratings: tuple[float, ...] = ()
    counts: dict[str, int] = {}


def test_a_state_round_trips_as_an_array_without_field_names() -> None:
    codec = StructCodec(UserFeatureState)
    state = state_after(20)
    encoded = codec.dumps(state)
    fields = msgspec.msgpack.decode(encoded)
    assert isinstance(fields, list) and len(fields) == len(msgspec.structs.fields(state))
    assert len(encoded) < len(msgspec.msgpack.encode(state))
    assert codec.loads(encoded) == state


def test_an_empty_state_round_trips() -> None:
    codec = StructCodec(UserFeatureState)
    assert codec.loads(codec.dumps(UserFeatureState())) == UserFeatureState()


@pytest.mark.parametrize("events", [0, 1, 200])
def test_a_state_written_with_field_names_by_an_earlier_version_still_decodes(
    events: int,
) -> None:
    state = state_after(events)
    assert StructCodec(UserFeatureState).loads(msgspec.msgpack.encode(state)) == state


def test_a_state_written_before_fields_were_appended_decodes_with_their_defaults() -> None:
    assert StructCodec(After).loads(StructCodec(Before).dumps(Before(("a",), 3))) == After(
        ("a",), 3
    )
    state = state_after(3)
    shorter = msgspec.msgpack.encode(msgspec.structs.astuple(state)[:-3])
    assert StructCodec(UserFeatureState).loads(shorter) == msgspec.structs.replace(
        state, recent_ratings=(), recent_events="", recent_ts=()
    )


def test_an_older_version_reads_a_longer_array_without_the_appended_fields() -> None:
    # A rollback: the previous version reads what the new one wrote.
    written = StructCodec(After).dumps(After(("a",), 3, (1.5,), {"view": 1}))
    assert StructCodec(Before).loads(written) == Before(("a",), 3)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\xc1", b"not msgpack", msgspec.msgpack.encode([1, 2]), b"\x81\xa6recent\x05"],
)
def test_garbage_is_an_error_naming_the_type(garbage: bytes) -> None:
    with pytest.raises(msgspec.DecodeError, match="not a UserFeatureState value"):
        StructCodec(UserFeatureState).loads(garbage)


def test_faust_reports_a_bad_value_as_a_value_decode_error() -> None:
    with pytest.raises(ValueDecodeError, match="not a UserFeatureState value"):
        Registry().loads_value(None, b"\x93\x01", serializer=StructCodec(UserFeatureState))
