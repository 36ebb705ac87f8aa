"""Answering an inference query on this worker, whatever transport it came by (REST, gRPC).

Histories are scored here. User ids are scored on the workers that own them: here for this
worker's users, and for the others one plain-JSON REST request per owner (the owner's web
port, as the per-user views forward). Every row goes through the online ranker, so the rows
of a request and concurrent requests share model calls and the prediction cache.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import msgspec
from yarl import URL

from app.errors import ModelLoadError, ModelNotFound
from app.features.state import UserFeatureState, state_from_items
from app.http.context import HttpContext
from app.inference.api_models import ApiModel
from app.inference.online import Ranked
from app.inference.protocol import Query
from app.records import ScoredItem

__all__ = ["FORWARDED", "Answer", "Refused", "answer", "check", "pick"]

FORWARDED = "X-Streamrec-Forwarded"
"""Header of a request one worker sent another: the owner answers it or refuses; it never
forwards again."""


class Refused(Exception):
    """What this worker answers instead: an HTTP status and the message saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Answer:
    model_name: str
    model_version: str
    rows: list[list[ScoredItem]]
    """Each row's top-K, best first."""
    sources: list[str]
    """Each row's source: model, trending or popularity."""

    @property
    def source(self) -> str:
        """The rows' sources, each once, comma-separated (a protocol parameter is a scalar)."""
        return ",".join(dict.fromkeys(self.sources))


def check(ctx: HttpContext, name: str, version: str | None) -> None:
    """Refused 404 unless the registry holds ``name`` (and ``version``): before the request
    is read, and before anything is loaded for it."""
    try:
        ctx.models.known(name, version or None)
    except ModelNotFound as exc:
        raise Refused(404, str(exc)) from None


async def pick(ctx: HttpContext, name: str, version: str | None) -> ApiModel:
    """The model a request names (``ApiModels``: the stream's, or another version loaded for
    the API); Refused 404 for one the registry does not hold, 500 for one that does not load."""
    try:
        return await ctx.models.get(name, version or None)
    except ModelNotFound as exc:
        raise Refused(404, str(exc)) from None
    except ModelLoadError as exc:
        raise Refused(500, f"cannot load {name}/{version or 'newest'}: {exc}") from None


async def answer(
    ctx: HttpContext, picked: ApiModel, query: Query, path: str, forwarded: bool
) -> Answer:
    """The query's answer by ``picked``. ``path``: the REST path to ask other workers at;
    ``forwarded``: the query came from another worker. Raises Refused, or ModelNotReady."""
    if query.input == "history":
        return await _rank(picked, [state_from_items(row) for row in query.rows], query.k)
    return await _by_user(ctx, picked, query, path, forwarded)


async def _rank(picked: ApiModel, states: list[UserFeatureState], k: int) -> Answer:
    ranker = picked.ranker
    ranked: list[Ranked] = await asyncio.gather(*(ranker.rank(s, k) for s in states))
    scorer = ranked[0][0]
    return Answer(scorer.name, scorer.version, [r[1] for r in ranked], [r[2] for r in ranked])


async def _by_user(
    ctx: HttpContext, picked: ApiModel, query: Query, path: str, forwarded: bool
) -> Answer:
    """Each user's top-K, in the query's order: scored here for this worker's users, asked of
    their owners (one request each) for the others."""
    here = URL(str(ctx.app.conf.canonical_url))
    by_owner: dict[tuple[str | None, int | None], list[int]] = defaultdict(list)
    owners: dict[tuple[str | None, int | None], URL] = {}
    for n, user in enumerate(query.user_ids):
        try:
            owner = ctx.app.router.key_store(ctx.features.name, user)
        except KeyError:
            raise Refused(503, "partition owners unknown (rebalancing); retry") from None
        key = (owner.host, owner.port)
        by_owner[key].append(n)
        owners[key] = owner
    local_key = (here.host, here.port)
    remote = [key for key in by_owner if key != local_key]
    if remote and forwarded:
        raise Refused(503, "user moved between workers; retry")
    local = by_owner.get(local_key, [])
    states = [ctx.features.get(query.user_ids[n]) for n in local]
    missing = [query.user_ids[n] for n, state in zip(local, states, strict=True) if state is None]
    if missing:
        raise Refused(404, _no_features(missing))
    asks = [
        _ask_owner(ctx, path, owners[key], [query.user_ids[n] for n in by_owner[key]], query.k)
        for key in remote
    ]
    if local:
        asks.append(_rank(picked, [s for s in states if s is not None], query.k))
    rows: list[list[ScoredItem]] = [[] for _ in query.rows]
    sources = [""] * len(query.rows)
    name, version = picked.model.name, ""
    positions = [by_owner[key] for key in remote] + [local]
    for where, found in zip(positions, await asyncio.gather(*asks), strict=False):
        name, version = found.model_name, found.model_version
        for n, row, source in zip(where, found.rows, found.sources, strict=True):
            rows[n], sources[n] = row, source
    return Answer(name, version, rows, sources)


def _no_features(users: list[str]) -> str:
    if len(users) == 1:
        return f"no features for user {users[0]!r}"
    shown = ", ".join(repr(u) for u in users[:10])
    return f"no features for {len(users)} users: {shown}{', ...' if len(users) > 10 else ''}"


async def _ask_owner(ctx: HttpContext, path: str, owner: URL, users: list[str], k: int) -> Answer:
    """The owner's answer for ``users``, asked in plain JSON over REST."""
    body = msgspec.json.encode({
        "inputs": [{"name": "user_id", "shape": [len(users)], "datatype": "BYTES", "data": users}],
        "parameters": {"top_k": k},
    })  # fmt: skip
    headers = {"Content-Type": "application/json", FORWARDED: "1"}
    async with ctx.app.http_client.post(owner.with_path(path), data=body, headers=headers) as got:
        raw = await got.read()
        if got.status != 200:
            try:
                message = str(msgspec.json.decode(raw)["error"])
            except (msgspec.DecodeError, KeyError, TypeError):
                message = raw[:200].decode(errors="replace")
            raise Refused(got.status, message)
    found = msgspec.json.decode(raw)
    outputs = {o["name"]: o for o in found["outputs"]}
    width = outputs["item_ids"]["shape"][-1]
    items, scores = outputs["item_ids"]["data"], outputs["scores"]["data"]
    rows = [
        [ScoredItem(i, s) for i, s in zip(items[r * width : (r + 1) * width],
                                           scores[r * width : (r + 1) * width], strict=True) if i]
        for r in range(len(users))
    ]  # fmt: skip
    source = found.get("parameters", {}).get("source", "")
    return Answer(found["model_name"], found["model_version"], rows, [source] * len(users))
