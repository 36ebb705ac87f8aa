"""SASRec (Kang & McAuley, 2018): a causal self-attention model over the user's recent items.

Trained with PyTorch on CPU (the ``train`` extra), exported to ONNX with a dynamic batch axis.
Its input is exactly what the stream builds: ``features.history_matrix`` rows, left-padded,
most recent item last; the served score row is the output at the last position.

The configuration is the one that reaches HR@10 0.227-0.231 on ml-100k here (see
../shared/notes/relevance.md): pre-LayerNorm blocks, padded keys masked, full-softmax
cross-entropy over every item, windows that give every training target 25+ items of context.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from app.features.state import history_matrix

__all__ = ["SasRec", "SasRecParams", "TieShuffle", "build_windows", "export_onnx", "fit"]


class SasRecParams(msgspec.Struct, frozen=True):
    """Hyper-parameters (defaults: the small configuration that fits 2 CPU cores)."""

    max_len: int = 50
    dim: int = 64
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    stride: int = 25
    """Training windows end every ``stride`` items; each target is trained once, in the
    window where it has the most context."""
    clip_norm: float = 5.0
    max_epochs: int = 200
    patience: int = 15
    """Stop after this many evaluations without a better validation NDCG@10."""
    eval_every: int = 1
    shuffle_ties: bool = True
    """Each epoch, the items a user rated in the same second come in a new random order.
    ml-100k users rate in bursts (half of all consecutive pairs share a second); the file's
    order within a second is not theirs, and learning it is learning noise. Validation NDCG@10
    of SASRec alone, seeds 0/1: 0.114/0.119 without, 0.129/0.135 with."""
    seed: int = 0
    time_budget_s: float = 540.0
    """Training stops (keeping the best epoch) once this much time has passed."""


class _Attention(nn.Module):
    """Multi-head self-attention under a boolean "may not attend" mask [B, L, L]."""

    def __init__(self, p: SasRecParams) -> None:
        super().__init__()
        self.heads, self.head_dim = p.heads, p.dim // p.heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(p.dim, 3 * p.dim)
        self.out = nn.Linear(p.dim, p.dim)
        self.drop = nn.Dropout(p.dropout)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, blocked: torch.Tensor
    ) -> torch.Tensor:
        """``query`` [B, Q, D] attends ``keys`` [B, L, D] (Q = L, or 1: the last position)."""
        d = self.heads * self.head_dim
        w, b = self.qkv.weight, self.qkv.bias
        q = nn.functional.linear(query, w[:d], b[:d])
        kv = nn.functional.linear(keys, w[d:], b[d:])
        q = q.view(-1, query.shape[1], self.heads, self.head_dim).transpose(1, 2)
        kv = kv.view(-1, keys.shape[1], 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        weights = (q @ k.transpose(-2, -1)) * self.scale
        weights = weights.masked_fill(blocked.unsqueeze(1), -1e9).softmax(dim=-1)
        mixed = (self.drop(weights) @ v).transpose(1, 2).reshape(-1, query.shape[1], d)
        out: torch.Tensor = self.out(mixed)
        return out

    def one_query(
        self, query: torch.Tensor, keys: torch.Tensor, blocked: torch.Tensor
    ) -> torch.Tensor:
        """``forward`` for one query per row ([B, 1, D]; serving: no dropout), without
        projecting every key and value: q . (Wk k + bk) = (Wk^T q) . k + q . bk, whose last
        term is the same for every key (softmax drops it), and sum_j a_j (Wv k_j + bv) =
        Wv (sum_j a_j k_j) + bv, as the weights sum to 1. Per user O(L x D x heads) instead of
        O(L x D x 2D): a one-block hybrid's batch of 256 took 9.2 ms instead of 13.1."""
        h, e, d = self.heads, self.head_dim, self.heads * self.head_dim
        w, b = self.qkv.weight, self.qkv.bias
        q = nn.functional.linear(query[:, 0], w[:d], b[:d]).view(-1, h, e)  # [B, H, E]
        q_keys = torch.einsum("bhe,hed->bhd", q, w[d : 2 * d].view(h, e, -1))  # [B, H, D]
        weights = (q_keys @ keys.transpose(1, 2)) * self.scale  # [B, H, L]
        weights = weights.masked_fill(blocked, -1e9).softmax(dim=-1)  # blocked: [B, 1, L]
        pooled = weights @ keys  # [B, H, D]
        v_weight, v_bias = w[2 * d :].view(h, e, -1), b[2 * d :].view(h, e)
        mixed = torch.einsum("bhd,hed->bhe", pooled, v_weight) + v_bias  # [B, H, E]
        out: torch.Tensor = self.out(mixed.reshape(-1, 1, d))
        return out


