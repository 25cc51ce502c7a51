from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from eigenrnn import init_rnn, recurrent_blocks, schemes
from eigenrnn.init import (
    chain_,
    eigen_,
    irnn_,
    rescaled_glorot_,
    rescaled_glorot_scale,
    sp_,
)
from eigenrnn.spectrum import Spectrum, default_preset, preset_gate_spectra, preset_names, preset_spectrum

GATES = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- single tensors


def test_eigen_default_is_the_default_preset():
    spectrum = preset_spectrum(default_preset())
    w = eigen_(torch.empty(64, 64, dtype=torch.float64), generator=gen())
    moduli = torch.linalg.eigvals(w).abs()
    assert moduli.min() >= spectrum.r_min - 1e-9 and moduli.max() <= spectrum.r_max + 1e-9
    explicit = eigen_(torch.empty(64, 64, dtype=torch.float64), spectrum, generator=gen())
    assert torch.equal(w, explicit)


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_presets_are_valid_spectra_giving_finite_matrices(name, cell):
    per_gate = preset_gate_spectra(name, cell)
    assert set(per_gate) == set(GATES[cell])
    module = build(cell).double()
    init_rnn(module, "eigen", preset=name, generator=gen())
    for block in recurrent_blocks(module):
        spectrum = per_gate[block.gate]
        assert isinstance(spectrum, Spectrum)
        assert torch.isfinite(block.matrix()).all()
        moduli = torch.linalg.eigvals(block.matrix()).abs()
        assert moduli.min() >= spectrum.r_min - 1e-9 and moduli.max() <= spectrum.r_max + 1e-9


def test_partial_gate_mapping_takes_the_default_preset_for_other_gates():
    lstm = nn.LSTM(3, 32).double()
    init_rnn(lstm, "eigen", spectrum={"f": Spectrum(radius=(0.97, 0.97))}, generator=gen())
    defaults = preset_gate_spectra(default_preset(), "lstm")
    for block in recurrent_blocks(lstm):
        moduli = torch.linalg.eigvals(block.matrix()).abs()
        if block.gate == "f":
            assert torch.allclose(moduli, torch.full_like(moduli, 0.97))
        else:
            assert moduli.max() <= defaults[block.gate].r_max + 1e-9


def test_unknown_preset_and_spectrum_with_preset_are_refused():
    with pytest.raises(ValueError, match="preset: got 'speech'"):
        eigen_(torch.empty(4, 4), preset="speech")
    with pytest.raises(ValueError, match="preset"):
        init_rnn(nn.GRU(2, 4), "eigen", preset="classification", spectrum=Spectrum())


def test_sp_is_symmetric_positive_definite_with_unit_radius():
    w = sp_(torch.empty(40, 40, dtype=torch.float64), generator=gen())
    assert torch.allclose(w, w.T)
    eig = torch.linalg.eigvalsh(w)
    assert eig.min() > 0
    assert eig.max() == pytest.approx(1.0, abs=1e-12)


def test_irnn_is_the_scaled_identity():
    assert torch.equal(irnn_(torch.empty(5, 5)), torch.eye(5))
    assert torch.equal(irnn_(torch.empty(3, 3), gain=0.5), 0.5 * torch.eye(3))


def test_chain_has_alpha_on_the_superdiagonal_only():
    w = chain_(torch.empty(6, 6), alpha=1.02)
    assert torch.allclose(w.diagonal(1), torch.full((5,), 1.02))
    assert torch.count_nonzero(w) == 5
    assert torch.all(torch.linalg.eigvals(w).abs() < 1e-6)


def test_rescaled_glorot_variance_and_stable_edge():
    n = 400
    c = rescaled_glorot_scale(n)
    assert 0.8 < c < 1.0
    w = rescaled_glorot_(torch.empty(n, n, dtype=torch.float64), gen(1))
    assert stats.kstest(w.flatten().numpy(), stats.norm(scale=math.sqrt(c / n)).cdf).pvalue > 1e-3
    radii = [float(torch.linalg.eigvals(rescaled_glorot_(torch.empty(n, n, dtype=torch.float64), gen(s))).abs().max()) for s in range(8)]
    assert sum(r <= 1.0 for r in radii) >= 6  # the edge sits below one with probability ~0.95


def test_rescaled_glorot_refuses_sizes_where_cn_is_undefined():
    with pytest.raises(ValueError, match=r"n: got 32.*undefined"):
        rescaled_glorot_(torch.empty(32, 32))


