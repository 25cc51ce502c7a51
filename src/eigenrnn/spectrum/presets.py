"""Spectra measured on well-trained networks: the presets of ``data/presets.json``, read once per process."""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

from eigenrnn.errors import bad_value
from eigenrnn.spectrum.laws import Spectrum

#: Written by ``scripts/derive_presets.py`` from ``eigenrnn study spectra``.
PRESETS_PATH = Path(__file__).resolve().parent.parent / "data" / "presets.json"


@functools.lru_cache(maxsize=None)
def _read_presets(path: Path) -> dict[str, Any]:
    """The parsed preset file at ``path``, read from disk on the first call only.

    Every :func:`eigen_ <eigenrnn.init.eigen_>` call without a spectrum asks
    for the presets, so reading the file each time would put disk reads in a
    hot path.  The cached dict is shared: only this module reads it, and
    :func:`load_presets` hands out deep copies.  A file rewritten during the
    process (``scripts/derive_presets.py``) is seen after ``_read_presets.cache_clear()``.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: preset file not found; regenerate it with scripts/derive_presets.py") from None


def _presets(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The cached file for ``path`` (default :data:`PRESETS_PATH`); read it, never change it."""
    return _read_presets(Path(path).resolve() if path is not None else PRESETS_PATH)


def load_presets(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the preset file: ``{"default": name, "source": {...}, "presets": {name: {...}}}``.

    Each preset maps ``"all"`` (the fit of every gate of every cell pooled) and
    ``"rnn"``/``"lstm"``/``"gru"`` (per gate) to :class:`Spectrum` fields.

    Args:
        path: the file (default :data:`PRESETS_PATH`).

    Returns:
        a fresh deep copy of the cached file, so that changing it changes no later result.

    >>> load_presets()["default"] == default_preset()
    True
    """
    return copy.deepcopy(_presets(path))


def preset_names() -> tuple[str, ...]:
    """The names of the presets, e.g. ``("classification", "regression")``."""
    return tuple(_presets()["presets"])


def default_preset() -> str:
    """The preset ``eigen_`` and ``init_rnn(..., "eigen")`` use when given neither spectrum nor preset."""
    return _presets()["default"]


def _preset_entry(name: str) -> dict[str, Any]:
    presets = _presets()["presets"]
    if name not in presets:
        raise ValueError(bad_value("preset", name, f"one of {', '.join(presets)}"))
    return presets[name]


def preset_spectrum(name: str) -> Spectrum:
    """The Spectrum of preset ``name`` pooled over every gate of every cell (what :func:`eigen_ <eigenrnn.init.eigen_>` uses).

    Args:
        name: a preset name (see :func:`preset_names`), e.g. ``"classification"``.

    >>> isinstance(preset_spectrum(default_preset()), Spectrum)
    True
    """
    return Spectrum.from_dict(_preset_entry(name)["all"])


def preset_gate_spectra(name: str, cell: str) -> dict[str, Spectrum]:
    """The per-gate Spectra of preset ``name`` for one cell kind (what ``init_rnn(..., "eigen")`` uses).

    Args:
        name: a preset name (see :func:`preset_names`).
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.

    Returns:
        ``{gate: Spectrum}``, one per gate of the cell (``"r"``, ``"z"``, ``"n"`` for GRU).

    >>> sorted(preset_gate_spectra(default_preset(), "gru"))
    ['n', 'r', 'z']
    """
    entry = _preset_entry(name)
    if cell not in entry or cell == "all":
        raise ValueError(bad_value("cell", cell, f"one of {', '.join(k for k in entry if k != 'all')}"))
    return {gate: Spectrum.from_dict(fields) for gate, fields in entry[cell].items()}
