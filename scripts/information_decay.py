"""Entry point of the information-decay study; the method is documented in :mod:`eigenrnn.analysis.decay_study`.

    .venv/bin/eigenrnn study spectra --profile cpu --out runs/study-cpu
    .venv/bin/python scripts/information_decay.py runs/study-cpu/runs --out runs/analysis

Writes ``OUT/information_decay.json`` and the figures ``OUT/decay_<task>.png``
and ``OUT/eigenvalues_<task>.png``.
"""

import sys

from eigenrnn.analysis.decay_outputs import main

if __name__ == "__main__":
    sys.exit(main())
