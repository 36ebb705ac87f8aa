"""Dead letters an operator can act on: read back, summed up by reason, shown one by one, and
redriven to the input topic once each (``faust -A app dlq``).

The pure parts are re-exported here; the Kafka parts (``reader``, ``resend``) are imported
where they are used.
"""

from app.deadletters.letters import DeadLetter, ReasonCount, summarize
from app.deadletters.redrive import RedrivePlan, marker_topic, plan_redrive, redriven_record
from app.deadletters.selection import Selection, parse_position, parse_time_ms

__all__ = [
    "DeadLetter", "ReasonCount", "RedrivePlan", "Selection", "marker_topic", "parse_position",
    "parse_time_ms", "plan_redrive", "redriven_record", "summarize",
]  # fmt: skip
