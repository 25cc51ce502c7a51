"""`eigenrnn init-show`: plot the eigenvalues of every hidden-to-hidden block a scheme produces."""

from __future__ import annotations

import argparse
from pathlib import Path

from eigenrnn.cli._lazy import LazyChoices
from eigenrnn.cli._threads import add_threads_option, apply_threads

CELLS = ("rnn", "lstm", "gru")


def _schemes() -> tuple[str, ...]:
    from eigenrnn.init import schemes

    return schemes()


def register(sub) -> None:
    parser = sub.add_parser(
        "init-show",
        help="plot the hidden-to-hidden eigenvalues an initializer produces",
        description="Initialize one recurrent layer with a scheme, print the spectral radius of every "
        "gate block and plot all eigenvalues on the complex plane with the unit circle.",
    )
    parser.add_argument("--scheme", required=True, choices=LazyChoices(_schemes), metavar="SCHEME",
                        help="initialization scheme: %(choices)s")
    parser.add_argument("--size", type=int, default=64, help="hidden size H (default 64)")
    parser.add_argument("--cell", choices=CELLS, default="gru")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    add_threads_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.size < 1:
        raise ValueError(f"--size: got {args.size}; expected a positive integer")
    if args.out.suffix.lower() != ".png":
        raise ValueError(f"--out: got {str(args.out)!r}; expected a .png file name")
    import torch
    from torch import nn

    from eigenrnn.init import init_rnn, recurrent_blocks

    apply_threads(args)
    module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[args.cell](1, args.size)
    init_rnn(module, args.scheme, generator=torch.Generator().manual_seed(args.seed))

    from eigenrnn.analysis.plots import plot_eigenvalues, save_figure

    eigenvalues = {}
    print(f"{'block':<12} {'spectral radius':>16}")
    for block in recurrent_blocks(module):
        lam = torch.linalg.eigvals(block.matrix().detach().double())
        eigenvalues[f"gate {block.gate}"] = lam
        print(f"{block.key:<12} {float(lam.abs().max()):>16.4f}")
    figure = plot_eigenvalues(eigenvalues, title=f"{args.scheme} init, {args.cell.upper()}-{args.size}")
    save_figure(figure, args.out)
    print(f"saved {args.out}")
    return 0
