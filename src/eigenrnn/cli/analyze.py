"""`eigenrnn analyze CHECKPOINT --out DIR`: eigen analysis report of a trained (or any) recurrent model.

Reads an eigenrnn checkpoint (``checkpoint.pt`` / ``best.pt``), or with
``--cell``/``--hidden`` a plain ``state_dict`` of nn.RNN/LSTM/GRU.  Writes
``DIR/report.md``, PNG figures and ``DIR/analysis.json`` (all built in a
temporary sibling directory and renamed at the end), then prints a summary
table.  Trajectories are driven by ``--task`` example inputs when given, else
by seeded Gaussian noise (the report says which).
"""

from __future__ import annotations

import argparse
import contextlib
import re
from pathlib import Path
from typing import Any

from eigenrnn.cli._threads import add_threads_option, apply_threads
from eigenrnn.errors import CheckpointError, EigenRNNError, bad_value

_DEFAULT_STEPS = 100  # eigenrnn.analysis.inputs.DEFAULT_STEPS, kept here so that --help does not import torch


def register(sub) -> None:
    parser = sub.add_parser(
        "analyze",
        help="eigen analysis report of a checkpoint or an RNN/LSTM/GRU state_dict",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="eigenrnn checkpoint, or a state_dict file with --cell/--hidden")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory: new or empty, or an earlier analyze output with --force")
    parser.add_argument("--force", action="store_true", help="replace an earlier `eigenrnn analyze` output at --out (default: refuse it)")
    parser.add_argument("--task", metavar="NAME", help="drive trajectories with this task's example inputs (default: none, random inputs)")
    parser.add_argument("--cell", metavar="{rnn,lstm,gru}", help="CHECKPOINT is a plain state_dict of this cell type (default: none, an eigenrnn checkpoint)")
    parser.add_argument("--hidden", type=int, metavar="H", help="hidden size of the plain state_dict (with --cell; no default, required there)")
    parser.add_argument("--input-size", type=int, metavar="I", help="check the state_dict's input size (with --cell; default: not checked)")
    parser.add_argument("--layers", type=int, metavar="L", help="check the state_dict's number of layers (with --cell; default: not checked)")
    parser.add_argument("--nonlinearity", metavar="{tanh,relu}", help="vanilla RNN nonlinearity (with --cell rnn; default tanh)")
    parser.add_argument("--batch", type=int, default=8, metavar="B", help="sequences per trajectory batch (default 8)")
    parser.add_argument("--steps", type=int, metavar="T", help=f"length of random input sequences (default {_DEFAULT_STEPS}; not with --task)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs and of the fixed-point search (default 0)")
    parser.add_argument("--calibrate", nargs="?", const="jacobian_radius=1.0", metavar="QUANTITY=TARGET",
                        help="also calibrate a copy of each recurrent module on its inputs and report W's and the "
                        "mean Jacobian's spectra after it, with effective_*.png figures (default: off; given bare: "
                        "jacobian_radius=1.0)")
    parser.add_argument("--spectra", metavar="FILE", help="spectra.npz recorded in training (default: the one beside a checkpoint)")
    add_threads_option(parser)
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    plain_only = {"--hidden": args.hidden, "--input-size": args.input_size, "--layers": args.layers, "--nonlinearity": args.nonlinearity}
    if args.cell is None:
        given = [name for name, value in plain_only.items() if value is not None]
        if given:
            raise ValueError(bad_value(given[0], plain_only[given[0]], "to be used together with --cell (plain state_dict input)"))
    elif args.hidden is None:
        raise ValueError(bad_value("--hidden", None, f"the hidden size of the --cell {args.cell} state_dict"))
    for name, value in (("--batch", args.batch), ("--steps", args.steps), ("--input-size", args.input_size), ("--layers", args.layers)):
        if value is not None and value < 1:
            raise ValueError(bad_value(name, value, "a positive int"))
    if args.task is not None and args.steps is not None:
        raise ValueError(bad_value("--steps", args.steps, "nothing with --task (the task sets the sequence length)"))


def _check_out(args: argparse.Namespace) -> Path:
    from eigenrnn.io import check_output

    inputs = (args.checkpoint,) + ((args.spectra,) if args.spectra else ())
    check_output(args.out, "analyze", inputs=inputs, force=args.force, legacy=(("analysis.json", "report.md"),))
    return Path(args.out)


def _load_project_checkpoint(path: Path) -> Any:
    from eigenrnn.train.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} (for a plain nn.RNN/LSTM/GRU state_dict pass --cell and --hidden)") from None


