"""`eigenrnn init-show`: plot the eigenvalues of every hidden-to-hidden block a scheme produces."""

from __future__ import annotations

import argparse
from pathlib import Path

from eigenrnn.cli._lazy import LazyChoices
from eigenrnn.cli._threads import add_threads_option, apply_threads
from eigenrnn.names import CELLS


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
    parser.add_argument("--init", "--scheme", dest="init", required=True, choices=LazyChoices(_schemes),
                        metavar="SCHEME", help="initialization scheme: %(choices)s (required; --scheme is an "
                        "older spelling)")
    parser.add_argument("--size", type=int, default=64, help="hidden size H (default 64)")
    parser.add_argument("--cell", choices=CELLS, default="gru", help="cell whose recurrent blocks are initialized")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initializer's generator")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --out file (and <out>_effective.png with --task); default: refuse")
    parser.add_argument("--horizon", type=int, metavar="T",
                        help="init_rnn horizon: eigen builds a timescale spectrum with tau_max = T (default: none)")
    parser.add_argument("--task", metavar="NAME",
                        help="also show the effective spectrum (mean Jacobian) on this task's example inputs, "
                        "written beside --out as <out>_effective.png (default: none)")
    parser.add_argument("--batch", type=int, default=64, metavar="B", help="example sequences with --task (default 64)")
    parser.add_argument("--calibrate", nargs="?", const="jacobian_radius=1.0", metavar="QUANTITY=TARGET",
                        help="with --task, also calibrate a copy on those inputs and show both spectra after it "
                        "(default: off; given bare: jacobian_radius=1.0)")
    add_threads_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.size < 1:
        raise ValueError(f"--size: got {args.size}; expected a positive integer")
    if args.out.suffix.lower() != ".png":
        raise ValueError(f"--out: got {str(args.out)!r}; expected a .png file name")
    if args.calibrate is not None and args.task is None:
        raise ValueError(f"--calibrate: got {args.calibrate!r}; expected it together with --task (calibration needs inputs)")
    if args.batch < 1:
        raise ValueError(f"--batch: got {args.batch}; expected a positive integer")
    from eigenrnn.io import check_output
    from eigenrnn.resources import check_fits, recurrent_parameters

    check_output(args.out, "init-show", mode="file", force=args.force)
    apply_threads(args)
    check_fits("--size", args.size, recurrent_parameters(args.cell, args.size))
    extra = {} if args.horizon is None else {"horizon": args.horizon}
    if args.task is not None:
        check_output(args.out.with_name(args.out.stem + "_effective.png"), "init-show", mode="file", force=args.force)
        return _run_on_task(args, extra)
    import torch

    from eigenrnn.init import init_rnn, recurrent_blocks
    from eigenrnn.rnn import CLASSES

    module = CLASSES[args.cell](1, args.size)
    init_rnn(module, args.init, generator=torch.Generator().manual_seed(args.seed), **extra)

    from eigenrnn.analysis.plots import plot_eigenvalues, save_figure

    eigenvalues = {}
    print(f"{'block':<12} {'spectral radius':>16}")
    for block in recurrent_blocks(module):
        lam = torch.linalg.eigvals(block.matrix().detach().double())
        eigenvalues[f"gate {block.gate}"] = lam
        print(f"{block.key:<12} {float(lam.abs().max()):>16.4f}")
    figure = plot_eigenvalues(eigenvalues, title=f"{args.init} init, {args.cell.upper()}-{args.size}")
    save_figure(figure, args.out)
    print(f"saved {args.out}")
    return 0


def _run_on_task(args: argparse.Namespace, extra: dict) -> int:
    """W's spectrum and the effective one on the task's example inputs, before and after calibration."""
    import torch

    from eigenrnn.analysis.effective import effective_spectra, plot_effective
    from eigenrnn.analysis.plots import plot_eigenvalues, save_figure
    from eigenrnn.rnn import recurrent_blocks
    from eigenrnn.models import SequenceModel
    from eigenrnn.tasks import get_task

    task = get_task(args.task)
    if task.kind == "seq2seq":
        raise ValueError(f"--task: got {args.task!r}; expected a task with one recurrent core (not multi30k)")
    model = SequenceModel(
        task.input_spec, task.output_size, cell=args.cell, hidden=args.size, init=args.init,
        init_kwargs=extra, readout=task.readout, generator=torch.Generator().manual_seed(args.seed),
    )
    with torch.no_grad():
        x = model.rnn_inputs(task.example_inputs(args.batch, args.seed))
    spectra, calibration = effective_spectra(model.rnn, x, calibrate=args.calibrate)
    eigenvalues = {}
    print(f"{'block':<12} {'spectral radius':>16}")
    for block in recurrent_blocks(model.rnn):
        lam = torch.linalg.eigvals(block.matrix().detach().double())
        eigenvalues[f"gate {block.gate}"] = lam
        print(f"{block.key:<12} {float(lam.abs().max()):>16.4f}")
    save_figure(plot_eigenvalues(eigenvalues, title=f"{args.init} init, {args.cell.upper()}-{args.size}"), args.out)
    print(f"\neffective spectrum on {args.batch} example inputs of {args.task} (seed {args.seed}):")
    print(f"{'layer':<8} {'rho(W)':>8} {'rho(J)':>8}" + ("  calibrated: c, rho(W), rho(J)" if calibration else ""))
    for s in spectra:
        n = s.numbers()
        line = f"{s.label:<8} {n['w_radius_before']:>8.4f} {n['jacobian_radius_before']:>8.4f}"
        if calibration is not None:
            line += f"  {n['scale']:.4f} {n['w_radius_after']:.4f} {n['jacobian_radius_after']:.4f}"
        print(line)
    if calibration is not None:
        print(f"calibration: {calibration['quantity']} -> {calibration['target']}, achieved {calibration['achieved']}, "
              f"{calibration['evaluations']} evaluations, converged {calibration['converged']}")
    effective_out = args.out.with_name(args.out.stem + "_effective.png")
    title = f"{args.init} init, {args.cell.upper()}-{args.size} on {args.task}"
    save_figure(plot_effective(spectra[0], title=title), effective_out)
    print(f"saved {args.out} and {effective_out}")
    return 0
