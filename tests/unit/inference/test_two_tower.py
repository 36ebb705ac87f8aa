"""Two-tower versions: retrieval (exhaustive and ANN), masking, ties, the ranker, the checks."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from app.errors import ModelLoadError
from app.features.state import state_from_items
from app.inference.batcher import merge, rank_batch, rank_states, split_top_k
from app.inference.index_file import INDEX_FILES, prebuild_index
from app.inference.registry import ModelRegistry
from app.inference.retrieval import ItemIndex
from app.inference.two_tower import TwoTowerScorer
from app.settings.retrieval import RetrievalSettings
from devtools.catalog import Catalog, user_histories, write_score_version, write_two_tower_version
from tests.support.two_tower import exact_top, write_ranker, write_small_two_tower

ANN = RetrievalSettings(retrieval_exhaustive_below=0)
EXHAUSTIVE = RetrievalSettings(retrieval_exhaustive_below=10**9)


def load(root: Path, settings: RetrievalSettings, name: str = "tt") -> TwoTowerScorer:
    scorer = ModelRegistry(root, settings).load(name)
    assert isinstance(scorer, TwoTowerScorer)
    return scorer


def ranked_ids(scorer: TwoTowerScorer, histories: list[list[str]], k: int = 10) -> list[list[str]]:
    batch = merge([state_from_items(h) for h in histories], scorer)
    return [[i.item_id for i in row] for row in rank_batch(scorer, batch, k)]


def test_exhaustive_is_the_score_models_answer_and_the_index_finds_nearly_all(
    tmp_path: Path,
) -> None:
    _, catalog = write_small_two_tower(tmp_path)
    write_score_version(tmp_path, "sc", "1", catalog)
    users = list(user_histories(catalog, 64, 8).values())
    exhaustive, ann = load(tmp_path, EXHAUSTIVE), load(tmp_path, ANN)
    assert exhaustive.index is None and ann.index is not None
    score_model = ModelRegistry(tmp_path).load("sc")
    batch = merge([state_from_items(h) for h in users], score_model)
    reference = [[i.item_id for i in r] for r in split_top_k(
        score_model.score(batch.inputs), batch, score_model, 10)]  # fmt: skip
    assert ranked_ids(exhaustive, users) == reference
    assert reference == [exact_top(catalog, h) for h in users]
    got = ranked_ids(ann, users)
    recall = np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, reference, strict=True)])
    assert recall >= 0.95


@pytest.mark.parametrize("settings", [ANN, EXHAUSTIVE], ids=["ann", "exhaustive"])
def test_seen_items_are_never_recommended_also_for_a_heavy_user(
    tmp_path: Path, settings: RetrievalSettings
) -> None:
    _, catalog = write_small_two_tower(tmp_path)
    scorer = load(tmp_path, settings)
    light = user_histories(catalog, 1, 5)["u0"]
    # The exact top of a user, then seen: the next ones must come, not these.
    heavy = [*light, *exact_top(catalog, light, k=90)]
    got_light, got_heavy = ranked_ids(scorer, [light, heavy])
    assert not set(got_light) & set(light)
    assert len(got_heavy) == 10 and not set(got_heavy) & set(heavy)
    assert len(set(got_heavy) & set(exact_top(catalog, heavy))) >= 9


def test_equal_scores_rank_by_catalog_order_and_the_same_every_time(tmp_path: Path) -> None:
    vectors = np.zeros((30, 4), dtype=np.float32)
    vectors[:, 0] = 1.0  # every item scores the same for any query
    vectors[0] = [2.0, 0, 0, 0]  # the one item of the history
    catalog = Catalog([f"i{n}" for n in range(30)], vectors, np.zeros(30, dtype=np.int64))
    write_two_tower_version(tmp_path, "tt", "1", catalog)
    exhaustive, ann = load(tmp_path, EXHAUSTIVE), load(tmp_path, ANN)
    assert ranked_ids(exhaustive, [["i0"]], k=5) == [["i1", "i2", "i3", "i4", "i5"]]
    # Which of 29 tied items the index returns is its own (fixed) choice; among those
    # returned, ties rank by catalog order, whatever batch the user falls in.
    (once,) = ranked_ids(ann, [["i0"]], k=5)
    assert len(once) == 5 and "i0" not in once
    assert once == sorted(once, key=lambda i: int(i[1:]))
    assert ranked_ids(ann, [["i0"], ["i3"], ["i0"]], k=5)[::2] == [once, once]


def test_a_ranker_orders_the_retrieved_candidates_and_its_scores_are_served(
    tmp_path: Path,
) -> None:
    version_dir, catalog = write_small_two_tower(tmp_path)
    write_ranker(version_dir, candidates=20, weight=-1.0)  # prefers the lowest column
    scorer = load(tmp_path, ANN)
    history = user_histories(catalog, 1, 6)["u0"]
    batch = merge([state_from_items(history)], scorer)
    (row,) = rank_batch(scorer, batch, 5)
    retrieved = exact_top(catalog, history, k=20)
    columns = sorted(scorer.vocab[i] for i in retrieved)
    assert [i.item_id for i in row] == [scorer.items[c] for c in columns[:5]]
    assert [i.score for i in row] == [-float(c) for c in columns[:5]]


async def test_the_stream_ranks_a_two_tower_version_on_its_thread(tmp_path: Path) -> None:
    _, catalog = write_small_two_tower(tmp_path)
    scorer = load(tmp_path, ANN)
    users = user_histories(catalog, 8, 5)
    states = [state_from_items(h) for h in users.values()]
    got = await rank_states(scorer, states, 10)
    assert [[i.item_id for i in r] for r in got] == ranked_ids(scorer, list(users.values()))


def test_a_prebuilt_index_is_read_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version_dir, _ = write_small_two_tower(tmp_path)
    report = prebuild_index(version_dir, ANN)
    assert report.path == version_dir / INDEX_FILES["ivf"] and report.items == 3000
    assert report.recall_at_10 >= 0.95 and report.recall_two_tastes >= 0.95
    manifest = msgspec.json.decode((version_dir / "model-settings.json").read_bytes())
    assert manifest["retrieval"]["index_file"] == INDEX_FILES["ivf"]
    assert manifest["training"] == {"algorithm": "synthetic-two-tower"}, "the rest kept"

    def no_build(*args: object, **kwargs: object) -> ItemIndex:
        raise AssertionError("built, not read")

    monkeypatch.setattr(ItemIndex, "build", no_build)
    assert load(tmp_path, ANN).index is not None


def test_prebuilding_a_score_model_says_it_has_no_index(tmp_path: Path) -> None:
    _, catalog = write_small_two_tower(tmp_path, n_items=50, clusters=5)
    score_dir = write_score_version(tmp_path, "sc", "1", catalog)
    with pytest.raises(ModelLoadError, match="not a two-tower version"):
        prebuild_index(score_dir, ANN)