# The library names its arguments; this command's users know them as flags.
_FLAGS = (
    (re.compile(r"^(cell|hidden|nonlinearity): "), lambda m: f"--{m.group(1)}: "),
    (re.compile(r"\bcell='(\w+)', hidden=(\d+)"), lambda m: f"--cell {m.group(1)} --hidden {m.group(2)}"),
    (re.compile(r"\bnothing for cell '(\w+)'"), lambda m: f"nothing for --cell {m.group(1)}"),
    (re.compile(r"\blayers=(\d+)"), lambda m: f"--layers {m.group(1)}"),
    (re.compile(r"\binput_size=(\d+) was"), lambda m: f"--input-size {m.group(1)} was"),
    (re.compile(r"^task "), lambda m: "--task "),
    (re.compile(r"^task: "), lambda m: "--task: "),
    (re.compile(r"; analyse without a task$"), lambda m: "; run without --task"),
)


@contextlib.contextmanager
def _as_flags():
    """Re-raise a library ValueError/EigenRNNError with its argument names spelled as this command's flags."""
    try:
        yield
    except (ValueError, EigenRNNError) as exc:
        message = str(exc)
        for pattern, flag in _FLAGS:
            message = pattern.sub(flag, message)
        if message == str(exc):
            raise
        raise type(exc)(message) from None


def _tracked(args: argparse.Namespace, path: Path, plain: bool, notes: list[str]) -> Any:
    from eigenrnn.analysis.tracking import SpectrumTracker

    if args.spectra is not None:
        return SpectrumTracker.load(args.spectra)
    beside = path.parent / "spectra.npz"
    if plain or not beside.is_file():
        return None
    try:
        tracked = SpectrumTracker.load(beside)
    except EigenRNNError as exc:
        notes.append(f"ignored {beside}: {exc}")
        return None
    notes.append(f"training spectra from `{beside}` (steps {int(tracked.steps[0])}..{int(tracked.steps[-1])}); 'init' = first snapshot.")
    return tracked


def _effective(model: nn.Module, inputs: dict, calibrate: str | None) -> list:
    """Per recurrent module: W's and the mean Jacobian's spectra (and after calibration, with ``calibrate``)."""
    from eigenrnn.analysis.effective import effective_spectra
    from eigenrnn.analysis.overview import recurrent_modules

    if calibrate is not None:
        from eigenrnn.calibration import parse_calibrate

        parse_calibrate(calibrate)
    return [
        (name, *effective_spectra(module, inputs[name][0], calibrate=calibrate, prefix=name))
        for name, module in recurrent_modules(model).items()
    ]


def _write_effective(effective: list, calibrate: str | None, tmp: Path) -> list[str]:
    """Append the effective-spectrum section to report.md; with ``calibrate`` also figures and effective.json."""
    from eigenrnn.analysis.effective import effective_markdown, write_effective
    from eigenrnn.io import atomic_write_text

    lines, files = [], []
    spectra_all, calibrations = [], {}
    for name, spectra, calibration in effective:
        lines += effective_markdown(spectra, calibration)
        spectra_all += spectra
        calibrations[name] = calibration
    if calibrate is not None:
        files = write_effective(spectra_all, calibrations, tmp)
        lines += [f"![effective spectrum {name}]({name})" for name in files if name.endswith(".png")] + [""]
    report = tmp / "report.md"
    atomic_write_text(report, report.read_text(encoding="utf-8") + "\n" + "\n".join(lines))
    return files


def run(args: argparse.Namespace) -> int:
    from eigenrnn.analysis.inputs import model_inputs
    from eigenrnn.analysis.loading import check_finite, load_plain_rnn
    from eigenrnn.analysis.overview import analyze, summary_table, write_report
    from eigenrnn.io import atomic_directory

    _check_args(args)
    apply_threads(args)
    path = Path(args.checkpoint)
    out = _check_out(args)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} not found")
    ckpt = None
    if args.cell is not None:
        with _as_flags():
            model = load_plain_rnn(
                path, args.cell, args.hidden, input_size=args.input_size, layers=args.layers, nonlinearity=args.nonlinearity
            )
        description = f"plain {type(model).__name__} state_dict `{path}`"
    else:
        ckpt = _load_project_checkpoint(path)
        model = ckpt.model
        description = f"eigenrnn checkpoint `{path}` ({type(model).__name__}, task {ckpt.config.task!r})"
    check_finite(model, str(path))
    model.eval()
    with _as_flags():
        inputs, notes = model_inputs(model, task=args.task, batch=args.batch, steps=args.steps, seed=args.seed,
                                     checkpoint=ckpt)
    tracked = _tracked(args, path, args.cell is not None, notes)
    report = analyze(
        model, inputs, title=f"Eigen analysis of {path.name}", notes=[f"model: {description}", *notes], tracked=tracked, seed=args.seed
    )
    effective = _effective(model, inputs, args.calibrate)
    with atomic_directory(out, overwrite=args.force, marker="analyze") as tmp:
        files = write_report(report, tmp)
        files += _write_effective(effective, args.calibrate, tmp)
    print(summary_table(report))
    print(f"\nwrote {out / 'report.md'}, {out / 'analysis.json'} and {sum(f.endswith('.png') for f in files)} figures")
    return 0
