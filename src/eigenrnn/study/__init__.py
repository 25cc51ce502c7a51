"""Studies of trained networks: the trained-spectra study (:mod:`eigenrnn.study.spectra`, :mod:`eigenrnn.study.output`).

The runs are benchmark runs (:mod:`eigenrnn.bench`); this package owns what is
studied in them and the summary it writes.  ``eigenrnn study spectra`` is the command line.

>>> from eigenrnn.study import study_grid
>>> len(study_grid("smoke")) > 0
True
"""

from __future__ import annotations

from eigenrnn import _lazy

# Loaded on first access (PEP 562): the CLI parser must not import torch.
_LAZY = {
    **dict.fromkeys(("STUDY_PROFILES", "TASK_TYPES", "THRESHOLDS", "RunSpectra", "StudyProfile", "Threshold",
                     "read_run", "spectrum_stats", "study_grid", "summarize", "task_type", "train_with_init_snapshot"),
                    "eigenrnn.study.spectra"),
    **dict.fromkeys(("markdown", "run_study", "write_figures"), "eigenrnn.study.output"),
}

__all__ = sorted(_LAZY)

__getattr__ = _lazy.lazy_getattr(__name__, _LAZY, globals())
