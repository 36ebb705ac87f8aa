"""The partition check before a worker serves: the input topic, the tables' topics and
STREAMREC_PARTITIONS must agree, else one line naming the counts and what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.main import build
from app.settings import Settings
from app.worker.partitions import PartitionLayout, layout_topics, partition_problem
from tests.support.paths import MODELS

INPUT = "interactions"
FEATURES, LATEST = "streamrec-features-changelog", "streamrec-trending-changelog"


def problem(
    input_n: int | None, tables: dict[str, int], setting: int = 8, given: bool = False
) -> str | None:
    return partition_problem(PartitionLayout(INPUT, input_n, tables), setting, given)


@pytest.mark.parametrize(
    ("input_n", "tables"),
    [
        (None, {}),  # a first start: the worker creates everything with the setting
        (8, {}),  # the input made by hand with the setting's count
        (8, {FEATURES: 8, LATEST: 8}),  # a restart
        (None, {FEATURES: 8}),  # the input deleted: the worker creates it again
    ],
)
def test_counts_that_agree_pass(input_n: int | None, tables: dict[str, int]) -> None:
    assert problem(input_n, tables) is None


def test_input_made_by_a_producer_names_both_counts_and_the_setting() -> None:
    line = problem(4, {})
    assert line is not None and "\n" not in line
    assert f"the input topic {INPUT} has 4 partitions" in line
    assert "STREAMREC_PARTITIONS=8 (the default)" in line
    assert "set STREAMREC_PARTITIONS=4" in line
    # Fewer than the setting: the topic can also be given more.
    assert f"--alter --topic {INPUT} --partitions 8" in line


def test_a_setting_given_explicitly_is_not_called_the_default() -> None:
    line = problem(16, {}, setting=8, given=True)
    assert line is not None
    assert "STREAMREC_PARTITIONS=8:" in line and "(the default)" not in line
    assert "set STREAMREC_PARTITIONS=16" in line
    assert "--alter" not in line  # a topic's partitions cannot be taken away


def test_tables_made_with_another_count_keep_it() -> None:
    line = problem(4, {FEATURES: 4, LATEST: 4}, setting=8, given=True)
    assert line is not None and "\n" not in line
    assert f"{FEATURES} (4), {LATEST} (4)" in line
    assert "cannot change: set STREAMREC_PARTITIONS=4" in line


def test_an_input_changed_after_the_tables_names_the_topics_and_counts() -> None:
    line = problem(12, {FEATURES: 8, LATEST: 8})
    assert line is not None and "\n" not in line
    assert f"the input topic {INPUT} has 12 partitions but the tables' topics have 8" in line
    assert f"{FEATURES} (8)" in line
    assert "give it 8 partitions again" in line and "STREAMREC_PARTITIONS=12" in line


def test_tables_that_disagree_with_each_other_are_named() -> None:
    line = problem(8, {FEATURES: 8, LATEST: 4})
    assert line is not None and "\n" not in line
    assert f"{FEATURES} (8), {LATEST} (4)" in line and "STREAMREC_APP_ID" in line


def test_whether_the_setting_was_given_is_known() -> None:
    assert not Settings().partitions_given
    assert Settings(partitions=8).partitions_given


@pytest.mark.parametrize("trending", [False, True])
def test_the_checked_topics_are_the_built_worker_s_own(tmp_path: Path, trending: bool) -> None:
    settings = Settings(model_dir=MODELS, data_dir=tmp_path, trending=trending, app_id="check")
    app = build(settings).app
    internal = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    # Of the agents' topics, the worker makes the by-item one (the input may be a producer's).
    sources = {agent.channel.get_topic_name() for agent in app.agents.values()}
    internal |= sources - {settings.input_topic}
    assert set(layout_topics(settings)) == internal


def test_an_output_topic_with_another_count_is_refused_as_the_latest_tables_changelog() -> None:
    layout = PartitionLayout(INPUT, 8, {FEATURES: 8}, "recommendations", 1)
    line = partition_problem(layout, 8, False)
    assert line is not None and "\n" not in line
    assert "the recommendations topic recommendations has 1 partitions" in line
    assert "latest table's changelog" in line and "recreate recommendations with 8" in line
    assert partition_problem(PartitionLayout(INPUT, 8, {}, "recommendations", 8), 8, False) is None
