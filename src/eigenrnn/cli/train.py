"""`eigenrnn train`: train one model on one task and write a run directory.

Example::

    eigenrnn train --task tomita4 --cell gru --init eigen --hidden 32 --epochs 20 --seed 0 --out runs/t4-eigen
    eigenrnn train --config run.json --epochs 30 --resume
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from eigenrnn.cli._threads import add_threads_option, apply_threads
from eigenrnn.errors import bad_value

# CLI flag -> TrainConfig field, for the plain scalar flags.
_FIELDS = {
    "task": "task", "cell": "cell", "init": "init", "hidden": "hidden", "layers": "layers",
    "nonlinearity": "nonlinearity", "embedding_dim": "embedding_dim", "epochs": "epochs", "seed": "seed",
    "data_seed": "data_seed", "out": "out", "lr": "lr", "batch_size": "batch_size",
    "eval_batch_size": "eval_batch_size", "optimizer": "optimizer", "momentum": "momentum",
    "weight_decay": "weight_decay", "lr_schedule": "lr_schedule", "early_stopping": "early_stopping_patience",
    "train_size": "train_size", "val_size": "val_size", "test_size": "test_size", "device": "device",
    "amp": "amp", "track_spectrum": "track_spectrum_every", "eval_every": "eval_every", "target": "target",
    "stop_at_target": "stop_at_target", "vocab_size": "vocab_size", "beam_size": "beam_size", "log_every": "log_every",
}


def _schemes() -> tuple[str, ...]:
    from eigenrnn.init import schemes

    return schemes()


def _cells() -> tuple[str, ...]:
    from eigenrnn.models import CELLS

    return CELLS


def _nonlinearities() -> tuple[str, ...]:
    from eigenrnn.models import NONLINEARITIES

    return NONLINEARITIES


def _task_names() -> tuple[str, ...]:
    from eigenrnn.tasks import task_names

    return task_names()


def register(sub) -> None:
    from eigenrnn.cli._lazy import LazyChoices
    from eigenrnn.train.config import DEVICES, LR_SCHEDULES, OPTIMIZERS

    p = sub.add_parser(
        "train",
        help="train a model on a task (writes config, metrics, checkpoints and a summary)",
        description="Train an RNN/LSTM/GRU on one task. Flags override the values of --config.",
    )
    p.add_argument("--config", metavar="FILE.json", help="a JSON TrainConfig; flags given here override it (default: none, flags only)")
    p.add_argument("--task", choices=LazyChoices(_task_names), metavar="TASK",
                   help="the task: %(choices)s (no default: required unless --config names it)")
    p.add_argument("--cell", choices=LazyChoices(_cells), metavar="CELL", help="recurrent cell: %(choices)s (default gru)")
    p.add_argument("--init", choices=LazyChoices(_schemes), metavar="SCHEME", help="initialization scheme: %(choices)s (default xavier)")
    p.add_argument("--init-kwargs", metavar="JSON", help='keyword arguments of init_rnn, e.g. \'{"forget_bias": 1.0}\' (default {})')
    p.add_argument("--calibrate", nargs="?", const="jacobian_radius=1.0", metavar="QUANTITY=TARGET",
                   help="before the first step, rescale the recurrent eigenvalue moduli on training inputs until QUANTITY "
                   "(jacobian_radius or gradient_decay) equals TARGET (default: off; given bare: jacobian_radius=1.0)")
    p.add_argument("--hidden", type=int, help="hidden size (default 128)")
    p.add_argument("--layers", type=int, help="stacked recurrent layers (default 1)")
    p.add_argument("--nonlinearity", choices=LazyChoices(_nonlinearities), metavar="NAME", help="rnn cell only: %(choices)s (default tanh)")
    p.add_argument("--embedding-dim", type=int, help="token embedding size (default: hidden)")
    p.add_argument("--epochs", type=int, help="epochs (default 10)")
    p.add_argument("--seed", type=int, help="seed of weights, data order and the global RNGs (default 0)")
    p.add_argument("--data-seed", type=int, help="seed of the data (default: --seed)")
    p.add_argument("--out", help="run directory (default runs/<task>-<cell>-<init>-s<seed>)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, help="training batch size (default 64)")
    p.add_argument("--eval-batch-size", type=int, help="evaluation batch size (default max(batch size, 256))")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default adam)")
    p.add_argument("--momentum", type=float, help="momentum for rmsprop/sgd (default 0)")
    p.add_argument("--weight-decay", type=float, help="weight decay (default 0)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="learning-rate schedule (default none)")
    p.add_argument("--clip", type=float, help="max gradient norm; 0 turns clipping off (default 1.0)")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="epochs without validation gain before stopping (default 0: off)")
    p.add_argument("--train-size", type=int, help="use this many training examples (default: the task's training size)")
    p.add_argument("--val-size", type=int, help="use this many validation examples (default: the task's validation size)")
    p.add_argument("--test-size", type=int, help="use this many test examples (default: the task's test size)")
    p.add_argument("--device", choices=DEVICES, help="auto (CUDA when present), cpu or cuda (default auto)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="mixed precision (CUDA only; default on for CUDA)")
    p.add_argument("--track-spectrum", type=int, metavar="N", help="record recurrent spectra every N steps to spectra.npz (default 0: off)")
    p.add_argument("--eval-every", type=int, metavar="N", help="also check the target every N steps (default 0: at epoch ends only)")
    p.add_argument("--target", type=float, help="the metric threshold for steps-to-target (default: the task's)")
    p.add_argument("--stop-at-target", action="store_true", default=None, help="stop once the target is reached")
    p.add_argument("--log-every", type=int, help="steps between progress updates (default 10)")
    p.add_argument("--vocab-size", type=int, help="multi30k: subword vocabulary size (default 8000)")
    p.add_argument("--beam-size", type=int, help="multi30k: beam width for the test BLEU (default 5)")
    p.add_argument("--data-dir", help="directory with the task's data files (mnist*, multi30k; default: $EIGENRNN_DATA and the usual places, see docs/DATA.md)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a task option, e.g. --option length=200 (repeatable; VALUE is read as JSON if it parses; default: none)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or epoch lines")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also log losses, metrics, lr, gradient norm (and with --track-spectrum the eigenvalue "
                   "moduli) to TensorBoard in DIR; needs the tensorboard extra (default: no TensorBoard log)")
    add_threads_option(p)
    p.set_defaults(func=run)


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(bad_value("--option", text, "KEY=VALUE"))
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def config_from_args(args: argparse.Namespace):
    """The :class:`~eigenrnn.train.config.TrainConfig` described by ``--config`` and the flags."""
    from eigenrnn.train.config import TrainConfig

    data: dict[str, Any] = {}
    if args.config:
        try:
            data = TrainConfig.from_json(args.config).to_dict()
        except ValueError as exc:
            message = str(exc)
            raise ValueError(message if str(args.config) in message else f"{args.config}: {message}") from None
    for flag, name in _FIELDS.items():
        value = getattr(args, flag)
        if value is not None:
            data[name] = value
    if args.clip is not None:
        data["clip"] = None if args.clip == 0 else args.clip
    if getattr(args, "calibrate", None) is not None:
        data["calibrate"] = args.calibrate
    if args.init_kwargs is not None:
        try:
            kwargs = json.loads(args.init_kwargs)
        except json.JSONDecodeError as exc:
            raise ValueError(bad_value("--init-kwargs", args.init_kwargs, f"a JSON object ({exc})")) from None
        if not isinstance(kwargs, dict):
            raise ValueError(bad_value("--init-kwargs", args.init_kwargs, "a JSON object"))
        data["init_kwargs"] = kwargs
    options = dict(data.get("task_options", {}))
    options.update(_parse_option(o) for o in args.option)
    if args.data_dir is not None:
        options["data_dir"] = args.data_dir
    data["task_options"] = options
    if "task" not in data:
        raise ValueError(bad_value("--task", None, "a task name (or a --config file that names one)"))
    try:
        return TrainConfig.from_dict(data)
    except ValueError as exc:
        raise ValueError(_as_flag(str(exc), args)) from None


def _as_flag(message: str, args: argparse.Namespace) -> str:
    """A TrainConfig error in the user's terms: its field named as the flag that set it, or as the --config file's.

    >>> _as_flag("hidden: got 0; expected >= 1", argparse.Namespace(hidden=0, config=None))
    '--hidden: got 0; expected >= 1'
    >>> _as_flag("hidden: got 0; expected >= 1", argparse.Namespace(hidden=None, config="c.json"))
    'c.json: hidden: got 0; expected >= 1'
    """
    flags = {**{name: flag for flag, name in _FIELDS.items()}, "clip": "clip", "calibrate": "calibrate"}
    field = message.split(":", 1)[0]
    flag = flags.get(field)
    if flag is not None and getattr(args, flag, None) is not None:
        return f"--{flag.replace('_', '-')}{message[len(field):]}"
    if flag is not None and getattr(args, "config", None):
        return f"{args.config}: {message}"
    return message


def run(args: argparse.Namespace) -> int:
    from eigenrnn.train import train

    apply_threads(args)
    config = config_from_args(args)
    callbacks = []
    if args.tensorboard is not None:
        from eigenrnn.train.tensorboard import TensorBoardLogger, check_logdir, require_tensorboard

        require_tensorboard()
        check_logdir(args.tensorboard)
        callbacks.append(TensorBoardLogger(args.tensorboard))
    result = train(config, resume=args.resume, progress=not args.no_progress, callbacks=callbacks)
    print(format_result(result))
    return 0


def format_result(result) -> str:
    """A few readable lines about a finished run."""
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    m = result.metric_name
    lines = [
        f"{result.task} {result.cell} init={result.init} seed={result.seed}: {result.status} after "
        f"{result.epochs} epochs, {result.steps} steps, {result.wall_time_s:.1f} s on {result.device}",
        f"  test {m} {fmt(result.test_metric)}   best val {m} {fmt(result.best_val_metric)}"
        + (f"   generalisation {m} {fmt(result.generalisation_metric)}" if result.generalisation_metric is not None else ""),
        f"  target {result.target['split']} {m} {'>=' if result.higher_is_better else '<='} {result.target['value']:g}: "
        + ("not reached" if result.steps_to_target is None else f"reached at step {result.steps_to_target} (epoch {result.epochs_to_target})"),
        f"  run directory: {result.run_dir}",
    ]
    return "\n".join(lines)
