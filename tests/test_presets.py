"""The preset file: read once per process, handed out as copies, one return type per function (issue 11, items 6-7)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eigenrnn.init import eigen_, init_rnn, recurrent_blocks
from eigenrnn.spectrum import (
    PRESETS_PATH,
    Spectrum,
    default_preset,
    load_presets,
    preset_gate_spectra,
    preset_names,
    preset_spectrum,
)
from eigenrnn.spectrum import presets as presets_module

GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@pytest.fixture
def preset_reads(monkeypatch):
    """Count the reads of the preset file from a cold cache; the cache is emptied again afterwards."""
    reads = []
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        if self.name == PRESETS_PATH.name:
            reads.append(self)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    presets_module._read_presets.cache_clear()
    yield reads
    presets_module._read_presets.cache_clear()


def test_eigen_reads_the_preset_file_once_across_calls(preset_reads):
    g = torch.Generator().manual_seed(0)
    for preset in (None, None, "regression", "classification", None):
        eigen_(torch.empty(8, 8), preset=preset, generator=g)
    assert len(preset_reads) == 1


def test_init_rnn_and_the_preset_queries_share_that_one_read(preset_reads):
    g = torch.Generator().manual_seed(0)
    for cell in ("rnn", "lstm", "gru"):
        init_rnn(torch.nn.RNN(2, 8) if cell == "rnn" else getattr(torch.nn, cell.upper())(2, 8), "eigen", generator=g)
    eigen_(torch.empty(8, 8), generator=g)
    preset_names(), default_preset(), load_presets()
    assert len(preset_reads) == 1


def test_the_cache_gives_the_same_weights_as_a_fresh_read():
    w = eigen_(torch.empty(16, 16), generator=torch.Generator().manual_seed(3))
    presets_module._read_presets.cache_clear()
    fresh = eigen_(torch.empty(16, 16), generator=torch.Generator().manual_seed(3))
    assert torch.equal(w, fresh)


def test_changing_what_load_presets_returns_changes_nothing_else():
    name = default_preset()
    before = preset_spectrum(name)
    data = load_presets()
    data["default"] = "changed"
    data["presets"][name]["all"]["radius"][1] = 0.01
    data["presets"][name]["gru"].clear()
    assert default_preset() == name
    assert preset_spectrum(name) == before
    assert set(preset_gate_spectra(name, "gru")) == set(GATES["gru"])
    assert load_presets()["presets"][name]["all"]["radius"][1] == pytest.approx(before.r_max)


@pytest.mark.parametrize("name", preset_names())
def test_preset_spectrum_is_always_one_spectrum(name):
    spectrum = preset_spectrum(name)
    assert isinstance(spectrum, Spectrum)
    with pytest.raises(TypeError):
        preset_spectrum(name, "gru")  # the per-gate form is preset_gate_spectra


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("cell", sorted(GATES))
def test_preset_gate_spectra_is_always_a_mapping_gate_to_spectrum(name, cell):
    spectra = preset_gate_spectra(name, cell)
    assert set(spectra) == set(GATES[cell])
    assert all(isinstance(s, Spectrum) for s in spectra.values())


def test_init_rnn_eigen_uses_the_cells_gate_spectra():
    gru = torch.nn.GRU(2, 40).double()
    init_rnn(gru, "eigen", preset="regression", generator=torch.Generator().manual_seed(1))
    spectra = preset_gate_spectra("regression", "gru")
    for block in recurrent_blocks(gru):
        moduli = torch.linalg.eigvals(block.matrix().detach()).abs()
        assert spectra[block.gate].r_min - 1e-9 <= float(moduli.min())
        assert float(moduli.max()) <= spectra[block.gate].r_max + 1e-9


@pytest.mark.parametrize("cell", ["all", "transformer"])
def test_preset_gate_spectra_refuses_what_is_not_a_cell(cell):
    with pytest.raises(ValueError, match="cell: got"):
        preset_gate_spectra(default_preset(), cell)


def test_unknown_preset_is_refused_by_both():
    with pytest.raises(ValueError, match="preset: got 'speech'"):
        preset_spectrum("speech")
    with pytest.raises(ValueError, match="preset: got 'speech'"):
        preset_gate_spectra("speech", "gru")
