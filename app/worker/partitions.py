"""Do the input topic and the worker's tables agree on a partition count? Asked before it serves.

A table's changelog must have as many partitions as the topic its records come from: a Faust
table refuses each write otherwise (``PartitionsMismatch``). Producers that start first
create the input topic with the broker's default count (1 on Kafka and Redpanda), while the
worker makes its tables with STREAMREC_PARTITIONS (8 unless set). Measured with the input at
4: the worker answered ready, then every batch failed and every event became a dead letter.

The worker refuses to start instead, with one line naming the counts and what to set. It
does not adopt the input's count, even when STREAMREC_PARTITIONS was left at its default:
the count is built into the worker (tables, changelog topics, key routing) when ``faust -A
app`` loads it, before the worker exists to look at the broker; and the count a producer
left by accident is most often the broker's 1, which adopted would fix the deployment at one
partition (one busy worker) for as long as its state lives, since a changelog's count never
changes. A refusal costs one restart with the count chosen on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.errors import CannotStart
from app.kafka.brokers import Brokers
from app.kafka.topics import partition_counts
from app.settings import Settings
from app.worker.startup_loop import run_before_faust

__all__ = ["PartitionLayout", "check_partitions", "layout_topics", "partition_problem"]

logger = logging.getLogger(__name__)

SETTING = "STREAMREC_PARTITIONS"


@dataclass(frozen=True)
class PartitionLayout:
    """The partition counts that must agree: the input topic's (None: not created yet) and
    those of the worker's own partitioned topics that exist (table changelogs, by-item
    repartition topic), by name."""

    input_topic: str
    input_partitions: int | None
    tables: Mapping[str, int]
    output_topic: str = ""
    output_partitions: int | None = None
    """The recommendations topic's count (None: not created yet): the latest table's
    changelog, so it must have the tables' count too."""


def layout_topics(settings: Settings) -> list[str]:
    """The worker's own topics made with STREAMREC_PARTITIONS: each table's changelog
    (Faust's ``<app id>-<table>-changelog``; the latest table's is the recommendations
    topic) and, with TRENDING, the by-item topic."""
    tables = ["features", *(["trending"] if settings.trending else [])]
    changelogs = [f"{settings.app_id}-{name}-changelog" for name in tables]
    by_item = [settings.by_item_topic] if settings.trending else []
    return [*changelogs, settings.output_topic, *by_item]


def partition_problem(layout: PartitionLayout, setting: int, given: bool) -> str | None:
    """Why the worker cannot serve with ``setting`` partitions (``given``: set, not the
    default), in one line naming the counts and what to do; None when they agree."""
    wanted = f"{SETTING}={setting}" + ("" if given else " (the default)")
    topic, n = layout.input_topic, layout.input_partitions
    counts = sorted(set(layout.tables.values()))
    names = ", ".join(f"{t} ({c})" for t, c in sorted(layout.tables.items()))
    if len(counts) > 1:
        return (f"the worker's topics disagree on partitions: {names}, {wanted}; they were "
                f"made by workers with different {SETTING} under one STREAMREC_APP_ID: set "
                f"{SETTING} to the count of the users' state to keep, or a new "
                "STREAMREC_APP_ID to start the state over")  # fmt: skip
    if counts and n is not None and n != counts[0]:
        return (f"the input topic {topic} has {n} partitions but the tables' topics have "
                f"{counts[0]}: {names}, {wanted}; the input topic was recreated or given "
                f"partitions after the tables were made: give it {counts[0]} partitions "
                f"again, or start the users' state over with {n} (delete those topics and "
                f"STREAMREC_DATA_DIR, set {SETTING}={n})")  # fmt: skip
    if counts and counts[0] != setting:
        return (
            f"the tables' topics have {counts[0]} partitions: {names}, but {wanted}; a "
            f"table's partition count cannot change: set {SETTING}={counts[0]} (or "
            "delete those topics and STREAMREC_DATA_DIR to start the users' state over)"
        )
    if layout.output_partitions is not None and layout.output_partitions != setting:
        out, m = layout.output_topic, layout.output_partitions
        return (f"the recommendations topic {out} has {m} partitions but {wanted}: it is "
                f"also the latest table's changelog (GET /recommendations/ and the users' "
                f"states restore from it), so it needs the tables' count: recreate {out} "
                f"with {setting} partitions (the worker creates it when missing), or set "
                f"STREAMREC_OUTPUT_TOPIC to a new topic")  # fmt: skip
    if n is not None and n != setting:
        more = "" if n > setting else (
            f", or first give the topic {setting} partitions "
            f"(kafka-topics.sh --alter --topic {topic} --partitions {setting})"
        )  # fmt: skip
        return (f"the input topic {topic} has {n} partitions but {wanted}: the tables "
                f"need the input's count (every event would fail with Faust's "
                f"PartitionsMismatch); set {SETTING}={n}{more}")  # fmt: skip
    return None


def check_partitions(
    settings: Settings,
    brokers: Brokers,
    timeout_s: float,
    say: Callable[[str], None],
) -> None:
    """CannotStart when the input topic, the tables' topics and STREAMREC_PARTITIONS do not
    agree (``partition_problem``); ``say`` tells the count that will be used."""
    names = [settings.input_topic, *layout_topics(settings)]
    try:
        found = run_before_faust(partition_counts(brokers, names), timeout_s)
    except Exception as exc:  # the access check passed: this is unlikely, and not fatal
        say(f"could not read the topics' partition counts ({type(exc).__name__}: {exc}); "
            "not checked")  # fmt: skip
        return
    n = found.pop(settings.input_topic, None)
    output = found.pop(settings.output_topic, None)
    layout = PartitionLayout(settings.input_topic, n, found, settings.output_topic, output)
    problem = partition_problem(layout, settings.partitions, settings.partitions_given)
    if problem is not None:
        raise CannotStart(problem)
    topic = settings.input_topic
    if n is None:
        say(f"the input topic {topic} does not exist yet: the worker creates it with "
            f"{settings.partitions} partitions ({SETTING})")  # fmt: skip
    else:
        say(f"the input topic {topic} has {n} partitions, as {SETTING}")
