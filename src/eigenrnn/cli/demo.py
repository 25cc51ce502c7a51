"""`eigenrnn demo`: eigen versus Xavier initialization of a small GRU on a Tomita grammar.

Needs no download (Tomita strings are generated).  Trains the same GRU twice,
with the same seed, data and budget, once initialized with the eigen
initializer and once with Xavier; prints test and length-generalisation
accuracy and the steps to 100% training accuracy side by side; saves the
eigenvalues of every recurrent gate block before and after training as
``spectra.npz`` and ``spectra_<init>.png`` (complex plane with the unit
circle), next to the two run directories.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from eigenrnn.cli._threads import add_threads_option, set_threads
from eigenrnn.errors import bad_value

INITS = ("eigen", "xavier")
_MARKER = "demo.json"


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="eigen vs Xavier init of a GRU on a Tomita grammar (under a minute on a CPU)",
        description="Train a small GRU on a Tomita grammar with the eigen initializer and with Xavier, "
        "side by side, and plot their recurrent spectra before and after training.",
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--grammar", type=int, default=4, choices=range(1, 8), metavar="K", help="Tomita grammar 1-7 (default 4)")
    p.add_argument("--hidden", type=int, default=16, help="GRU hidden size (default 16)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed shared by both runs (default 0)")
    p.add_argument("--train-size", type=int, default=None, help="limit the training strings (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true", help="replace an earlier `eigenrnn demo` output at --out (default: refuse it)")
    add_threads_option(p)
    p.set_defaults(func=run)


class _SpectrumRecorder:
    """Callback: eigenvalues of every recurrent gate block at the start and the end of training."""

    def __init__(self) -> None:
        self.before: dict[str, np.ndarray] = {}
        self.after: dict[str, np.ndarray] = {}

    @staticmethod
    def _eigs(model) -> dict[str, np.ndarray]:
        import torch

        from eigenrnn.rnn import recurrent_blocks

        with torch.no_grad():
            return {b.gate: torch.linalg.eigvals(b.matrix().double().cpu()).numpy() for b in recurrent_blocks(model)}

    def on_train_start(self, trainer) -> None:
        self.before = self._eigs(trainer.model)

    def on_train_end(self, trainer) -> None:
        self.after = self._eigs(trainer.model)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run a block on ``n`` intra-op threads (``--threads``), restoring the count after:
    ``run`` is also called in-process (tests, notebooks)."""
    import torch

    before = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _prepare_out(out: Path, force: bool) -> None:
    """Refuse an --out the demo may not write; clear its own earlier output (with ``force``)."""
    from eigenrnn.io import check_output, mark_output

    if check_output(out, "demo", force=force, legacy=(_MARKER,)) == "own":
        for name in INITS:
            shutil.rmtree(out / name, ignore_errors=True)
    mark_output(out, "demo")


def plot_spectra(recorder: _SpectrumRecorder, path: Path, title: str) -> None:
    """All recurrent eigenvalues before and after training, on the complex plane with the unit circle."""
    from eigenrnn.analysis.plots import plot_eigenvalues, save_figure

    gates = "".join(recorder.before)
    fig = plot_eigenvalues(
        {
            f"before training (gates {gates})": np.concatenate(list(recorder.before.values())),
            f"after training (gates {gates})": np.concatenate(list(recorder.after.values())),
        },
        title=title,
    )
    save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    from eigenrnn.train import train

    from eigenrnn.io import atomic_write_text
    from eigenrnn.train import TrainConfig

    for name in ("hidden", "epochs"):
        if getattr(args, name) < 1:
            raise ValueError(bad_value(f"--{name}", getattr(args, name), "a positive int"))
    out = Path(args.out)
    task = f"tomita{args.grammar}"
    configs = {
        init: {
            "task": task, "cell": "gru", "init": init, "hidden": args.hidden, "epochs": args.epochs,
            "batch_size": 32, "lr": 3e-3, "seed": args.seed, "train_size": args.train_size,
            "eval_every": 10, "device": "cpu", "out": str(out / init),
        }
        for init in INITS
    }
    for config in configs.values():  # every argument is checked before anything is written
        TrainConfig.from_dict(config).resolve()
    _prepare_out(out, args.force)
    atomic_write_text(out / _MARKER, json.dumps({"grammar": args.grammar, "seed": args.seed}) + "\n")
    start = time.perf_counter()
    results: dict[str, Any] = {}
    recorders: dict[str, _SpectrumRecorder] = {}
    for init, config in configs.items():
        print(f"training GRU-{args.hidden} on {task} with {init} init ...", flush=True)
        recorders[init] = _SpectrumRecorder()
        with _threads(args.threads):
            results[init] = train(config, callbacks=[recorders[init]], progress=not args.no_progress)
    np.savez(
        out / "spectra.npz",
        **{f"{init}_{moment}_{gate}": values for init, rec in recorders.items()
           for moment, eigs in (("before", rec.before), ("after", rec.after)) for gate, values in eigs.items()},
    )
    for init, recorder in recorders.items():
        plot_spectra(recorder, out / f"spectra_{init}.png", f"GRU-{args.hidden} on {task}, {init} init")
    elapsed = time.perf_counter() - start
    print()
    print(format_table(results, task))
    print()
    pngs = "  ".join(str(out / f"spectra_{init}.png") for init in INITS)
    print(f"spectra before/after training: {pngs}  (values: {out / 'spectra.npz'})")
    print(f"run directories: {out / 'eigen'}  {out / 'xavier'}")
    print(f"total time {elapsed:.1f} s")
    return 0


def format_table(results: dict[str, Any], task: str) -> str:
    """The side-by-side results of the demo runs."""
    from eigenrnn.tasks.tomita import GENERALISATION_LENGTHS

    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    gen = f"len {min(GENERALISATION_LENGTHS)}-{max(GENERALISATION_LENGTHS)} acc"
    lines = [
        f"{task}: same seed, data and budget",
        f"  {'init':<8}{'test acc':>10}{gen:>16}{'steps to 100% train acc':>26}",
    ]
    for init, r in results.items():
        steps = "not reached" if r.steps_to_target is None else str(r.steps_to_target)
        lines.append(f"  {init:<8}{pct(r.test_metric):>10}{pct(r.generalisation_metric):>16}{steps:>26}")
    return "\n".join(lines)
