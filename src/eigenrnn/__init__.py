"""eigenrnn: eigen analysis and eigen-spectrum initialization of recurrent networks.

Implements and extends *Dynamic Analysis and an Eigen Initializer for Recurrent
Neural Networks* (Dou & Principe, 2023).

>>> import torch, eigenrnn
>>> gru = torch.nn.GRU(8, 32)
>>> _ = eigenrnn.init_rnn(gru, "eigen", generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from eigenrnn import _lazy

__version__ = "0.1.0"

# The public names load their module (and torch, about a second) on first
# access (PEP 562), so that `eigenrnn --help` and torch-free tools start fast.
_LAZY = {
    "init_rnn": "eigenrnn.init",
    "recurrent_blocks": "eigenrnn.init",
    "schemes": "eigenrnn.init",
    "Spectrum": "eigenrnn.spectrum",
    "sample_eigenvalues": "eigenrnn.spectrum",
    "spectral_matrix": "eigenrnn.spectrum",
}

__all__ = [
    "__version__",
    "Spectrum",
    "init_rnn",
    "recurrent_blocks",
    "sample_eigenvalues",
    "schemes",
    "spectral_matrix",
]


__getattr__ = _lazy.lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
