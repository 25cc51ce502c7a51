"""eigenrnn: eigen analysis and eigen-spectrum initialization of recurrent networks.

Implements and extends *Dynamic Analysis and an Eigen Initializer for Recurrent
Neural Networks* (Dou & Principe, 2023).

>>> import torch, eigenrnn
>>> gru = torch.nn.GRU(8, 32)
>>> _ = eigenrnn.init_rnn(gru, "eigen", generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

__version__ = "0.1.0"

from eigenrnn.init import init_rnn, recurrent_blocks, schemes
from eigenrnn.spectrum import Spectrum, sample_eigenvalues, spectral_matrix

__all__ = [
    "__version__",
    "Spectrum",
    "init_rnn",
    "recurrent_blocks",
    "sample_eigenvalues",
    "schemes",
    "spectral_matrix",
]
