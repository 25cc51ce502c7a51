"""Speed of ``calibrate_`` against one forward pass of the same batch (issue 12, Performance).

A GRU-256 (eigen init, default preset) on a batch of 64 sequences of length
196 with one input feature (the 14x14 pixel-MNIST shape; uniform [0, 1)
pixels so that no dataset is needed).  Prints the time of one forward pass,
of one ``calibrate_`` and their ratio, and the number of evaluations (each is
one forward pass of the batch plus the measurement), which must stay <= 20.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_calibrate.py [--data-dir ../shared/data/mnist] [--target 0.9]
"""

from __future__ import annotations

import argparse
import time

import torch

from eigenrnn.init import calibrate_, init_rnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("rnn", "gru", "lstm"), default="gru", help="cell (default gru)")
    parser.add_argument("--scheme", default="eigen", help="init scheme (default eigen)")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size (default 256)")
    parser.add_argument("--batch", type=int, default=64, help="sequences (default 64)")
    parser.add_argument("--steps", type=int, default=196, help="sequence length (default 196)")
    parser.add_argument("--quantity", default="jacobian_radius", help="calibrated quantity (default jacobian_radius)")
    parser.add_argument("--target", type=float, default=0.9, help="target value (default 0.9)")
    parser.add_argument("--data-dir", help="a directory with mnist.pkl.gz: use the first --batch mnist14 training digits "
                        "instead of uniform noise (default: noise)")
    parser.add_argument("--repeats", type=int, default=5, help="forward passes timed, best kept (default 5)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[args.cell]
    module = cls(1, args.hidden)
    init_rnn(module, args.scheme, generator=torch.Generator().manual_seed(0))
    if args.data_dir is not None:
        from eigenrnn.tasks import mnist

        images, _ = mnist.load("train", data_dir=args.data_dir, download=False)
        x = mnist.to_sequence(torch.as_tensor(images[: args.batch]), "mnist14")
        source = "mnist14 digits"
    else:
        x = torch.rand(args.steps, args.batch, 1, generator=torch.Generator().manual_seed(1))
        source = "uniform noise"

    forward = []
    with torch.no_grad():
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            module(x)
            forward.append(time.perf_counter() - t0)
    t_forward = min(forward)

    t0 = time.perf_counter()
    result = calibrate_(module, x, target=args.target, quantity=args.quantity)
    t_calibrate = time.perf_counter() - t0

    print(f"{args.cell.upper()}-{args.hidden} ({args.scheme}), {source}, batch {x.shape[1]} x {x.shape[0]} steps, "
          f"{args.quantity} -> {args.target}")
    print(f"{'one forward pass':<22} {t_forward * 1e3:10.1f} ms")
    print(f"{'calibrate_':<22} {t_calibrate * 1e3:10.1f} ms")
    print(f"{'ratio':<22} {t_calibrate / t_forward:10.1f} x")
    print(f"{'evaluations':<22} {result.evaluations:10d}   (budget 20)")
    print(f"{'converged':<22} {str(result.converged):>10}   achieved {result.achieved}, scale {result.scales}")


if __name__ == "__main__":
    main()
