"""The batch core and its protocols: records in, a ``BatchResult`` out; no Faust, no Kafka."""

from app.pipeline.arms import ArmRanker, Ranker
from app.pipeline.core import BatchConfig, BatchCore
from app.pipeline.decode import InputRecord
from app.pipeline.result import (
    BatchResult,
    DeadLetterOut,
    LatestUpdate,
    ModelCalls,
    OutRecord,
    Quality,
)
from app.pipeline.store import DictStore, StateStore, StateWrite

__all__ = [
    "ArmRanker", "BatchConfig", "BatchCore", "BatchResult", "DeadLetterOut", "DictStore",
    "InputRecord", "LatestUpdate", "ModelCalls", "OutRecord", "Quality", "Ranker", "StateStore",
    "StateWrite",
]  # fmt: skip
