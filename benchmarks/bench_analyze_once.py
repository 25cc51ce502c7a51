"""``eigenrnn.analysis.overview.analyze`` computing each trajectory and decomposition once, against recomputing them.

On a 2-layer GRU-64 driven by ``(T=100, B=8)`` Gaussian inputs (what ``eigenrnn
analyze`` feeds a plain module), times ``analyze`` as it is (one trajectory per
layer, one decomposition per block, passed down) against the same ``analyze``
with the sharing undone: the gradient-decay curve and the mean Jacobian rebuild
the trajectory from the module inputs and the memory curve re-decomposes its
block, as before issue 11.  Runs alternate, so machine load hits both alike.
Prints the trajectory and ``torch.linalg.eig`` counts of each, the best times,
their ratio, and whether the two reports are identical.

    python benchmarks/bench_analyze_once.py [--hidden 64] [--layers 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import torch

import eigenrnn.analysis.overview as report_module
from eigenrnn.analysis import trajectory as trajectory_module
from eigenrnn.analysis.inputs import model_inputs


@contextlib.contextmanager
def _recomputing(x: torch.Tensor):
    """Make ``analyze``'s analyses ignore what it passes down and recompute it, as before issue 11."""
    shared = {name: getattr(report_module, name) for name in ("gradient_decay_curve", "mean_jacobian_eigenvalues", "linear_memory_curve")}

    def from_inputs(fn):
        return lambda module, *, trajectory, **kw: fn(module, x, **kw)

    patched = {
        "gradient_decay_curve": from_inputs(shared["gradient_decay_curve"]),
        "mean_jacobian_eigenvalues": from_inputs(shared["mean_jacobian_eigenvalues"]),
        "linear_memory_curve": lambda w, u, steps, *, decomposition: shared["linear_memory_curve"](w, u, steps),
    }
    for name, fn in patched.items():
        setattr(report_module, name, fn)
    try:
        yield
    finally:
        for name, fn in shared.items():
            setattr(report_module, name, fn)


@contextlib.contextmanager
def _counting(counts: dict[str, int]):
    """Count ``layer_trajectory`` calls (wherever imported) and ``torch.linalg.eig`` calls."""
    originals = {"traj": trajectory_module.layer_trajectory, "eig": torch.linalg.eig}

    def counted(key):
        def call(*args, **kwargs):
            counts[key] += 1
            return originals[key](*args, **kwargs)

        return call

    holders = [m for n, m in list(sys.modules.items()) if n.startswith("eigenrnn") and getattr(m, "layer_trajectory", None) is originals["traj"]]
    wrapped_traj, wrapped_eig = counted("traj"), counted("eig")
    for mod in holders:
        mod.layer_trajectory = wrapped_traj
    torch.linalg.eig = wrapped_eig
    try:
        yield
    finally:
        for mod in holders:
            mod.layer_trajectory = originals["traj"]
        torch.linalg.eig = originals["eig"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    gru = torch.nn.GRU(16, args.hidden, num_layers=args.layers)
    inputs, _ = model_inputs(gru, steps=100, batch=8)
    modes = {"once": contextlib.nullcontext, "recompute": lambda: _recomputing(inputs[""][0])}

    def run():
        return report_module.analyze(gru, inputs, title="bench")

    reports, best = {}, {}
    for name, mode in modes.items():
        counts = {"traj": 0, "eig": 0}
        with mode(), _counting(counts):
            reports[name] = report_module.report_json(run())
        print(f"{name:9s}: {counts['traj']} trajectories, {counts['eig']} eigendecompositions (torch.linalg.eig)")
    for _ in range(args.repeats):
        for name, mode in modes.items():
            with mode():
                start = time.perf_counter()
                run()
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    print(f"analyze, {args.layers}-layer GRU-{args.hidden}, T=100, B=8, best of {args.repeats}: "
          f"once {best['once']:.3f} s   recompute {best['recompute']:.3f} s   ratio recompute/once {best['recompute'] / best['once']:.3f}")
    print(f"reports identical: {reports['once'] == reports['recompute']}")


if __name__ == "__main__":
    main()
