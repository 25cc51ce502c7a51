r"""Pure single-step maps of PyTorch's recurrent cells and their closed-form Jacobians.

The state ``s`` is ``h`` for RNN and GRU, and the concatenation ``(h, c)`` for
LSTM (``S = P + H``, with ``P = H`` unless ``proj_size = P``).  Gate order and
equations follow PyTorch exactly:

* RNN: :math:`h' = f(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`, ``f`` tanh or relu.
* LSTM (gates ``i, f, g, o``): :math:`c' = f \odot c + i \odot g`,
  :math:`h' = W_{hr}(o \odot \tanh c')` (no :math:`W_{hr}` without projection).
* GRU (gates ``r, z, n``): :math:`n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))`,
  :math:`h' = (1 - z) \odot n + z \odot h`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace

import torch
from torch import nn

from eigenrnn.errors import bad_value
from eigenrnn.rnn import GATES, NONLINEARITIES, RECURRENT_TYPES, module_kind

__all__ = ["CellParams", "cell_params", "cell_step", "cell_jacobian", "RECURRENT_TYPES"]



@dataclass(frozen=True, eq=False)
class CellParams:
    """Parameters of one layer and direction of a recurrent module.

    Attributes:
        kind: ``"tanh"``, ``"relu"`` (vanilla RNN), ``"lstm"`` or ``"gru"``.
        weight_ih: ``(G·H, I)``.
        weight_hh: ``(G·H, P)``.
        bias_ih, bias_hh: ``(G·H,)`` or ``None`` (``bias=False``).
        weight_hr: LSTM projection ``(P, H)`` or ``None``.
    """

    kind: str
    weight_ih: torch.Tensor
    weight_hh: torch.Tensor
    bias_ih: torch.Tensor | None = None
    bias_hh: torch.Tensor | None = None
    weight_hr: torch.Tensor | None = None

    @property
    def hidden_size(self) -> int:
        return self.weight_hh.shape[0] // len(GATES["rnn" if self.kind in NONLINEARITIES else self.kind])

    @property
    def output_size(self) -> int:
        """Size of ``h`` (``P`` for a projected LSTM, else ``H``)."""
        return self.weight_hh.shape[1]

    @property
    def input_size(self) -> int:
        return self.weight_ih.shape[1]

    @property
    def state_size(self) -> int:
        return self.output_size + self.hidden_size if self.kind == "lstm" else self.hidden_size

    def to(self, dtype: torch.dtype) -> CellParams:
        def cast(t):
            return None if t is None else t.detach().to(dtype)

        return replace(
            self,
            weight_ih=cast(self.weight_ih),
            weight_hh=cast(self.weight_hh),
            bias_ih=cast(self.bias_ih),
            bias_hh=cast(self.bias_hh),
            weight_hr=cast(self.weight_hr),
        )


def num_directions(module: nn.Module) -> int:
    return 2 if isinstance(module, nn.RNNBase) and module.bidirectional else 1


def num_layers(module: nn.Module) -> int:
    return module.num_layers if isinstance(module, nn.RNNBase) else 1


def check_layer(module: nn.Module, layer: int, direction: int) -> tuple[int, int]:
    """Validate ``layer``/``direction`` for ``module`` and return them as ints."""
    for name, value, count in (("layer", layer, num_layers(module)), ("direction", direction, num_directions(module))):
        try:
            index = operator.index(value)
        except TypeError:
            raise TypeError(bad_value(name, value, f"an int in [0, {count})")) from None
        if not 0 <= index < count:
            raise ValueError(bad_value(name, value, f"an int in [0, {count}) for this {type(module).__name__}"))
    return operator.index(layer), operator.index(direction)


def cell_params(module: nn.Module, layer: int = 0, direction: int = 0) -> CellParams:
    """Extract (detached) parameters of one layer and direction of ``module``.

    Args:
        module: nn.RNN/LSTM/GRU or nn.RNNCell/LSTMCell/GRUCell.
        layer: layer index (0 for cells).
        direction: 0 forward, 1 reverse (bidirectional modules only).
    """
    kind = module_kind(module)
    layer, direction = check_layer(module, layer, direction)
    suffix = f"_l{layer}{'_reverse' if direction else ''}" if isinstance(module, nn.RNNBase) else ""

    def get(name: str) -> torch.Tensor | None:
        value = getattr(module, f"{name}{suffix}", None)
        return None if value is None else value.detach()

    weight_hr = get("weight_hr") if kind == "lstm" and getattr(module, "proj_size", 0) > 0 else None
    return CellParams(
        kind=kind,
        weight_ih=get("weight_ih"),
        weight_hh=get("weight_hh"),
        bias_ih=get("bias_ih"),
        bias_hh=get("bias_hh"),
        weight_hr=weight_hr,
    )


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if bias is not None and x.dim() == 2:
        return torch.addmm(bias, x, weight.mT)  # one pass over the output instead of two
    out = x @ weight.mT
    return out if bias is None else out + bias


def _gru_gates(params: CellParams, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The GRU gates ``(r, z, n)`` and ``W_hn h + b_hn`` (the Jacobian needs it); each ``(..., H)``."""
    gi_r, gi_z, gi_n = _affine(x, params.weight_ih, params.bias_ih).chunk(3, dim=-1)
    gh_r, gh_z, gh_n = _affine(state, params.weight_hh, params.bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(gi_r + gh_r)
    z = torch.sigmoid(gi_z + gh_z)
    n = torch.tanh(gi_n + r * gh_n)
    return r, z, n, gh_n


def _lstm_gates(params: CellParams, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The cell half ``c`` of ``state = (h, c)`` and the LSTM gates ``(i, f, g, o)``; each ``(..., H)``."""
    p = params.output_size
    h, c = state[..., :p], state[..., p:]
    pre = _affine(x, params.weight_ih, params.bias_ih) + _affine(h, params.weight_hh, params.bias_hh)
    i, f, g, o = pre.chunk(4, dim=-1)
    return c, torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def cell_step(params: CellParams, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """One step ``s' = F(s, x)`` of the cell; pure, so ``torch.func`` can transform it.

    Shapes: ``x`` ``(..., I)``, ``state`` ``(..., S)`` -> ``(..., S)``.
    """
    kind = params.kind
    if kind in ("tanh", "relu"):
        pre = _affine(x, params.weight_ih, params.bias_ih) + _affine(state, params.weight_hh, params.bias_hh)
        return torch.tanh(pre) if kind == "tanh" else torch.relu(pre)
    if kind == "gru":
        r, z, n, _ = _gru_gates(params, x, state)
        return (1 - z) * n + z * state
    c, i, f, g, o = _lstm_gates(params, x, state)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if params.weight_hr is not None:
        h_new = h_new @ params.weight_hr.mT
    return torch.cat([h_new, c_new], dim=-1)


def _rows(coef: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``diag(coef) @ matrix`` batched: ``(..., n)`` x ``(n, m)`` -> ``(..., n, m)``."""
    return coef.unsqueeze(-1) * matrix


def cell_jacobian(params: CellParams, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    r"""Closed-form Jacobian :math:`\partial F(s, x) / \partial s` of :func:`cell_step`.

    * RNN: :math:`\mathrm{diag}(f'(a)) W_{hh}` (tanh: :math:`f' = 1 - h'^2`; relu: :math:`[a > 0]`).
    * GRU: :math:`\mathrm{diag}(z) + \mathrm{diag}((h-n)z(1-z)) W_{hz}
      + \mathrm{diag}((1-z)(1-n^2)) [\mathrm{diag}(r) W_{hn} + \mathrm{diag}(\hat n\, r(1-r)) W_{hr}]`
      with :math:`\hat n = W_{hn} h + b_{hn}`.
    * LSTM: the ``2×2`` block matrix of :math:`\partial(h', c')/\partial(h, c)`.

    Shapes: ``x`` ``(..., I)``, ``state`` ``(..., S)`` -> ``(..., S, S)``.
    """
    kind = params.kind
    w_hh = params.weight_hh
    if kind in ("tanh", "relu"):
        pre = _affine(x, params.weight_ih, params.bias_ih) + _affine(state, w_hh, params.bias_hh)
        slope = 1 - torch.tanh(pre).square() if kind == "tanh" else (pre > 0).to(pre.dtype)
        return _rows(slope, w_hh)
    if kind == "gru":
        w_r, w_z, w_n = w_hh.chunk(3, dim=0)
        r, z, n, gh_n = _gru_gates(params, x, state)
        through_n = (1 - z) * (1 - n.square())
        # In-place accumulation: one (…, H, H) buffer instead of five temporaries.
        jac = _rows((state - n) * z * (1 - z), w_z)
        jac.addcmul_((through_n * r).unsqueeze(-1), w_n)
        jac.addcmul_((through_n * gh_n * r * (1 - r)).unsqueeze(-1), w_r)
        jac.diagonal(dim1=-2, dim2=-1).add_(z)
        return jac
    w_i, w_f, w_g, w_o = w_hh.chunk(4, dim=0)
    c, i, f, g, o = _lstm_gates(params, x, state)
    c_new = f * c + i * g
    tc = torch.tanh(c_new)
    dc_dh = _rows(c * f * (1 - f), w_f) + _rows(g * i * (1 - i), w_i) + _rows(i * (1 - g.square()), w_g)  # (..., H, P)
    through_c = o * (1 - tc.square())
    dm_dh = _rows(tc * o * (1 - o), w_o) + through_c.unsqueeze(-1) * dc_dh  # (..., H, P)
    dm_dc = torch.diag_embed(through_c * f)  # (..., H, H)
    if params.weight_hr is not None:
        dh_dh = params.weight_hr @ dm_dh
        dh_dc = params.weight_hr * (through_c * f).unsqueeze(-2)
    else:
        dh_dh, dh_dc = dm_dh, dm_dc
    top = torch.cat([dh_dh, dh_dc], dim=-1)
    bottom = torch.cat([dc_dh, torch.diag_embed(f)], dim=-1)
    return torch.cat([top, bottom], dim=-2)


#: Rows (steps × batch) per block in :func:`mean_cell_jacobian`: the block's
#: temporaries (≈ rows · G·H float64) then stay in cache, which is most of the speed.
_MEAN_BLOCK_ELEMENTS = 1 << 17


def _coefficients(params: CellParams, x: torch.Tensor, state: torch.Tensor) -> list[torch.Tensor]:
    """The per-row coefficient vectors of :func:`mean_cell_jacobian`'s terms, ``(rows, ·)`` each.

    In-place updates where a temporary is not reused: after the ``state @ W_hh``
    product, memory traffic is the cost.
    """
    kind = params.kind
    if kind in ("tanh", "relu"):
        pre = _affine(x, params.weight_ih, params.bias_ih) + _affine(state, params.weight_hh, params.bias_hh)
        return [torch.tanh(pre).square_().neg_().add_(1) if kind == "tanh" else (pre > 0).to(pre.dtype)]
    if kind == "gru":
        r, z, n, gh_n = _gru_gates(params, x, state)
        keep = 1 - z
        through_n = n.square().neg_().add_(1).mul_(keep)
        via_r = through_n * r
        return [n.neg_().add_(state).mul_(z).mul_(keep), via_r, (1 - r).mul_(gh_n).mul_(via_r), z]
    c, i, f, g, o = _lstm_gates(params, x, state)
    tc = torch.tanh(f * c + i * g)
    a_f, a_i, a_g = c * f * (1 - f), g * i * (1 - i), i * (1 - g.square())
    through_c = o * (1 - tc.square())
    return [a_f, a_i, a_g, tc * o * (1 - o), through_c * a_f, through_c * a_i, through_c * a_g, through_c * f, f]


def mean_cell_jacobian(params: CellParams, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    r"""The mean of :func:`cell_jacobian` over all leading dimensions, without forming one Jacobian per step.

    Every term of the closed forms is :math:`\mathrm{diag}(a_{t,b})\, W` for a
    fixed matrix ``W`` (or a diagonal), so
    :math:`\mathbb{E}[\mathrm{diag}(a) W] = \mathrm{diag}(\mathbb{E}[a]) W`: the
    average costs ``O(T B S)`` for the coefficients plus ``O(S^2)`` per term,
    instead of ``O(T B S^2)``.  The coefficients are computed in the dtype of
    ``params`` (``x`` and ``state`` are cast to it block by block, so a float32
    trajectory needs no float64 copy) and summed over blocks of rows that fit
    in cache.

    Shapes: ``x`` ``(..., I)``, ``state`` ``(..., S)`` -> ``(S, S)``.
    """
    dtype = params.weight_hh.dtype
    flat_x, flat_s = x.reshape(-1, x.shape[-1]), state.reshape(-1, state.shape[-1])
    rows = flat_s.shape[0]
    block = max(1, _MEAN_BLOCK_ELEMENTS // params.weight_hh.shape[0])
    sums: list[torch.Tensor] | None = None
    for r0 in range(0, rows, block):
        terms = _coefficients(params, flat_x[r0 : r0 + block].to(dtype), flat_s[r0 : r0 + block].to(dtype))
        if sums is None:
            sums = [t.sum(dim=0) for t in terms]
        else:
            for total, t in zip(sums, terms):
                total += t.sum(dim=0)
    means = [total / rows for total in sums]
    kind = params.kind
    w_hh = params.weight_hh
    if kind in ("tanh", "relu"):
        return _rows(means[0], w_hh)
    if kind == "gru":
        w_r, w_z, w_n = w_hh.chunk(3, dim=0)
        m_z, m_n, m_r, m_diag = means
        jac = _rows(m_z, w_z)
        jac += _rows(m_n, w_n)
        jac += _rows(m_r, w_r)
        jac.diagonal().add_(m_diag)
        return jac
    w_i, w_f, w_g, w_o = w_hh.chunk(4, dim=0)
    m_f, m_i, m_g, m_o, mc_f, mc_i, mc_g, leak, m_keep = means
    dc_dh = _rows(m_f, w_f) + _rows(m_i, w_i) + _rows(m_g, w_g)
    dm_dh = _rows(m_o, w_o) + _rows(mc_f, w_f) + _rows(mc_i, w_i) + _rows(mc_g, w_g)
    if params.weight_hr is not None:
        dh_dh = params.weight_hr @ dm_dh
        dh_dc = params.weight_hr * leak.unsqueeze(-2)
    else:
        dh_dh, dh_dc = dm_dh, torch.diag(leak)
    top = torch.cat([dh_dh, dh_dc], dim=-1)
    bottom = torch.cat([dc_dh, torch.diag(m_keep)], dim=-1)
    return torch.cat([top, bottom], dim=-2)
