"""What a task adapter provides: the :class:`Task` the trainer runs, its data, and its :class:`TaskFactory`.

Each data module of :mod:`eigenrnn.tasks` ends with its adapter: a factory
(a :class:`TaskFactory`, whose keyword parameters are the task's options) that
returns a :class:`Task`.  The task says what the trainer and the models need:
the kind of problem, the model's input and output, the readout, the loss and
metric, the default "steps to target" threshold, the horizon, and callables
that build the splits and draw example inputs.  The registry
(:mod:`eigenrnn.tasks.registry`) only maps names to factories.

Split names: :data:`DATA_SPLITS` are the splits every task has (and every
dataset file provides); :data:`TASK_SPLITS` adds ``"generalisation"``, which
only Tomita builds.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from torch import Tensor

from eigenrnn.errors import bad_value, check_int
from eigenrnn.models import InputSpec

Kind = Literal["classification", "regression", "seq2seq"]
#: The splits of every task, in this order (the datasets' own train / val / test files).
DATA_SPLITS = ("train", "val", "test")
#: Every split a task may build: :data:`DATA_SPLITS` and Tomita's length-generalisation split.
TASK_SPLITS = (*DATA_SPLITS, "generalisation")


@dataclass(frozen=True)
class Batch:
    """One mini-batch, time-first.

    ``x`` is ``(T, B)`` long or ``(T, B, F)`` float; ``y`` is ``(B,)`` long,
    ``(B, O)`` float, ``(T, B)`` long or ``(T, B, O)`` float; ``lengths`` are
    the ``(B,)`` true lengths of padded inputs.
    """

    x: Tensor
    y: Tensor
    lengths: Tensor | None = None


@dataclass(frozen=True)
class SequenceDataset:
    """A split held as time-first tensors, batched by indexing along dimension 1 (``N``).

    Args:
        x: inputs ``(T, N)`` (tokens) or ``(T, N, F)``.
        y: targets, ``(N, ...)`` or time-first ``(T, N, ...)`` when ``y_time_first``.
        lengths: true input lengths ``(N,)`` when ``x`` is padded.
        y_lengths: true target lengths ``(N,)`` when ``y`` is padded (seq2seq).
        y_time_first: whether ``y`` has a time axis in front.
        refs: raw reference strings (seq2seq), aligned with ``N``.
    """

    x: Tensor
    y: Tensor
    lengths: Tensor | None = None
    y_lengths: Tensor | None = None
    y_time_first: bool = False
    refs: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return self.x.size(1)

    def take(self, index: Tensor) -> "SequenceDataset":
        """The subset at ``index`` (a 1-D long tensor), keeping its order."""
        index = index.to(self.x.device)
        y_dim = 1 if self.y_time_first else 0
        return replace(
            self,
            x=self.x.index_select(1, index),
            y=self.y.index_select(y_dim, index.to(self.y.device)),
            lengths=None if self.lengths is None else self.lengths[index.to(self.lengths.device)],
            y_lengths=None if self.y_lengths is None else self.y_lengths[index.to(self.y_lengths.device)],
            refs=None if self.refs is None else tuple(self.refs[i] for i in index.tolist()),
        )

    def to(self, device: torch.device | str) -> "SequenceDataset":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(self, x=move(self.x), y=move(self.y), lengths=move(self.lengths), y_lengths=move(self.y_lengths))

    def batch(self, index: Tensor) -> Batch:
        """Gather the examples at ``index`` (on the data's device), trimming padding to the longest."""
        x = self.x.index_select(1, index)
        lengths = None
        if self.lengths is not None:
            lengths = self.lengths.index_select(0, index)
            x = x[: int(lengths.max())]
        y = self.y.index_select(1 if self.y_time_first else 0, index)
        if self.y_lengths is not None:
            y_lengths = self.y_lengths.index_select(0, index)
            y = y[: int(y_lengths.max())]
        return Batch(x, y, lengths)


@dataclass
class TaskData:
    """The built splits of a task and what the model needs to read them.

    ``tokenizer`` and ``specials`` (``pad``/``bos``/``eos`` ids) are set for
    seq2seq tasks only; ``input_spec``/``output_size`` then describe the
    shared subword vocabulary.
    """

    splits: dict[str, SequenceDataset]
    input_spec: InputSpec
    output_size: int
    tokenizer: Any = None
    specials: dict[str, int] = field(default_factory=dict)


def split_seed(seed: int, split: str) -> int:
    """The seed of ``split`` (one of :data:`TASK_SPLITS`) in a task built from ``seed``.

    Distinct and reproducible per split, so val and test never repeat train.
    """
    return seed * len(TASK_SPLITS) + TASK_SPLITS.index(split)


def subsample(n: int, size: int | None, seed: int) -> Tensor | None:
    """The sorted indices of a seeded random subset of ``size`` of ``n`` examples; ``None`` to keep all.

    ``size`` of ``None`` or at least ``n`` keeps the whole split.
    """
    if size is None or size >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values


@dataclass(frozen=True)
class Task:
    """A benchmark the trainer can run, as a task adapter builds it (see the module docstring).

    Attributes:
        name: registry name.
        kind: ``"classification"``, ``"regression"`` or ``"seq2seq"``.
        input_spec: model input (token vocabulary or feature size).  For
            seq2seq the vocabulary is only known after the tokenizer is
            trained; use :attr:`TaskData.input_spec`.
        output_size: classes, regression outputs, or the vocabulary size.
        readout: ``"last"`` (state at the last true step) or ``"every"`` step.
        loss: ``"cross_entropy"`` or ``"mse"``.
        metric: ``"accuracy"``, ``"mse"`` or ``"bleu"``.
        higher_is_better: direction of ``metric``.
        target: default threshold of ``metric`` for "steps to target".
        target_split: the split ``target`` is measured on (``"train"`` or ``"val"``).
        sizes: default ``(train, val, test)`` sizes.
        options: the task's resolved options (defaults filled in).
        horizon: the number of steps of the longest training input (Tomita:
            the longest training string plus its start symbol, 31; pixel MNIST:
            784, or 196 for the 14x14 views; adding, sine, Mackey-Glass:
            ``length``; copy: ``delay + 2 * copy_len``; Multi30k: ``max_len``,
            where sources and targets are cut).
        score_last: score the metric on the last ``score_last`` steps only
            (copy task: the recalled symbols); ``None`` scores every target.
    """

    name: str
    kind: Kind
    input_spec: InputSpec
    output_size: int
    readout: Literal["last", "every"]
    loss: Literal["cross_entropy", "mse"]
    metric: Literal["accuracy", "mse", "bleu"]
    higher_is_better: bool
    target: float
    target_split: Literal["train", "val"]
    sizes: tuple[int, int, int]
    options: Mapping[str, Any]
    horizon: int
    score_last: int | None = None
    # The adapter's callables: builder(task, seed, sizes[, tokenizer]), examples(task, n, seed[, tokenizer]),
    # and, for seq2seq, decoded_metric(tokenizer, ids, refs).
    _builder: Callable[..., TaskData] | None = field(default=None, repr=False, compare=False)
    _examples: Callable[..., Tensor] | None = field(default=None, repr=False, compare=False)
    _decoded_metric: Callable[..., float] | None = field(default=None, repr=False, compare=False)

    @property
    def seq2seq(self) -> bool:
        """Whether the model is an encoder-decoder fed the targets (and scored by decoding)."""
        return self.kind == "seq2seq"

    def build(
        self,
        seed: int,
        *,
        train_size: int | None = None,
        val_size: int | None = None,
        test_size: int | None = None,
        tokenizer: Any = None,
    ) -> TaskData:
        """Build the splits deterministically from ``seed``.

        A size of ``None`` uses the task default (:attr:`sizes`; for datasets
        read from files, the whole split).  A smaller size takes a seeded
        random subset of a fixed split, or generates that many examples.

        ``tokenizer`` (seq2seq only) encodes with a saved tokenizer instead of
        training a new one, as when a run is resumed.

        Returns:
            :class:`TaskData` with splits ``train``, ``val``, ``test`` and, for
            Tomita, ``generalisation`` (never subsampled).
        """
        if tokenizer is not None and not self.seq2seq:
            raise ValueError(bad_value("tokenizer", type(tokenizer).__name__, f"None for task {self.name!r}"))
        check_int("seed", seed, minimum=None)
        sizes = {}
        for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if value is not None:
                check_int(name, value, allowed="a positive int or None")
            sizes[name.removesuffix("_size")] = value
        if self.seq2seq:
            return self._builder(self, seed, sizes, tokenizer)
        return self._builder(self, seed, sizes)

    def example_inputs(self, n: int, seed: int = 0, *, tokenizer: Any = None) -> Tensor:
        """``n`` model inputs for analysis, ``(T, n)`` tokens or ``(T, n, F)`` features, unpadded.

        A seq2seq task needs the run's ``tokenizer`` (saved with its checkpoint).
        """
        check_int("n", n)
        if self.seq2seq:
            if tokenizer is None:
                raise ValueError(bad_value("tokenizer", None, f"the run's tokenizer for {self.name} example inputs"))
            return self._examples(self, n, seed, tokenizer)
        return self._examples(self, n, seed)

    def decoded_metric(self, tokenizer: Any, ids: Sequence[Sequence[int]], refs: Sequence[str]) -> float:
        """The metric (seq2seq: BLEU) of decoded outputs: ``ids`` per sentence against the references ``refs``.

        Raises:
            ValueError: the task is not seq2seq (its metric needs no decoding).
        """
        if self._decoded_metric is None:
            raise ValueError(bad_value("task", self.name, "a seq2seq task (only those score decoded outputs)"))
        return self._decoded_metric(tokenizer, ids, refs)


@dataclass(frozen=True)
class TaskFactory:
    """Makes a :class:`Task` from its options, and says what is known of it before they are given.

    Args:
        make: called with the task's options as keywords; its keyword
            parameters (and their defaults) are the options the task accepts.
        kind: the :attr:`Task.kind` of every task it makes.
        inputs: the :attr:`~eigenrnn.models.InputSpec.kind` of their inputs,
            ``"tokens"`` or ``"features"`` (float inputs).
    """

    make: Callable[..., Task]
    kind: Kind
    inputs: Literal["tokens", "features"]

    @property
    def options(self) -> tuple[str, ...]:
        """The option names, in the order of ``make``'s signature."""
        return tuple(inspect.signature(self.make).parameters)

    @property
    def seq2seq(self) -> bool:
        """See :attr:`Task.seq2seq`."""
        return self.kind == "seq2seq"

    def __call__(self, **options: Any) -> Task:
        task = self.make(**options)
        if (task.kind, task.input_spec.kind) != (self.kind, self.inputs):
            raise TypeError(f"the factory of task {task.name!r} declares {self.kind} with {self.inputs} inputs "
                            f"but made {task.kind} with {task.input_spec.kind} inputs")
        return task
