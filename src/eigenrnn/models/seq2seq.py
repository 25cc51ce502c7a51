"""Translation: an attentional encoder-decoder, :class:`Seq2Seq`, with greedy and beam-search decoding."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from eigenrnn.errors import bad_value, check_int
from eigenrnn.models.layers import build_rnn, resolve_generator, seeded_embedding, seeded_linear


class Encoder(nn.Module):
    """Token embedding and a recurrent layer; ``forward`` packs by length for exact final states."""

    def __init__(self, embedding: nn.Embedding, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.embedding = embedding
        self.rnn = rnn

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        emb = self.embedding(src)
        packed = pack_padded_sequence(emb, lengths.cpu(), enforce_sorted=False)
        out, state = self.rnn(packed)
        out, _ = pad_packed_sequence(out, total_length=src.size(0))
        return out, state


class Decoder(nn.Module):
    """Recurrent decoder with Luong "general" global attention on its outputs.

    ``score(h_t, h_s) = h_t^T W_a h_s``, ``c_t = sum_s softmax(score)_s h_s``,
    ``h~_t = tanh(W_c [c_t; h_t])``, ``p(y_t) = softmax(W_o h~_t)``
    (Luong et al. 2015, "Effective Approaches to Attention-based Neural Machine
    Translation").  Input feeding (``h~_{t-1}`` into step ``t``) is deliberately
    left out so that the whole teacher-forced target runs through each
    recurrent layer in one call.
    """

    def __init__(self, embedding: nn.Embedding, rnn: nn.RNNBase, vocab_size: int, g: torch.Generator | None) -> None:
        super().__init__()
        hidden = rnn.hidden_size
        self.embedding = embedding
        self.rnn = rnn
        self.attn = seeded_linear(hidden, hidden, False, g)
        self.combine = seeded_linear(2 * hidden, hidden, False, g)
        self.out = seeded_linear(hidden, vocab_size, True, g)

    def forward(self, tgt_in: Tensor, state: Any, memory: Tensor, keys: Tensor, src_mask: Tensor) -> tuple[Tensor, Any]:
        """Logits ``(T, B, V)`` and the new state.

        ``memory`` are the encoder outputs ``(S, B, H)``, ``keys = W_a memory``
        and ``src_mask`` ``(B, S)`` is True at real (non-pad) source positions.
        """
        out, state = self.rnn(self.embedding(tgt_in), state)
        scores = torch.einsum("tbh,sbh->bts", out, keys)
        scores = scores.masked_fill(~src_mask[:, None, :], torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        context = torch.einsum("bts,sbh->tbh", weights, memory)
        combined = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))
        return self.out(combined), state


class Seq2Seq(nn.Module):
    """Encoder–decoder with global attention for translation (shared subword vocabulary).

    The encoder reads the source with ``encoder.rnn``; its final state starts
    ``decoder.rnn``, whose outputs attend over the encoder outputs (see
    :class:`Decoder`).  Both recurrent modules are initialized with
    :func:`eigenrnn.init.init_rnn` (same scheme and kwargs).

    Args:
        vocab_size: size of the (joint) subword vocabulary.
        pad_id, bos_id, eos_id: special token ids.
        cell, hidden, layers, nonlinearity, init, init_kwargs: as in :class:`SequenceModel`.
        embedding_dim: embedding size (default ``hidden``).
        seed, generator: as in :class:`SequenceModel`.

    Shape:
        - src: ``(S, B)`` long, src_lengths ``(B,)``;
        - tgt_in: ``(T, B)`` long, the target shifted right (starting with BOS);
        - output: logits ``(T, B, vocab_size)``.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        bos_id: int,
        eos_id: int,
        cell: str = "gru",
        hidden: int = 256,
        layers: int = 1,
        nonlinearity: str = "tanh",
        init: str = "xavier",
        init_kwargs: Mapping[str, Any] | None = None,
        embedding_dim: int | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size)
        for name, value in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
                raise ValueError(bad_value(name, value, f"an id in [0, {vocab_size})"))
        if embedding_dim is not None:
            check_int("embedding_dim", embedding_dim)
        g = resolve_generator(seed, generator)
        dim = embedding_dim or hidden
        self.vocab_size = vocab_size
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.cell = cell
        # Draw order (part of the seeded contract): encoder embedding, encoder
        # rnn, decoder embedding, decoder rnn, attention and output layers.
        enc_embedding = seeded_embedding(vocab_size, dim, pad_id, g)
        self.encoder = Encoder(enc_embedding, build_rnn(cell, dim, hidden, layers, nonlinearity, init, init_kwargs, g))
        dec_embedding = seeded_embedding(vocab_size, dim, pad_id, g)
        dec_rnn = build_rnn(cell, dim, hidden, layers, nonlinearity, init, init_kwargs, g)
        self.decoder = Decoder(dec_embedding, dec_rnn, vocab_size, g)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Any]:
        """Encoder outputs, attention keys, source mask ``(B, S)`` and the final state."""
        memory, state = self.encoder(src, src_lengths)
        keys = self.decoder.attn(memory)
        positions = torch.arange(src.size(0), device=src.device)
        mask = positions[None, :] < src_lengths.to(src.device)[:, None]
        return memory, keys, mask, state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        memory, keys, mask, state = self.encode(src, src_lengths)
        logits, _ = self.decoder(tgt_in, state, memory, keys, mask)
        return logits

    def _max_steps(self, src_lengths: Tensor, max_len: int | None) -> int:
        natural = int(src_lengths.max()) * 2 + 10
        return natural if max_len is None else min(natural, check_int("max_len", max_len))

    def _row_limits(self, src_lengths: Tensor, max_len: int | None) -> Tensor:
        """Per-sentence output budgets ``2 * src_len + 10`` (capped at ``max_len``), ``(B,)`` long."""
        natural = src_lengths.long() * 2 + 10
        return natural if max_len is None else natural.clamp(max=check_int("max_len", max_len))

    @torch.no_grad()
    def greedy(self, src: Tensor, src_lengths: Tensor, max_len: int | None = None) -> list[list[int]]:
        """Greedy decoding of a batch; returns the token ids of each output, without BOS/EOS.

        ``max_len`` caps the number of generated tokens of each sentence
        (default ``2 * src_len + 10``, from that sentence's own length, so that
        an output never depends on which other sentences share the batch).
        """
        memory, keys, mask, state = self.encode(src, src_lengths)
        batch = src.size(1)
        limits = self._row_limits(src_lengths.to(src.device), max_len)
        prev = torch.full((1, batch), self.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(batch, dtype=torch.bool, device=src.device)
        steps = []
        for t in range(int(limits.max()) if batch else 0):
            logits, state = self.decoder(prev, state, memory, keys, mask)
            prev = logits.argmax(-1)
            steps.append(prev[0])
            done |= (prev[0] == self.eos_id) | (limits <= t + 1)
            if bool(done.all()):
                break
        ids = torch.stack(steps, 1).tolist() if steps else [[] for _ in range(batch)]
        return [_until_eos(row[:limit], self.eos_id) for row, limit in zip(ids, limits.tolist())]

    @torch.no_grad()
    def beam_search(
        self, src: Tensor, src_lengths: Tensor, beam_size: int = 5, max_len: int | None = None, length_penalty: float = 0.6
    ) -> list[list[int]]:
        """Beam search, one sentence at a time; returns token ids without BOS/EOS.

        Finished hypotheses are ranked by ``log p / lp(len)`` with the GNMT length
        penalty ``lp(n) = ((5 + n) / 6) ** length_penalty`` (Wu et al. 2016).
        ``beam_size=1`` equals :meth:`greedy`.
        """
        check_int("beam_size", beam_size)
        if beam_size == 1:
            return self.greedy(src, src_lengths, max_len)
        return [
            self._beam_one(src[: int(src_lengths[b]), b : b + 1], src_lengths[b : b + 1], beam_size, max_len, length_penalty)
            for b in range(src.size(1))
        ]

    def _beam_one(self, src: Tensor, src_len: Tensor, k: int, max_len: int | None, alpha: float) -> list[int]:
        memory, keys, mask, state = self.encode(src, src_len)
        device = src.device
        hyps: list[list[int]] = [[]]
        scores = torch.zeros(1, device=device)
        prev = torch.full((1, 1), self.bos_id, dtype=torch.long, device=device)
        finished: list[tuple[float, list[int]]] = []
        steps = self._max_steps(src_len, max_len)
        for t in range(steps):
            n = len(hyps)
            logits, state = self.decoder(
                prev, state, memory.expand(-1, n, -1), keys.expand(-1, n, -1), mask.expand(n, -1)
            )
            logp = torch.log_softmax(logits[0].float(), dim=-1)  # (n, V)
            total = (scores[:, None] + logp).view(-1)
            top_scores, top_idx = total.topk(min(2 * k, total.numel()))
            beams, tokens = top_idx // self.vocab_size, top_idx % self.vocab_size
            keep_b, keep_t, keep_s = [], [], []
            for s, b, tok in zip(top_scores.tolist(), beams.tolist(), tokens.tolist()):
                if tok == self.eos_id or t == steps - 1:
                    seq = hyps[b] if tok == self.eos_id else hyps[b] + [tok]
                    finished.append((s / _length_penalty(len(seq) + 1, alpha), seq))
                else:
                    keep_b.append(b)
                    keep_t.append(tok)
                    keep_s.append(s)
                if len(keep_b) == k:
                    break
            best_finished = max((f[0] for f in finished), default=-math.inf)
            # Scores only fall as hypotheses grow, so once the best live one (even
            # with the most favourable penalty) cannot win, stop.
            if not keep_b or (len(finished) >= k and keep_s[0] / _length_penalty(steps + 1, alpha) < best_finished):
                break
            index = torch.tensor(keep_b, device=device)
            hyps = [hyps[b] + [tok] for b, tok in zip(keep_b, keep_t)]
            scores = torch.tensor(keep_s, device=device)
            prev = torch.tensor([keep_t], dtype=torch.long, device=device)
            state = tuple(s.index_select(1, index) for s in state) if isinstance(state, tuple) else state.index_select(1, index)
        if not finished:
            return hyps[0]
        return max(finished, key=lambda f: f[0])[1]


def _length_penalty(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids
