from __future__ import annotations

import pytest
import torch
from torch import nn

from eigenrnn.init import init_rnn, recurrent_blocks
from eigenrnn.models import InputSpec, Seq2Seq, SequenceModel
from eigenrnn.spectrum import Spectrum


def _rnn_params(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_weights_are_exactly_init_rnn_output(cell):
    # Feature inputs: the recurrent module is the first thing drawn from the generator.
    model = SequenceModel(InputSpec("features", 3), 2, cell=cell, hidden=12, layers=2, init="eigen", seed=5)
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    reference = cls(3, 12, num_layers=2)
    init_rnn(reference, "eigen", generator=torch.Generator().manual_seed(5))
    got, want = _rnn_params(model.rnn), _rnn_params(reference)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0, msg=name)


def test_token_model_draws_embedding_then_rnn_from_one_generator():
    model = SequenceModel(InputSpec("tokens", 5, padding_idx=2), 2, hidden=8, embedding_dim=4, init="orthogonal", seed=1)
    g = torch.Generator().manual_seed(1)
    emb = torch.empty(5, 4).normal_(generator=g)
    emb[2] = 0
    reference = nn.GRU(4, 8)
    init_rnn(reference, "orthogonal", generator=g)
    torch.testing.assert_close(model.embedding.weight.detach(), emb, rtol=0, atol=0)
    for name, p in reference.named_parameters():
        torch.testing.assert_close(getattr(model.rnn, name).detach(), p.detach(), rtol=0, atol=0)


def test_eigen_init_kwargs_reach_the_recurrent_blocks():
    spectrum = Spectrum(radius=(0.5, 0.5), max_phase=0.0, real_fraction=1.0)
    model = SequenceModel(InputSpec("features", 1), 1, cell="rnn", hidden=10, init="eigen",
                          init_kwargs={"spectrum": spectrum}, seed=0)
    (block,) = recurrent_blocks(model)
    eig = torch.linalg.eigvals(block.matrix().detach().double())
    torch.testing.assert_close(eig.abs(), torch.full((10,), 0.5, dtype=torch.float64), rtol=0, atol=1e-6)


def test_construction_leaves_global_rng_alone_and_is_seeded():
    state = torch.get_rng_state()
    a = SequenceModel(InputSpec("tokens", 4), 2, hidden=6, seed=3)
    assert torch.equal(state, torch.get_rng_state())
    b = SequenceModel(InputSpec("tokens", 4), 2, hidden=6, seed=3)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    c = SequenceModel(InputSpec("tokens", 4), 2, hidden=6, seed=4)
    assert not torch.equal(a.rnn.weight_hh_l0, c.rnn.weight_hh_l0)


def test_last_readout_uses_each_sequence_true_length():
    model = SequenceModel(InputSpec("tokens", 4, padding_idx=2), 3, hidden=8, seed=0)
    seqs = [[3, 0, 1, 1], [3, 1], [3]]
    lengths = torch.tensor([len(s) for s in seqs])
    padded = torch.full((4, 3), 2, dtype=torch.long)
    for b, s in enumerate(seqs):
        padded[: len(s), b] = torch.tensor(s)
    batched = model(padded, lengths)
    for b, s in enumerate(seqs):
        alone = model(torch.tensor(s).view(-1, 1))
        torch.testing.assert_close(batched[b], alone[0])


def test_every_step_readout_shape_and_rnn_inputs():
    model = SequenceModel(InputSpec("features", 2), 1, cell="lstm", hidden=5, readout="every", seed=0)
    x = torch.randn(7, 3, 2)
    assert model(x).shape == (7, 3, 1)
    assert model.rnn_inputs(x) is x
    tokens = SequenceModel(InputSpec("tokens", 4), 2, hidden=5, embedding_dim=3, seed=0)
    assert tokens.rnn_inputs(torch.zeros(6, 2, dtype=torch.long)).shape == (6, 2, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cell": "transformer"}, "cell: got 'transformer'; expected one of"),
        ({"cell": "gru", "nonlinearity": "relu"}, "nonlinearity"),
        ({"readout": "mean"}, "readout"),
        ({"init": "nope"}, "scheme: got 'nope'"),
        ({"hidden": 0}, "hidden"),
        ({"seed": 0, "generator": torch.Generator()}, "at most one"),
    ],
)
def test_bad_arguments_name_the_valid_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceModel(InputSpec("features", 1), 1, **kwargs)


