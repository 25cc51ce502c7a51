"""How information decays in vanilla RNN, LSTM and GRU: the linear λ^s picture against the real dynamics.

    .venv/bin/eigenrnn study spectra --profile cpu --out runs/study-cpu
    .venv/bin/python scripts/information_decay.py runs/study-cpu/runs --out docs/analysis

In the linear state-space model h_t = W h_{t-1} + U x_t, mode k of W carries an
input from s steps back scaled by λ_k^s (Dou & Principe, 2023).  A trained
network is not linear: tanh saturation and gates rescale every step.  For each
task and cell this script loads the trained model (``best.pt`` of the study run
``RUNS_DIR/study/<task>/<cell>/<init>/seed0``) and the same model at
initialization (rebuilt from the run's config and seed, checked against the
first snapshot of the run's ``spectra.npz``), drives both with the task's
example inputs, and measures

* the linear memory curve m(s) = ‖W^s U‖_F / ‖U‖_F of the candidate block
  (``h`` for RNN, GRU ``n``, LSTM ``g``; U = that gate's rows of ``weight_ih``),
* the gradient-decay curve g(s) = ‖J_T ⋯ J_{T-s+1}‖₂ along the real
  trajectories (mean over sequences; the state is (h, c) for LSTM),
* the eigenvalues of W against those of the time-averaged Jacobian J̄,
* the mean tanh slope and gate openings that make J differ from W.

Writes ``OUT/information_decay.json`` and the figures ``OUT/decay_<task>.png``
and ``OUT/eigenvalues_<task>.png``.
"""

import sys

from eigenrnn.analysis.decay_outputs import main

if __name__ == "__main__":
    sys.exit(main())
