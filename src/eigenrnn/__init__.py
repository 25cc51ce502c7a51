"""eigenrnn: eigen analysis and eigen-spectrum initialization of recurrent networks.

Implements and extends *Dynamic Analysis and an Eigen Initializer for Recurrent
Neural Networks* (Dou & Principe, 2023).

>>> import torch, eigenrnn
>>> gru = torch.nn.GRU(8, 32)
>>> _ = eigenrnn.init_rnn(gru, "eigen", generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eigenrnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
