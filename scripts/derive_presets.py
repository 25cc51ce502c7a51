"""Derive the eigen initializer's presets from a trained-spectra study.

    .venv/bin/eigenrnn study spectra --profile cpu --out runs/study-cpu
    .venv/bin/python scripts/derive_presets.py runs/study-cpu/summary.json --default classification

Reads the study's fitted spectra (``summary["fits"]``: eigenrnn.spectrum.fit_spectrum
of the pooled eigenvalues of the well-trained runs, per task type, cell and
gate), prints every number it writes, and writes
``src/eigenrnn/data/presets.json`` (or ``--out``) atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eigenrnn.io import atomic_write_json
from eigenrnn.rnn import GATES
from eigenrnn.spectrum import PRESETS_PATH, Spectrum


def derive(summary: dict, default: str) -> dict:
    fits = summary["summary"]["fits"]
    presets = {}
    for task_type, cells in fits.items():
        entry = {"all": Spectrum.from_dict(cells["all"]).to_dict()}
        for cell, gates in GATES.items():
            if cell not in cells:
                sys.exit(f"derive_presets: the study has no well-trained {cell} run for {task_type}; cannot derive its preset")
            entry[cell] = {}
            for gate in gates:
                fields = cells[cell].get(gate)
                if fields is None:
                    sys.exit(f"derive_presets: no fit for {task_type}/{cell}/{gate}")
                entry[cell][gate] = Spectrum.from_dict(fields).to_dict()  # validates
        presets[task_type] = entry
    if default not in presets:
        sys.exit(f"derive_presets: --default: got {default!r}; expected one of {', '.join(presets)}")
    meta = summary["meta"]
    return {
        "default": default,
        "source": {"profile": meta["profile"], "commit": meta["commit"], "hardware": meta["hardware"],
                   "seeds": meta["seeds"], "written": meta["written"]},
        "presets": presets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="summary.json written by `eigenrnn study spectra`")
    parser.add_argument("--default", required=True, help="the preset eigen_ uses by default")
    parser.add_argument("--out", type=Path, default=PRESETS_PATH)
    args = parser.parse_args()
    result = derive(json.loads(args.summary.read_text()), args.default)
    for name, entry in result["presets"].items():
        print(f"[{name}]{' (default)' if name == args.default else ''}")
        for cell, gates in entry.items():
            items = [("all", gates)] if cell == "all" else gates.items()
            for gate, s in items:
                print(f"  {cell:<4} {gate:<3} radius=[{s['radius'][0]:.3f}, {s['radius'][1]:.3f}] "
                      f"{s['distribution']:<7} max_phase={s['max_phase']:.3f} real_fraction={s['real_fraction']:.3f}")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