@pytest.mark.parametrize("fn", [lambda t: eigen_(t), lambda t: sp_(t), irnn_, chain_, lambda t: rescaled_glorot_(t)])
def test_non_square_tensor_is_rejected(fn):
    with pytest.raises(ValueError, match=r"tensor.shape: got \(3, 4\)"):
        fn(torch.empty(3, 4))
    with pytest.raises(ValueError, match="tensor.shape"):
        fn(torch.empty(4))


def test_generator_on_wrong_device_is_rejected():
    with pytest.raises(ValueError, match="generator"):
        eigen_(torch.empty(4, 4, device="meta"), generator=gen())
    with pytest.raises(ValueError, match="generator"):
        sp_(torch.empty(4, 4, device="meta"), generator=gen())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_is_preserved_and_seed_reproduces(dtype):
    a = eigen_(torch.empty(16, 16, dtype=dtype), generator=gen(3))
    b = eigen_(torch.empty(16, 16, dtype=dtype), generator=gen(3))
    assert a.dtype == dtype and torch.equal(a, b)
    assert not torch.equal(a, eigen_(torch.empty(16, 16, dtype=dtype), generator=gen(4)))


def test_initializers_run_without_autograd_history():
    w = nn.Parameter(torch.empty(8, 8))
    for fn in (lambda t: eigen_(t, generator=gen()), lambda t: sp_(t, generator=gen()), irnn_, chain_):
        out = fn(w)
        assert out is w and out.grad_fn is None


# ---------------------------------------------------------------- init_rnn


def build(cell: str, **kw) -> nn.Module:
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    return cls(3, 12, **kw)


def gate_spectra(cell: str) -> dict[str, Spectrum]:
    return {g: Spectrum(radius=(0.1 * (i + 2), 0.1 * (i + 2))) for i, g in enumerate(GATES[cell])}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layout", [{}, {"num_layers": 2}, {"num_layers": 2, "bidirectional": True}])
def test_init_rnn_reaches_every_block(cell, layout):
    module = build(cell, **layout).double()
    spectra = gate_spectra(cell)
    init_rnn(module, "eigen", spectrum=spectra, generator=gen())
    blocks = recurrent_blocks(module)
    directions = 2 if layout.get("bidirectional") else 1
    assert len(blocks) == layout.get("num_layers", 1) * directions * len(GATES[cell])
    for block in blocks:
        moduli = torch.linalg.eigvals(block.matrix()).abs()
        assert torch.allclose(moduli, torch.full_like(moduli, spectra[block.gate].r_max), atol=1e-9), block.key


def test_init_rnn_lstm_projection_loop_matrix_has_the_spectrum():
    module = nn.LSTM(3, 12, proj_size=5, num_layers=2, bidirectional=True).double()
    spectra = gate_spectra("lstm")
    init_rnn(module, "eigen", spectrum=spectra, generator=gen())
    blocks = recurrent_blocks(module)
    assert len(blocks) == 16
    for block in blocks:
        assert block.matrix().shape == (5, 5)
        moduli = torch.linalg.eigvals(block.matrix()).abs()
        assert torch.allclose(moduli, torch.full_like(moduli, spectra[block.gate].r_max), atol=1e-9)


@pytest.mark.parametrize("cls, gates", [(nn.RNNCell, "h"), (nn.LSTMCell, "ifgo"), (nn.GRUCell, "rzn")])
def test_init_rnn_cells(cls, gates):
    cell = cls(3, 10).double()
    init_rnn(cell, "irnn", generator=gen())
    for i in range(len(gates)):
        assert torch.equal(cell.weight_hh[i * 10 : (i + 1) * 10], torch.eye(10, dtype=torch.float64))


def test_xavier_and_kaiming_blocks_follow_their_laws():
    h = 64
    gru = nn.GRU(h, h)
    init_rnn(gru, "xavier", generator=gen())
    bound = math.sqrt(6.0 / (2 * h))
    for block in recurrent_blocks(gru):
        values = block.weight().detach().flatten().numpy()
        assert stats.kstest(values, stats.uniform(loc=-bound, scale=2 * bound).cdf).pvalue > 1e-3
    init_rnn(gru, "kaiming", generator=gen())
    std = math.sqrt(2.0 / h)
    for block in recurrent_blocks(gru):
        values = block.weight().detach().flatten().numpy()
        assert stats.kstest(values, stats.norm(scale=std).cdf).pvalue > 1e-3
    # input blocks follow the scheme itself for kaiming
    assert stats.kstest(gru.weight_ih_l0[:h].detach().flatten().numpy(), stats.norm(scale=std).cdf).pvalue > 1e-3


