"""Speed of ``calibrate_`` against one forward pass of the same batch (issue 12, Performance).

A GRU-256 (eigen init, default preset) on a batch of 64 sequences of length
196 with one input feature (the 14x14 pixel-MNIST shape; uniform [0, 1)
pixels so that no dataset is needed).  Prints the time of one forward pass,
of one ``calibrate_`` (each the best of ``--repeats``, timed alternately so
that both see the same load; calibrate_ restarts from the same initial
weights every time and must give the same result) and their ratio (the
median over repeats of calibrate_ / forward timed back to back), which must
stay <= 20, and the number of evaluations (each is one forward pass of
the batch plus the measurement).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_calibrate.py [--data-dir ../shared/data/mnist] [--target 0.9]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_calibrate.py --data-dir ../shared/data/mnist --init orthogonal --target 1.0
"""

from __future__ import annotations

import argparse
import time

import torch

from eigenrnn.init import calibrate_, init_rnn
from eigenrnn.rnn import CELLS, CLASSES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=CELLS, default="gru", help="cell (default gru)")
    parser.add_argument("--init", "--scheme", dest="init", default="eigen", help="init scheme (default eigen)")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size (default 256)")
    parser.add_argument("--batch", type=int, default=64, help="sequences (default 64)")
    parser.add_argument("--steps", type=int, default=196, help="sequence length (default 196)")
    parser.add_argument("--quantity", default="jacobian_radius", help="calibrated quantity (default jacobian_radius)")
    parser.add_argument("--target", type=float, default=0.9, help="target value (default 0.9)")
    parser.add_argument("--data-dir", help="a directory with mnist.pkl.gz: use the first --batch mnist14 training digits "
                        "instead of uniform noise (default: noise)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="forward passes and calibrate_ runs timed, best of each kept (default 5)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats: got {args.repeats}, expected an int >= 1")

    torch.set_num_threads(1)
    module = CLASSES[args.cell](1, args.hidden)
    init_rnn(module, args.init, generator=torch.Generator().manual_seed(0))
    if args.data_dir is not None:
        from eigenrnn.tasks import mnist

        images, _ = mnist.load("train", data_dir=args.data_dir, download=False)
        x = mnist.to_sequence(torch.as_tensor(images[: args.batch]), "mnist14")
        source = "mnist14 digits"
    else:
        x = torch.rand(args.steps, args.batch, 1, generator=torch.Generator().manual_seed(1))
        source = "uniform noise"

    # Side by side: each repeat times one forward pass and then one calibrate_, so both see the
    # same machine load; calibrate_ works in place, so every repeat starts from the initial weights.
    initial = {name: value.clone() for name, value in module.state_dict().items()}
    forward, timings, results = [], [], []
    for _ in range(args.repeats):
        module.load_state_dict(initial)
        with torch.no_grad():
            t0 = time.perf_counter()
            module(x)
            forward.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        results.append(calibrate_(module, x, target=args.target, quantity=args.quantity))
        timings.append(time.perf_counter() - t0)
    t_forward, t_calibrate, result = min(forward), min(timings), results[0]
    if any(r != result for r in results):
        raise SystemExit(f"calibrate_ is not deterministic: {results}")
    paired = sorted(c / f for c, f in zip(timings, forward))

    print(f"{args.cell.upper()}-{args.hidden} ({args.init}), {source}, batch {x.shape[1]} x {x.shape[0]} steps, "
          f"{args.quantity} -> {args.target}")
    print(f"{'one forward pass':<22} {t_forward * 1e3:10.1f} ms")
    print(f"{'calibrate_':<22} {t_calibrate * 1e3:10.1f} ms")
    # The median of the per-repeat ratios is the headline: on a shared machine one lucky
    # 0.1 s forward pass can make best-over-best much larger than what calibrate_ costs.
    print(f"{'ratio':<22} {paired[len(paired) // 2]:10.1f} x   (median per repeat; min {paired[0]:.1f}, "
          f"max {paired[-1]:.1f}; best over best {t_calibrate / t_forward:.1f})")
    print(f"{'evaluations':<22} {result.evaluations:10d}   (budget 20)")
    print(f"{'converged':<22} {str(result.converged):>10}   achieved {result.achieved}, scale {result.scales}")


if __name__ == "__main__":
    main()
