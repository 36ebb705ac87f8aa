"""SASRec (Kang & McAuley, 2018): a causal self-attention model over the user's recent items.

Trained with PyTorch on CPU (the ``train`` extra), exported to ONNX with a dynamic batch axis.
Its input is exactly what the stream builds: ``features.history_matrix`` rows, left-padded,
most recent item last; the served score row is the output at the last position.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from app.features import history_matrix

__all__ = ["SasRec", "SasRecParams", "build_windows", "export_onnx", "fit"]


class SasRecParams(msgspec.Struct, frozen=True):
    """Hyper-parameters (defaults: the small configuration that fits 2 CPU cores)."""

    max_len: int = 50
    dim: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 5
    """Stop after this many evaluations without a better validation NDCG@10."""
    eval_every: int = 5
    seed: int = 0
    time_budget_s: float = 540.0
    """Training stops (keeping the best epoch) once this much time has passed."""


class _Block(nn.Module):
    def __init__(self, p: SasRecParams) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(p.dim, eps=1e-8)
        self.attn = nn.MultiheadAttention(p.dim, p.heads, dropout=p.dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(p.dim, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(p.dim, p.dim),
            nn.ReLU(),
            nn.Dropout(p.dropout),
            nn.Linear(p.dim, p.dim),
            nn.Dropout(p.dropout),
        )

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        q = self.norm1(x)
        a, _ = self.attn(q, x, x, attn_mask=attn_mask, need_weights=False)
        x = q + a
        x = x + self.ffn(self.norm2(x))
        return x * keep


class SasRec(nn.Module):
    """Item + position embeddings, causal self-attention blocks, tied output embeddings."""

    def __init__(self, n_items: int, p: SasRecParams) -> None:
        super().__init__()
        self.params = p
        self.item_emb = nn.Embedding(n_items + 1, p.dim, padding_idx=0)
        self.pos_emb = nn.Embedding(p.max_len, p.dim)
        self.drop = nn.Dropout(p.dropout)
        self.blocks = nn.ModuleList([_Block(p) for _ in range(p.blocks)])
        self.norm = nn.LayerNorm(p.dim, eps=1e-8)
        # True = may not attend: the future. Padding needs no key mask: its vectors are zeroed
        # and it sits before every real item, so masking keys would leave pad rows empty (NaN).
        causal = torch.triu(torch.ones(p.max_len, p.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        # N(0, 1) embeddings tied to the output make the first logits huge (loss ~12 instead
        # of ln V); Xavier-scale weights train far faster, as in the reference implementation.
        for name, weight in self.named_parameters():
            if weight.dim() > 1:
                nn.init.xavier_normal_(weight)
            elif "norm" not in name:
                nn.init.zeros_(weight)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden state per position [B, L, D] for left-padded histories [B, L]."""
        keep = (history > 0).unsqueeze(-1).to(self.item_emb.weight.dtype)
        positions = torch.arange(history.shape[1], device=history.device)
        x = self.item_emb(history) * math.sqrt(self.params.dim) + self.pos_emb(positions)
        x = self.drop(x) * keep
        for block in self.blocks:
            x = block(x, self.causal, keep)
        out: torch.Tensor = self.norm(x)
        return out

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Scores over all items [B, V] for the next item after the last position."""
        last = self.encode(history)[:, -1, :]
        return last @ self.item_emb.weight.T


def build_windows(
    sequences: Sequence[Sequence[str]], vocab: Mapping[str, int], max_len: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Training pairs (inputs, next-item targets), both [N, max_len], via the stream's feature
    function; long sequences are cut into several windows so every item is a target once."""
    prefixes: list[Sequence[str]] = []
    shifted: list[Sequence[str]] = []
    for seq in sequences:
        for end in range(len(seq), 1, -max_len):
            window = seq[max(0, end - max_len - 1) : end]
            prefixes.append(window[:-1])
            shifted.append(window[1:])
    return history_matrix(prefixes, vocab, max_len), history_matrix(shifted, vocab, max_len)


def fit(
    model: SasRec,
    inputs: npt.NDArray[np.int64],
    targets: npt.NDArray[np.int64],
    validate: Callable[[SasRec], float],
    *,
    progress: Callable[[int, float, float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> dict[str, float]:
    """Adam on full-softmax cross-entropy; keeps the weights of the best validation score."""
    import time

    p = model.params
    now = clock or time.monotonic
    start = now()
    generator = torch.Generator().manual_seed(p.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr, betas=(0.9, 0.98))
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
    best, best_epoch, best_state, stale = -1.0, 0, None, 0
    epoch = 0
    for epoch in range(1, p.max_epochs + 1):
        model.train()
        order = torch.randperm(len(x_all), generator=generator)
        total = 0.0
        for i in range(0, len(order), p.batch_size):
            idx = order[i : i + p.batch_size]
            logits = model.encode(x_all[idx]) @ model.item_emb.weight.T
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y_all[idx].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
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
        if stale >= p.patience or now() - start > p.time_budget_s:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"best_epoch": best_epoch, "epochs_run": epoch, "valid_ndcg@10": best,
            "train_seconds": round(now() - start, 1)}  # fmt: skip


def export_onnx(model: SasRec) -> bytes:
    """ONNX bytes: input ``history`` [batch, max_len] int64 -> ``scores`` [batch, V] float32."""
    import tempfile

    model.eval()
    example = torch.zeros((2, model.params.max_len), dtype=torch.int64)
    example[:, -1] = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        _export(model, example, path)
        return path.read_bytes()


def _export(model: SasRec, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["history"],
        output_names=["scores"],
        dynamic_axes={"history": {0: "batch"}, "scores": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
