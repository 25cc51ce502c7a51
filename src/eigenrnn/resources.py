"""Refuse a model that cannot fit in memory before any of it is allocated.

The rule (docs/TRAINING.md, "Model size"): a model of ``P`` parameters of
``b`` bytes each needs ``TRAINING_COPIES * P * b`` bytes to train (weights,
gradients and the two Adam moments) and is refused when that exceeds the
memory of the device it would live on: the machine's physical memory for the
CPU, the device's total memory for CUDA.  ``P`` is a lower bound computed from
the sizes alone (the recurrent and input weights of every layer), so a model
is never refused that would have fitted.
"""

from __future__ import annotations

import os

from eigenrnn.errors import EigenRNNError, bad_value

#: Copies of the parameters that training holds at once: weights, gradients, two Adam moments.
TRAINING_COPIES = 4

#: Weight blocks per layer of each cell.
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def device_memory(device: str = "cpu") -> int | None:
    """Total bytes of memory of ``device`` (``"cpu"`` or ``"cuda[:k]"``), or ``None`` if unknown."""
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: no refusal
        return None


def recurrent_parameters(cell: str, hidden: int, layers: int = 1, input_size: int = 1) -> int:
    """Parameters of the weights of an ``nn.RNN/LSTM/GRU`` (biases excluded: a lower bound).

    >>> recurrent_parameters("gru", 4, layers=2, input_size=3)  # 3*4*(3+4) + 3*4*(4+4)
    180
    """
    gates = GATES[cell]
    return gates * hidden * (input_size + hidden) + (layers - 1) * gates * hidden * (2 * hidden)


def check_fits(argument: str, value: object, parameters: int, *, device: str = "cpu", bytes_per: int = 4) -> None:
    """Raise :class:`EigenRNNError` naming ``argument=value`` if ``parameters`` cannot be trained on ``device``.

    >>> check_fits("hidden", 10**7, recurrent_parameters("gru", 10**7))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eigenrnn.errors.EigenRNNError: hidden: got 10000000; expected a model that fits in memory: ...
    """
    memory = device_memory(device)
    need = TRAINING_COPIES * parameters * bytes_per
    if memory is not None and need > memory:
        raise EigenRNNError(bad_value(
            argument, value,
            f"a model that fits in memory: at least {parameters:.3g} parameters need {need / 2**30:.3g} GiB "
            f"to train, {device} has {memory / 2**30:.3g} GiB",
        ))
