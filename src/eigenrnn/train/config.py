"""The typed configuration of one training run.

>>> cfg = TrainConfig.from_dict({"task": "tomita4", "cell": "gru", "hidden": 16})
>>> cfg.hidden, cfg.init
(16, 'xavier')
>>> TrainConfig.from_dict({"task": "tomita4", "hiden": 16})
Traceback (most recent call last):
ValueError: config key: got 'hiden'; expected one of ...
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eigenrnn.errors import bad_value

OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("none", "cosine", "step", "plateau")
DEVICES = ("auto", "cpu", "cuda")

#: Fields that may change when a run is resumed (they do not change what is computed).
RESUMABLE_CHANGES = ("epochs", "device", "amp", "out", "log_every", "track_spectrum_every", "eval_batch_size")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; the resolved form is saved as ``config.json``.

    Attributes:
        task: a name of :func:`eigenrnn.tasks.task_names`.
        task_options: options for :func:`eigenrnn.tasks.get_task` (e.g. ``{"length": 200}``).
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        init: a scheme of :func:`eigenrnn.init.schemes`.
        init_kwargs: keyword arguments of :func:`eigenrnn.init.init_rnn`; a
            ``spectrum`` may be given as a dict of :class:`eigenrnn.spectrum.Spectrum`
            fields (or a dict gate -> such a dict).
        hidden, layers, nonlinearity, embedding_dim: the model (see
            :class:`eigenrnn.models.SequenceModel`); ``embedding_dim`` for token
            inputs only (default ``hidden``).
        epochs: number of passes over the training split.
        batch_size: training mini-batch size; ``eval_batch_size`` for evaluation
            (default ``max(batch_size, 256)``).
        optimizer: ``"adam"``, ``"rmsprop"`` or ``"sgd"``; ``lr``,
            ``momentum`` (rmsprop and sgd only) and ``weight_decay``.
        lr_schedule: ``"none"``, ``"cosine"`` (to zero over ``epochs``),
            ``"step"`` (times ``lr_gamma`` every ``lr_step_size`` epochs, default
            ``max(1, epochs // 3)``) or ``"plateau"`` (times ``lr_gamma`` after
            ``lr_patience`` epochs without validation improvement).
        clip: maximum gradient norm, or ``None`` for no clipping.
        early_stopping_patience: stop after this many epochs without a better
            validation metric (0: never).
        target: threshold for "steps to target" (default: the task's).
        stop_at_target: end the run once the target is reached.
        train_size, val_size, test_size: limit the splits (``None``: task default).
        seed: seeds Python, NumPy and PyTorch once, the model's initial weights
            and the data order; ``data_seed`` (default ``seed``) builds the data.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        amp: mixed precision (CUDA only); default on for CUDA.
        out: the run directory (default ``runs/<task>-<cell>-<init>-s<seed>``).
        track_spectrum_every: attach :class:`eigenrnn.analysis.SpectrumTracker`
            every that many steps (0: off).
        eval_every: also check the target every that many steps (0: at epoch ends only).
        log_every: steps between progress-bar updates (and, on CUDA, the
            NaN/inf check that synchronizes with the device).
        vocab_size: the task's ``vocab_size`` option, for tasks that take one
            (Multi30k: its subword vocabulary, default 8000).
        beam_size: beam width for the test metric of seq2seq tasks (default 5;
            the per-epoch validation BLEU is greedy).
        calibrate: ``"QUANTITY=TARGET"`` (e.g. ``"jacobian_radius=1.0"``): at a
            fresh start, before the first step, :func:`eigenrnn.init.calibrate_`
            rescales the recurrent eigenvalue moduli on training sequences
            (:func:`eigenrnn.calibration.calibrate_on_split`); its result goes
            into ``summary.json``.  ``None``: off.  Not for seq2seq tasks.
    """

    task: str
    task_options: dict[str, Any] = field(default_factory=dict)
    cell: str = "gru"
    init: str = "xavier"
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    hidden: int = 128
    layers: int = 1
    nonlinearity: str = "tanh"
    embedding_dim: int | None = None
    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_schedule: str = "none"
    lr_step_size: int | None = None
    lr_gamma: float = 0.1
    lr_patience: int = 2
    clip: float | None = 1.0
    early_stopping_patience: int = 0
    target: float | None = None
    stop_at_target: bool = False
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    data_seed: int | None = None
    device: str = "auto"
    amp: bool | None = None
    out: str | None = None
    track_spectrum_every: int = 0
    eval_every: int = 0
    log_every: int = 10
    vocab_size: int | None = None
    beam_size: int | None = None
    calibrate: str | None = None

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("task_options", "init_kwargs"):
            # The JSON form, so that a config equals itself read back from config.json.
            object.__setattr__(self, name, _jsonable(getattr(self, name), name))
        _check_values(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build a config from a mapping, rejecting unknown keys.

        Raises:
            ValueError: for an unknown key (naming it and listing the valid
                ones), a missing ``task``, or a bad value.
        """
        if not isinstance(data, Mapping):
            raise TypeError(bad_value("config", type(data).__name__, "a mapping of field names to values"))
        valid = cls.field_names()
        for key in data:
            if key not in valid:
                raise ValueError(bad_value("config key", key, f"one of {', '.join(valid)}"))
        if "task" not in data:
            raise ValueError(bad_value("config", "no 'task'", "a 'task' entry"))
        return cls(**dict(data))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "TrainConfig":
        """Read a config from a JSON file (see :meth:`from_dict`)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable JSON config ({exc})") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def resolve(self) -> "TrainConfig":
        """Fill every default that depends on other fields or on the machine.

        The result names the task's options explicitly, the device actually
        used, AMP, the data seed, the evaluation batch size, the LR step size,
        the run directory and the seq2seq settings (``vocab_size``, ``beam_size``).
        """
        return self.resolve_with_task()[0]

    def resolve_with_task(self) -> "tuple[TrainConfig, Any]":
        """:meth:`resolve`, also returning the :class:`~eigenrnn.tasks.base.Task` it built (built once)."""
        import torch

        from eigenrnn.tasks import get_task, task_factory

        factory = task_factory(self.task)
        options = dict(self.task_options)
        # config.vocab_size is the task's own vocab_size option, for tasks that take one.
        takes_vocab = "vocab_size" in factory.options
        if takes_vocab and self.vocab_size is not None:
            if "vocab_size" in options:
                raise ValueError(bad_value("vocab_size", self.vocab_size, "to be given once (config.vocab_size or task_options)"))
            options["vocab_size"] = self.vocab_size
        task = get_task(self.task, **options)
        vocab_size = task.options["vocab_size"] if takes_vocab else None
        resolved_options = {k: task.options[k] for k in factory.options if k != "vocab_size"}
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ValueError(bad_value("device", "cuda", "'cpu' or 'auto' (no CUDA device is available)"))
        amp = self.amp
        if amp is None:
            amp = device == "cuda"
        elif amp and device != "cuda":
            raise ValueError(bad_value("amp", amp, "False on device 'cpu' (mixed precision needs CUDA)"))
        from eigenrnn.resources import check_fits, recurrent_parameters

        check_fits("hidden", self.hidden, recurrent_parameters(self.cell, self.hidden, self.layers), device=device)
        if self.out is not None and not self.out.strip():
            raise ValueError(bad_value("out", self.out, "a directory path, or None for runs/<task>-<cell>-<init>-s<seed>"))
        out = self.out or os.path.join("runs", f"{self.task}-{self.cell}-{self.init}-s{self.seed}")
        resolved = dataclasses.replace(
            self,
            task_options=resolved_options,
            vocab_size=vocab_size,
            beam_size=(5 if self.beam_size is None else self.beam_size) if task.seq2seq else None,
            eval_batch_size=self.eval_batch_size or max(self.batch_size, 256),
            lr_step_size=(self.lr_step_size or max(1, self.epochs // 3)) if self.lr_schedule == "step" else None,
            data_seed=self.seed if self.data_seed is None else self.data_seed,
            device=device,
            amp=amp,
            out=out,
        )
        return resolved, task


def _jsonable(value: Any, name: str) -> Any:
    """``value`` with Spectrum objects as dicts and tuples as lists; ValueError if not JSON-representable."""
    from eigenrnn.spectrum import Spectrum, SpectrumMixture

    if isinstance(value, (Spectrum, SpectrumMixture)):
        return value.to_dict()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(bad_value(f"{name} key", key, "a string"))
            out[key] = _jsonable(item, f"{name}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, name) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(bad_value(name, value, "JSON values (numbers, strings, lists, dicts) or a Spectrum"))


def _expected(hint: Any) -> tuple[type, ...]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        out: tuple[type, ...] = ()
        for arg in typing.get_args(hint):
            out += _expected(arg)
        return out
    if hint is type(None):
        return (type(None),)
    return (origin or hint,)


def _check_types(cfg: TrainConfig) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        allowed = _expected(hints[f.name])
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(cfg, f.name, float(value))
            continue
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(bad_value(f.name, value, f"a value of type {names}"))


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(bad_value(name, value, f"one of {', '.join(allowed)}"))


def _at_least(name: str, value: int | float | None, low: float, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not (value >= low and math.isfinite(value)):
        raise ValueError(bad_value(name, value, f"a finite number >= {low}"))


def _check_values(cfg: TrainConfig) -> None:
    from eigenrnn.init import schemes
    from eigenrnn.models import CELLS, NONLINEARITIES
    from eigenrnn.tasks import task_factory, task_names

    _choice("task", cfg.task, task_names())
    _choice("cell", cfg.cell, CELLS)
    _choice("init", cfg.init, schemes())
    _choice("nonlinearity", cfg.nonlinearity, NONLINEARITIES)
    if cfg.cell != "rnn" and cfg.nonlinearity != "tanh":
        raise ValueError(bad_value("nonlinearity", cfg.nonlinearity, f"'tanh' for cell {cfg.cell!r} (only 'rnn' takes 'relu')"))
    _choice("optimizer", cfg.optimizer, OPTIMIZERS)
    _choice("lr_schedule", cfg.lr_schedule, LR_SCHEDULES)
    _choice("device", cfg.device, DEVICES)
    for name in ("hidden", "layers", "epochs", "batch_size", "lr_patience", "log_every"):
        _at_least(name, getattr(cfg, name), 1)
    for name in ("embedding_dim", "eval_batch_size", "lr_step_size", "train_size", "val_size", "test_size",
                 "vocab_size", "beam_size"):
        _at_least(name, getattr(cfg, name), 1, allow_none=True)
    _at_least("data_seed", cfg.data_seed, 0, allow_none=True)
    for name in ("seed", "early_stopping_patience", "track_spectrum_every", "eval_every", "momentum", "weight_decay"):
        _at_least(name, getattr(cfg, name), 0)
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ValueError(bad_value("lr", cfg.lr, "a finite number > 0"))
    if not (0 < cfg.lr_gamma <= 1):
        raise ValueError(bad_value("lr_gamma", cfg.lr_gamma, "a number in (0, 1]"))
    if cfg.clip is not None and not (cfg.clip > 0 and math.isfinite(cfg.clip)):
        raise ValueError(bad_value("clip", cfg.clip, "a finite number > 0, or None for no clipping"))
    if cfg.target is not None and not math.isfinite(cfg.target):
        raise ValueError(bad_value("target", cfg.target, "a finite number or None"))
    # Settings that only some choices read: refuse them elsewhere rather than ignore them.
    if cfg.momentum and cfg.optimizer == "adam":
        raise ValueError(bad_value("momentum", cfg.momentum, "0 with optimizer 'adam' (rmsprop and sgd take momentum)"))
    if cfg.lr_step_size is not None and cfg.lr_schedule != "step":
        raise ValueError(bad_value("lr_step_size", cfg.lr_step_size, "None unless lr_schedule is 'step'"))
    factory = task_factory(cfg.task)
    if cfg.embedding_dim is not None and factory.inputs == "features":
        raise ValueError(bad_value("embedding_dim", cfg.embedding_dim, f"None for task {cfg.task!r} (float inputs)"))
    if cfg.calibrate is not None:
        from eigenrnn.calibration import parse_calibrate

        parse_calibrate(cfg.calibrate)
        if factory.seq2seq:
            raise ValueError(bad_value("calibrate", cfg.calibrate, f"None for task {cfg.task!r} (calibration drives one recurrent core)"))
    for name, takes in (("vocab_size", lambda f: "vocab_size" in f.options), ("beam_size", lambda f: f.seq2seq)):
        if getattr(cfg, name) is not None and not takes(factory):
            takers = ", ".join(n for n in task_names() if takes(task_factory(n)))
            raise ValueError(bad_value(name, getattr(cfg, name), f"None for task {cfg.task!r} ({takers} only)"))
