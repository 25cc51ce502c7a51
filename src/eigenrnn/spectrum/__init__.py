"""Prescribed eigen-spectra and real matrices that have exactly them.

A :class:`Spectrum` describes a distribution of eigenvalues in the complex unit
disk: moduli in ``[r_min, r_max]`` (uniform in radius, or uniform in area over
the annulus as in the LRU of Orvieto et al. 2023), phases in
``[-max_phase, max_phase]``, and a fraction of purely real eigenvalues.
The moduli may instead be given by time constants (:meth:`Spectrum.timescales`:
``tau`` log-uniform, ``|lambda| = exp(-1/tau)``), and a :class:`SpectrumMixture`
takes exact shares of the modes from several spectra.
:func:`spectral_matrix` builds a real ``n x n`` matrix ``W = V D V^{-1}`` whose
eigenvalues are exactly a sample from it.

The package's modules: :mod:`~eigenrnn.spectrum.laws` (the two laws),
:mod:`~eigenrnn.spectrum.sampling` (eigenvalues and matrices),
:mod:`~eigenrnn.spectrum.fit` (fitting a law to observed eigenvalues) and
:mod:`~eigenrnn.spectrum.presets` (the laws measured on trained networks).
Every public name is importable from ``eigenrnn.spectrum``.
"""

from __future__ import annotations

from eigenrnn.spectrum.fit import FIT_QUANTILE, fit_spectrum, fit_spectrum_module
from eigenrnn.spectrum.laws import AnySpectrum, Distribution, Spectrum, SpectrumMixture, spectrum_from_dict
from eigenrnn.spectrum.presets import (
    PRESETS_PATH,
    default_preset,
    load_presets,
    preset_gate_spectra,
    preset_names,
    preset_spectrum,
)
from eigenrnn.spectrum.sampling import check_generator, sample_eigenvalues, spectral_matrix

__all__ = [
    "FIT_QUANTILE",
    "PRESETS_PATH",
    "AnySpectrum",
    "Distribution",
    "Spectrum",
    "SpectrumMixture",
    "check_generator",
    "default_preset",
    "fit_spectrum",
    "fit_spectrum_module",
    "load_presets",
    "preset_gate_spectra",
    "preset_names",
    "preset_spectrum",
    "sample_eigenvalues",
    "spectral_matrix",
    "spectrum_from_dict",
]