class _Block(nn.Module):
    """Pre-LayerNorm: x + Dropout(Attn(LN(x))), then x + Dropout(FFN(LN(x)))."""

    def __init__(self, p: SasRecParams) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(p.dim)
        self.attn = _Attention(p)
        self.norm2 = nn.LayerNorm(p.dim)
        self.ffn = nn.Sequential(
            nn.Linear(p.dim, p.dim), nn.GELU(), nn.Dropout(p.dropout), nn.Linear(p.dim, p.dim)
        )
        self.drop = nn.Dropout(p.dropout)

    def forward(
        self, x: torch.Tensor, blocked: torch.Tensor, keep: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        h = self.norm1(x)
        query = h
        if last_only:  # serving reads only the last position: the rest is wasted work
            query, x, blocked, keep = h[:, -1:], x[:, -1:], blocked[:, -1:], keep[:, -1:]
        attend = self.attn.one_query if last_only else self.attn
        x = x + self.drop(attend(query, h, blocked))
        x = x + self.drop(self.ffn(self.norm2(x)))
        return x * keep


class SasRec(nn.Module):
    """Item + position embeddings, causal self-attention blocks, tied output embeddings."""

    future: torch.Tensor
    itself: torch.Tensor

    def __init__(self, n_items: int, p: SasRecParams) -> None:
        super().__init__()
        self.params = p
        self.item_emb = nn.Embedding(n_items + 1, p.dim, padding_idx=0)
        self.pos_emb = nn.Embedding(p.max_len, p.dim)
        self.drop = nn.Dropout(p.dropout)
        self.blocks = nn.ModuleList([_Block(p) for _ in range(p.blocks)])
        self.norm = nn.LayerNorm(p.dim)
        future = torch.triu(torch.ones(p.max_len, p.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("future", future, persistent=False)
        self.register_buffer("itself", torch.eye(p.max_len, dtype=torch.bool), persistent=False)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, history: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Hidden state per position [B, L, D] for left-padded histories [B, L] (with
        ``last_only``, [B, 1, D]: the last block computes the last position only)."""
        real = history > 0
        keep = real.unsqueeze(-1).to(self.item_emb.weight.dtype)
        # A query sees real items at or before it, and always itself (no row is empty, so a
        # padded row stays finite; it is zeroed anyway).
        blocked = (self.future | ~real.unsqueeze(1)) & ~self.itself
        positions = torch.arange(history.shape[1], device=history.device)
        x = self.item_emb(history) * math.sqrt(self.params.dim) + self.pos_emb(positions)
        x = self.drop(x) * keep
        for n, block in enumerate(self.blocks):
            x = block(x, blocked, keep, last_only and n == len(self.blocks) - 1)
        out: torch.Tensor = self.norm(x)
        return out

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Scores over all items [B, V] for the next item after the last position."""
        last = self.encode(history, last_only=True)[:, -1, :]
        return last @ self.item_emb.weight.T


def build_windows(
    sequences: Sequence[Sequence[str]], vocab: Mapping[str, int], max_len: int, stride: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Training pairs (inputs, next-item targets), both [N, max_len], via the stream's feature
    function. Windows of ``max_len + 1`` items end every ``stride`` items from the end; each
    target is kept only in the earliest window holding it (the most context), so every item
    after a sequence's first is a target exactly once."""
    prefixes: list[Sequence[str]] = []
    shifted: list[Sequence[str]] = []
    fresh: list[int] = []
    for seq in sequences:
        end = len(seq)
        while end > 1:
            start = max(0, end - max_len - 1)
            window = seq[start:end]
            prefixes.append(window[:-1])
            shifted.append(window[1:])
            # Not the earliest window: its first targets belong to the one before it.
            fresh.append(stride if start > 0 else max_len)
            if start == 0:
                break
            end -= stride
    inputs = history_matrix(prefixes, vocab, max_len)
    targets = history_matrix(shifted, vocab, max_len)
    columns = np.arange(max_len)
    targets[columns[None, :] < max_len - np.asarray(fresh)[:, None]] = 0
    return inputs, targets


class TieShuffle:
    """Training sequences whose items of the same second are reordered at random on each call
    (``SasRecParams.shuffle_ties``); deterministic given the seed."""

    def __init__(
        self, sequences: Sequence[Sequence[str]], times: Sequence[Sequence[float]], seed: int
    ) -> None:
        self._rng = random.Random(seed)
        self._groups: list[list[list[str]]] = []
        for items, stamps in zip(sequences, times, strict=True):
            if len(items) != len(stamps):
                raise ValueError("each training sequence needs one timestamp per item")
            groups: list[list[str]] = []
            for n, item in enumerate(items):
                if n and stamps[n] == stamps[n - 1]:
                    groups[-1].append(item)
                else:
                    groups.append([item])
            self._groups.append(groups)

    def __call__(self) -> list[list[str]]:
        out = []
        for groups in self._groups:
            seq: list[str] = []
            for group in groups:
                if len(group) > 1:
                    group = group.copy()
                    self._rng.shuffle(group)
                seq.extend(group)
            out.append(seq)
        return out


Windows = Callable[[], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
"""Gives the training pairs (inputs, targets) of the next epoch."""


def fit(
    model: SasRec,
    windows: Windows,
    validate: Callable[[SasRec], float],
    *,
    progress: Callable[[int, float, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, float]:
    """AdamW on full-softmax cross-entropy; keeps the weights of the best validation score."""
    p = model.params
    start = clock()
    generator = torch.Generator().manual_seed(p.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    best, best_epoch, best_state, stale = -1.0, 0, None, 0
    epoch = 0
    for epoch in range(1, p.max_epochs + 1):
        inputs, targets = windows()
        x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
        model.train()
        order = torch.randperm(len(x_all), generator=generator)
        total = 0.0
        for i in range(0, len(order), p.batch_size):
            idx = order[i : i + p.batch_size]
            y = y_all[idx]
            # Logits only where there is a target: about half the positions, and the
            # [positions, items] product and its softmax are most of the cost.
            real = y > 0
            logits = model.encode(x_all[idx])[real] @ model.item_emb.weight.T
            loss = loss_fn(logits, y[real])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), p.clip_norm)
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        if epoch % p.eval_every and epoch != p.max_epochs:
            continue
        model.eval()
        with torch.no_grad():
            score = validate(model)
        if progress is not None:
            progress(epoch, total / len(order), score)
        if score > best:
            best, best_epoch, stale = score, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if stale >= p.patience or clock() - start > p.time_budget_s:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"best_epoch": best_epoch, "epochs_run": epoch, "valid_ndcg@10": best,
            "train_seconds": round(clock() - start, 1)}  # fmt: skip


def export_onnx(model: nn.Module, max_len: int, inputs: Sequence[str] = ("history",)) -> bytes:
    """ONNX bytes: inputs [batch, max_len] (``history`` int64, any other float32, in
    ``forward``'s order) -> ``scores`` [batch, V] float32."""
    import tempfile

    model.eval()
    examples = []
    for name in inputs:
        if name == "history":
            example = torch.zeros((2, max_len), dtype=torch.int64)
            example[:, -1] = 1
        else:
            example = torch.zeros((2, max_len), dtype=torch.float32)
        examples.append(example)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        _export(model, tuple(examples), list(inputs), path)
        return path.read_bytes()


def _export(
    model: nn.Module, examples: tuple[torch.Tensor, ...], names: list[str], path: Path
) -> None:
    torch.onnx.export(
        model,
        examples,
        str(path),
        input_names=names,
        output_names=["scores"],
        dynamic_axes={**{name: {0: "batch"} for name in names}, "scores": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
