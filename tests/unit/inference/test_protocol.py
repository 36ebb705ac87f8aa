"""The Open Inference Protocol's requests and answers, transport-free: shapes, padding, the
binary forms of the tensors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from app.errors import InvalidRequest
from app.inference.protocol import (
    InputTensor,
    answer_tensors,
    bytes_elements,
    from_binary,
    query_of,
    to_binary,
)
from app.records import ScoredItem


def test_a_batch_is_answered_n_by_k_and_a_single_history_k() -> None:
    batch = query_of([InputTensor("user_id", "BYTES", [2], ["a", "b"])], {}, 10)
    answers = [[ScoredItem("1", 0.5), ScoredItem("2", 0.25)], [ScoredItem("3", 1.0)]]
    items, scores = answer_tensors(batch, answers)
    assert (items.shape, items.elements) == ([2, 2], ["1", "2", "3", ""])  # "" pads
    assert (scores.datatype, scores.elements) == ("FP32", [0.5, 0.25, 1.0, 0.0])
    one = query_of([InputTensor("history", "BYTES", [2], ["7", "8"])], {"top_k": 2}, 10)
    assert answer_tensors(one, answers[:1])[0].shape == [2]


def test_the_binary_forms_round_trip() -> None:
    items, scores = answer_tensors(
        query_of([InputTensor("user_id", "INT32", [1], [5])], {}, 10),
        [[ScoredItem("é1", 0.5), ScoredItem("22", -1.5)]],
    )
    assert bytes_elements(to_binary(items), 2, "item_ids") == ["é1", "22"]
    assert np.frombuffer(to_binary(scores), "<f4").tolist() == [0.5, -1.5]
    assert from_binary("INT32", [2], struct.pack("<2i", 3, -4), "user_id") == [3, -4]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\x05\x00\x00", "ends before element 0"),
        (b"\x05\x00\x00\x00ab", "ends inside element 0"),
        (b"\x01\x00\x00\x00\xff", "not UTF-8"),
        (b"\x01\x00\x00\x00ab", "1 bytes after its elements"),
    ],
)
def test_bad_binary_bytes_say_where(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        bytes_elements(raw, 1, "history")