def test_relu_rnn_is_built():
    model = SequenceModel(InputSpec("features", 1), 1, cell="rnn", nonlinearity="relu", init="irnn", hidden=4, seed=0)
    assert model.rnn.nonlinearity == "relu"
    torch.testing.assert_close(model.rnn.weight_hh_l0.detach(), torch.eye(4))


# ---------------------------------------------------------------- Seq2Seq

def _s2s(cell="gru", **kw):
    return Seq2Seq(12, pad_id=0, bos_id=1, eos_id=2, cell=cell, hidden=16, init="eigen", seed=0, **kw)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_seq2seq_init_applies_to_encoder_and_decoder(cell):
    model = _s2s(cell)
    g = torch.Generator().manual_seed(0)
    torch.empty(12, 16).normal_(generator=g)  # encoder embedding is drawn first
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    enc = init_rnn(cls(16, 16), "eigen", generator=g)
    for name, p in enc.named_parameters():
        torch.testing.assert_close(getattr(model.encoder.rnn, name).detach(), p.detach(), rtol=0, atol=0)
    keys = {b.module_name for b in recurrent_blocks(model)}
    assert keys == {"encoder.rnn", "decoder.rnn"}


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_teacher_forced_logits_equal_step_by_step_decoding(cell):
    torch.manual_seed(0)
    model = _s2s(cell).eval()
    src = torch.tensor([[5, 6], [7, 8], [2, 9], [0, 2]])  # lengths 3 and 4, padded with 0
    lengths = torch.tensor([3, 4])
    tgt_in = torch.tensor([[1, 1], [4, 5], [6, 3], [8, 11]])
    full = model(src, lengths, tgt_in)
    memory, keys, mask, state = model.encode(src, lengths)
    steps = []
    for t in range(tgt_in.size(0)):
        logits, state = model.decoder(tgt_in[t : t + 1], state, memory, keys, mask)
        steps.append(logits[0])
    torch.testing.assert_close(full, torch.stack(steps), rtol=1e-5, atol=1e-5)


def test_encoder_ignores_padding():
    model = _s2s().eval()
    lengths = torch.tensor([2, 3])
    a = torch.tensor([[5, 6], [2, 7], [0, 2]])
    b = a.clone()
    b[2, 0] = 9  # garbage in the pad slot of sequence 0
    tgt = torch.tensor([[1, 1], [4, 4]])
    torch.testing.assert_close(model(a, lengths, tgt)[:, 0], model(b, lengths, tgt)[:, 0])


def test_seq2seq_learns_to_reverse_and_decodes_it():
    # Ground truth: after fitting a tiny reversal task, greedy and beam output the reversal.
    torch.manual_seed(0)
    model = Seq2Seq(8, pad_id=0, bos_id=1, eos_id=2, hidden=32, init="xavier", seed=0)
    g = torch.Generator().manual_seed(0)
    data = [torch.randint(3, 8, (int(torch.randint(2, 5, (1,), generator=g)),), generator=g).tolist() for _ in range(12)]
    def batch(seqs):
        n, width = len(seqs), max(len(s) for s in seqs) + 1
        src = torch.zeros(width, n, dtype=torch.long)
        tgt = torch.zeros(width + 1, n, dtype=torch.long)
        for b, s in enumerate(seqs):
            src[: len(s) + 1, b] = torch.tensor(s + [2])
            tgt[: len(s) + 2, b] = torch.tensor([1] + s[::-1] + [2])
        return src, torch.tensor([len(s) + 1 for s in seqs]), tgt
    src, lengths, tgt = batch(data)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        logits = model(src, lengths, tgt[:-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), tgt[1:].flatten(), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    want = [s[::-1] for s in data]
    assert model.greedy(src, lengths) == want
    assert model.beam_search(src, lengths, beam_size=3) == want
    assert model.beam_search(src, lengths, beam_size=1) == model.greedy(src, lengths)


def test_greedy_respects_max_len():
    model = _s2s().eval()
    out = model.greedy(torch.tensor([[5], [2]]), torch.tensor([2]), max_len=3)
    assert len(out) == 1 and len(out[0]) <= 3
    out = model.beam_search(torch.tensor([[5], [2]]), torch.tensor([2]), beam_size=2, max_len=3)
    assert len(out[0]) <= 3