def test_orthogonal_blocks_satisfy_wtw_equals_gain_squared_identity():
    lstm = nn.LSTM(4, 16, num_layers=2).double()
    init_rnn(lstm, "orthogonal", gain=0.9, generator=gen())
    for block in recurrent_blocks(lstm):
        w = block.weight()
        assert torch.allclose(w.T @ w, 0.81 * torch.eye(16, dtype=torch.float64), atol=1e-10)


def test_input_weights_biases_and_forget_bias():
    lstm = nn.LSTM(5, 8)
    init_rnn(lstm, "sp", forget_bias=1.0, generator=gen())
    bound = math.sqrt(6.0 / (8 + 5))
    assert lstm.weight_ih_l0.abs().max() <= bound
    assert torch.equal(lstm.bias_ih_l0[8:16], torch.ones(8))
    assert torch.count_nonzero(lstm.bias_ih_l0) == 8 and torch.count_nonzero(lstm.bias_hh_l0) == 0
    gru = nn.GRU(5, 8)
    init_rnn(gru, "eigen", bias=0.25, input_scheme="zeros", generator=gen())
    assert torch.all(gru.bias_ih_l0 == 0.25) and torch.all(gru.bias_hh_l0 == 0)
    assert torch.count_nonzero(gru.weight_ih_l0) == 0


def test_pytorch_scheme_reproduces_pytorch_default_bounds_and_is_seeded():
    a, b = nn.GRU(3, 16), nn.GRU(3, 16)
    init_rnn(a, "pytorch", generator=gen(5))
    init_rnn(b, "pytorch", generator=gen(5))
    bound = 1 / 4
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
        assert p.abs().max() <= bound and p.abs().max() > 0.8 * bound


@pytest.mark.parametrize("scheme", [s for s in schemes() if s != "rescaled-glorot"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_scheme_survives_a_forward_pass(scheme, cell):
    module = build(cell, num_layers=2)
    init_rnn(module, scheme, generator=gen())
    before = {k: v.clone() for k, v in module.state_dict().items()}
    out, _ = module(torch.randn(7, 2, 3))
    out.sum().backward()
    assert torch.isfinite(out).all()
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_rescaled_glorot_scheme_on_a_large_enough_module():
    rnn = nn.RNN(3, 200)
    init_rnn(rnn, "rescaled-glorot", generator=gen())
    assert float(rnn.weight_hh_l0.detach().std()) == pytest.approx(math.sqrt(rescaled_glorot_scale(200) / 200), rel=0.05)


def test_seeded_init_rnn_is_reproducible():
    a, b = nn.LSTM(3, 8), nn.LSTM(3, 8)
    init_rnn(a, "eigen", generator=gen(11))
    init_rnn(b, "eigen", generator=gen(11))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_unknown_scheme_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        init_rnn(nn.GRU(2, 4), "glorot")
    message = str(info.value)
    assert "'glorot'" in message and all(name in message for name in schemes())


def test_non_recurrent_module_is_a_type_error():
    with pytest.raises(TypeError, match="Linear"):
        init_rnn(nn.Linear(3, 3), "eigen")
    with pytest.raises(TypeError, match="module"):
        recurrent_blocks(nn.Linear(3, 3))


def test_bad_keyword_arguments_are_refused_not_ignored():
    with pytest.raises(TypeError, match="alpha"):
        init_rnn(nn.GRU(2, 4), "eigen", alpha=1.0)
    with pytest.raises(ValueError, match="forget_bias"):
        init_rnn(nn.GRU(2, 4), "xavier", forget_bias=1.0)
    with pytest.raises(ValueError, match="input_scheme"):
        init_rnn(nn.GRU(2, 4), "xavier", input_scheme="he")
    with pytest.raises(ValueError, match="spectrum gates"):
        init_rnn(nn.GRU(2, 4), "eigen", spectrum={"f": Spectrum()})
    with pytest.raises(ValueError, match="bias"):
        init_rnn(nn.GRU(2, 4, bias=False), "xavier", bias=0.5)
    with pytest.raises(ValueError, match="generator"):
        init_rnn(nn.GRU(2, 4, device="meta"), "eigen", generator=gen())


def test_schemes_lists_all_names():
    assert set(schemes()) == {"pytorch", "xavier", "kaiming", "orthogonal", "irnn", "sp", "eigen", "chain", "rescaled-glorot"}


def test_recurrent_blocks_walks_a_model():
    model = nn.ModuleDict({"enc": nn.GRU(3, 4), "dec": nn.LSTM(4, 4, num_layers=2)})
    keys = [b.key for b in recurrent_blocks(model)]
    assert keys[:3] == ["enc.l0.fwd.r", "enc.l0.fwd.z", "enc.l0.fwd.n"]
    assert len(keys) == 3 + 8
