"""The task registry: one :class:`Task` per benchmark the trainer can run.

A task ties a data module of :mod:`eigenrnn.tasks` to what the trainer and the
models need: the kind of problem, the model's input and output, the readout,
the loss and metric, the default "steps to target" threshold, and a builder for
the train / val / test (and, for Tomita, length-generalisation) splits.

>>> task = get_task("adding", length=20)
>>> task.kind, task.metric, task.readout
('regression', 'mse', 'last')
>>> data = task.build(seed=0, train_size=8, val_size=4, test_size=4)
>>> data.splits["train"].x.shape
torch.Size([20, 8, 2])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Mapping

import torch
from torch import Tensor

from eigenrnn.errors import bad_value, check_int
from eigenrnn.models import InputSpec

Kind = Literal["classification", "regression", "seq2seq"]
SPLITS = ("train", "val", "test", "generalisation")


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


Builder = Callable[..., TaskData]


@dataclass(frozen=True)
class Task:
    """A benchmark the trainer can run (see the module docstring).

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
        score_last: score the metric on the last ``score_last`` steps only
            (copy task: the recalled symbols); ``None`` scores every target.
        sizes: default ``(train, val, test)`` sizes.
        options: the task's resolved options (defaults filled in).
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
    score_last: int | None = None
    _builder: Builder | None = field(default=None, repr=False, compare=False)
    _examples: Callable[..., Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def horizon(self) -> int:
        """The task's horizon ``T``: the number of steps of its longest training input.

        Tomita: the longest training string plus its start symbol (31; the
        length-generalisation split goes to 61); pixel MNIST: 784, or 196 for the 14x14 views;
        adding, sine, Mackey-Glass: ``length``; copy: ``delay + 2 * copy_len``;
        Multi30k: ``max_len`` (sources are cut there).

        >>> get_task("copy", delay=50, copy_len=10).horizon
        70
        """
        from eigenrnn.tasks import mnist, tomita

        o = self.options
        if self.name.startswith("tomita"):
            return max(tomita.DEFAULT_TRAIN_LENGTHS) + 1  # encode() leads every string with BOS
        if self.name in mnist.VARIANTS:
            return mnist.sequence_length(self.name)
        if self.name == "copy":
            return o["delay"] + 2 * o["copy_len"]
        if self.name == "multi30k":
            return o["max_len"]
        return o["length"]

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
        if tokenizer is not None and self.kind != "seq2seq":
            raise ValueError(bad_value("tokenizer", type(tokenizer).__name__, f"None for task {self.name!r}"))
        check_int("seed", seed, minimum=None)
        sizes = {}
        for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if value is not None:
                check_int(name, value, allowed="a positive int or None")
            sizes[name.removesuffix("_size")] = value
        if self.kind == "seq2seq":
            return self._builder(self, seed, sizes, tokenizer)
        return self._builder(self, seed, sizes)

    def example_inputs(self, n: int, seed: int = 0, *, tokenizer: Any = None) -> Tensor:
        """``n`` model inputs for analysis, ``(T, n)`` tokens or ``(T, n, F)`` features, unpadded.

        Multi30k needs the run's ``tokenizer`` (saved with its checkpoint).
        """
        check_int("n", n)
        if self.kind == "seq2seq":
            if tokenizer is None:
                raise ValueError(bad_value("tokenizer", None, "the run's tokenizer for multi30k example inputs"))
            return self._examples(self, n, seed, tokenizer)
        return self._examples(self, n, seed)


def _subset(data: SequenceDataset, size: int | None, seed: int) -> SequenceDataset:
    if size is None or size >= len(data):
        return data
    g = torch.Generator().manual_seed(seed)
    return data.take(torch.randperm(len(data), generator=g)[:size].sort().values)


def _split_seed(seed: int, split: str) -> int:
    # Distinct, reproducible seeds per split so val/test never repeat train.
    return seed * len(SPLITS) + SPLITS.index(split)


# --------------------------------------------------------------------------
# Tomita grammars
# --------------------------------------------------------------------------

def _tomita_dataset(pairs: list[tuple[str, int]]) -> SequenceDataset:
    from eigenrnn.tasks import tomita

    tokens, lengths = tomita.encode([s for s, _ in pairs])
    labels = torch.tensor([label for _, label in pairs], dtype=torch.long)
    return SequenceDataset(tokens, labels, lengths=lengths)


def _tomita_build(task: Task, seed: int, sizes: dict[str, int | None]) -> TaskData:
    from eigenrnn.tasks import tomita

    k = task.options["grammar"]
    kwargs = {} if task.options["per_length"] is None else {"per_length": task.options["per_length"]}
    raw = tomita.splits(k, seed, **kwargs)
    splits = {}
    for name in SPLITS:
        data = _tomita_dataset(raw[name])
        splits[name] = data if name == "generalisation" else _subset(data, sizes[name], _split_seed(seed, name))
    return TaskData(splits, task.input_spec, task.output_size)


def _tomita_examples(task: Task, n: int, seed: int) -> Tensor:
    from eigenrnn.tasks import tomita

    # One length so the batch has no padding; the longest training length.
    length = max(tomita.DEFAULT_TRAIN_LENGTHS)
    pairs = tomita.generate(task.options["grammar"], [length], n, seed)
    tokens, _ = tomita.encode([s for s, _ in pairs[:n]])
    return tokens


def _tomita_task(k: int, per_length: int | None = None) -> Task:
    from eigenrnn.tasks import tomita

    return Task(
        name=f"tomita{k}",
        kind="classification",
        input_spec=InputSpec("tokens", tomita.VOCAB_SIZE, padding_idx=tomita.PAD),
        output_size=2,
        readout="last",
        loss="cross_entropy",
        metric="accuracy",
        higher_is_better=True,
        target=1.0,
        target_split="train",
        sizes=(0, 0, 0),  # whatever tomita.splits generates
        options={"grammar": k, "per_length": per_length},
        _builder=_tomita_build,
        _examples=_tomita_examples,
    )


# --------------------------------------------------------------------------
# Pixel MNIST
# --------------------------------------------------------------------------

def _mnist_build(task: Task, seed: int, sizes: dict[str, int | None]) -> TaskData:
    from eigenrnn.tasks import mnist

    splits = {}
    for name in ("train", "val", "test"):
        images, labels = mnist.load(name, data_dir=task.options["data_dir"])
        images, labels = torch.as_tensor(images), torch.as_tensor(labels).long()
        size = sizes[name]
        if size is not None and size < len(labels):
            g = torch.Generator().manual_seed(_split_seed(seed, name))
            index = torch.randperm(len(labels), generator=g)[:size].sort().values
            images, labels = images[index], labels[index]
        x = mnist.to_sequence(images, task.options["variant"], **_permutation(task))
        splits[name] = SequenceDataset(torch.as_tensor(x), labels)
    return TaskData(splits, task.input_spec, task.output_size)


def _permutation(task: Task) -> dict[str, int]:
    return {"permutation_seed": task.options["permutation_seed"]} if task.options["variant"] == "pmnist" else {}


def _mnist_examples(task: Task, n: int, seed: int) -> Tensor:
    from eigenrnn.tasks import mnist

    images, _ = mnist.load("test", data_dir=task.options["data_dir"])
    images = torch.as_tensor(images)
    index = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return torch.as_tensor(mnist.to_sequence(images[index], task.options["variant"], **_permutation(task)))


def _mnist_task(variant: str, data_dir: str | None = None, permutation_seed: int | None = None) -> Task:
    if permutation_seed is not None and variant != "pmnist":
        raise ValueError(bad_value("permutation_seed", permutation_seed, f"None for task {variant!r} (pmnist only)"))
    options: dict[str, Any] = {"variant": variant, "data_dir": data_dir}
    if variant == "pmnist":
        options["permutation_seed"] = 0 if permutation_seed is None else permutation_seed
    return Task(
        name=variant,
        kind="classification",
        input_spec=InputSpec("features", 1),
        output_size=10,
        readout="last",
        loss="cross_entropy",
        metric="accuracy",
        higher_is_better=True,
        target=0.9,
        target_split="val",
        sizes=(50_000, 10_000, 10_000),
        options=options,
        _builder=_mnist_build,
        _examples=_mnist_examples,
    )


# --------------------------------------------------------------------------
# Synthetic regression and memory tasks
# --------------------------------------------------------------------------

def _synthetic_build(task: Task, seed: int, sizes: dict[str, int | None]) -> TaskData:
    defaults = dict(zip(("train", "val", "test"), task.sizes))
    splits = {}
    for name in ("train", "val", "test"):
        n = sizes[name] or defaults[name]
        x, y = _synthetic_generate(task, n, _split_seed(seed, name))
        splits[name] = SequenceDataset(x, y, y_time_first=task.readout == "every")
    return TaskData(splits, task.input_spec, task.output_size)


def _synthetic_generate(task: Task, n: int, seed: int) -> tuple[Tensor, Tensor]:
    from eigenrnn.tasks import synthetic

    o = dict(task.options)
    if task.name == "adding":
        return synthetic.adding(n, o["length"], seed=seed)
    if task.name == "copy":
        return synthetic.copy_memory(n, o["delay"], n_symbols=o["n_symbols"], copy_len=o["copy_len"], seed=seed)
    if task.name == "sine":
        return synthetic.sine_mixture(n, o["length"], seed=seed)
    return synthetic.mackey_glass(n, o["length"], tau=o["tau"], seed=seed)


def _synthetic_examples(task: Task, n: int, seed: int) -> Tensor:
    return _synthetic_generate(task, n, seed)[0]


def _regression_task(name: str, readout: str, features: int, target: float, options: dict) -> Task:
    return Task(
        name=name,
        kind="regression",
        input_spec=InputSpec("features", features),
        output_size=1,
        readout=readout,
        loss="mse",
        metric="mse",
        higher_is_better=False,
        target=target,
        target_split="val",
        sizes=(10_000, 1_000, 1_000),
        options=options,
        _builder=_synthetic_build,
        _examples=_synthetic_examples,
    )


def _adding_task(length: int = 100) -> Task:
    # Always answering 1 scores MSE 1/6 (the variance of a sum of two U(0,1));
    # 0.01 is the usual "solved" line (Le et al. 2015 plot MSE against it).
    return _regression_task("adding", "last", 2, 0.01, {"length": check_int("length", length)})


def _sine_task(length: int = 100) -> Task:
    return _regression_task("sine", "every", 1, 1e-3, {"length": check_int("length", length)})


def _mackey_glass_task(length: int = 100, tau: int = 17) -> Task:
    return _regression_task(
        "mackey-glass", "every", 1, 1e-3, {"length": check_int("length", length), "tau": check_int("tau", tau)}
    )


def _copy_task(delay: int = 100, n_symbols: int = 8, copy_len: int = 10) -> Task:
    from eigenrnn.tasks import synthetic

    options = {
        "delay": check_int("delay", delay),
        "n_symbols": check_int("n_symbols", n_symbols),
        "copy_len": check_int("copy_len", copy_len),
    }
    # Inputs and targets share the token ids: data symbols, blank and delimiter.
    vocab = synthetic.copy_memory_vocab(n_symbols).vocab_size
    return Task(
        name="copy",
        kind="classification",
        input_spec=InputSpec("tokens", vocab),
        output_size=vocab,
        readout="every",
        loss="cross_entropy",
        metric="accuracy",
        higher_is_better=True,
        target=0.99,
        target_split="val",
        sizes=(10_000, 1_000, 1_000),
        options=options,
        score_last=copy_len,
        _builder=_synthetic_build,
        _examples=_synthetic_examples,
    )


# --------------------------------------------------------------------------
# Multi30k
# --------------------------------------------------------------------------

def _multi30k_build(task: Task, seed: int, sizes: dict[str, int | None], tokenizer: Any = None) -> TaskData:
    from eigenrnn.tasks import multi30k

    o = task.options
    pairs = {}
    for name in ("train", "val", "test"):
        split = multi30k.load(name, data_dir=o["data_dir"])
        size = sizes[name]
        if size is not None and size < len(split):
            g = torch.Generator().manual_seed(_split_seed(seed, name))
            split = [split[i] for i in torch.randperm(len(split), generator=g)[:size].sort().values.tolist()]
        pairs[name] = split
    if tokenizer is None:
        # The tokenizer sees the (possibly subsampled) training split only.
        tokenizer = multi30k.train_tokenizer(pairs["train"], vocab_size=o["vocab_size"])
    return multi30k_data(tokenizer, pairs, o["max_len"])


def multi30k_data(tokenizer: Any, pairs: Mapping[str, list[tuple[str, str]]], max_len: int) -> TaskData:
    """Encode (de, en) pairs with a trained tokenizer into seq2seq splits.

    Sources end with EOS; targets are ``BOS ... EOS`` (the decoder reads
    ``y[:-1]`` and predicts ``y[1:]``).  Sentences are cut at ``max_len`` tokens.
    """
    from eigenrnn.tasks import multi30k

    specials = multi30k_specials(tokenizer)
    splits = {}
    for name, split in pairs.items():
        src, src_len = multi30k.encode_batch(tokenizer, [de for de, _ in split], add_bos=False, add_eos=True, max_len=max_len)
        tgt, tgt_len = multi30k.encode_batch(tokenizer, [en for _, en in split], add_bos=True, add_eos=True, max_len=max_len)
        refs = tuple(en for _, en in split)
        splits[name] = SequenceDataset(src, tgt, lengths=src_len, y_lengths=tgt_len, y_time_first=True, refs=refs)
    vocab = int(tokenizer.get_vocab_size())
    return TaskData(splits, InputSpec("tokens", vocab, padding_idx=specials["pad"]), vocab, tokenizer, specials)


def multi30k_specials(tokenizer: Any) -> dict[str, int]:
    """The ids of ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>`` in a Multi30k tokenizer."""
    specials = {}
    for key in ("pad", "bos", "eos", "unk"):
        token_id = tokenizer.token_to_id(f"<{key}>")
        if token_id is None:
            raise ValueError(bad_value("tokenizer", f"a vocabulary without <{key}>", "a Multi30k tokenizer"))
        specials[key] = int(token_id)
    return specials


def _multi30k_examples(task: Task, n: int, seed: int, tokenizer: Any) -> Tensor:
    from eigenrnn.tasks import multi30k

    pairs = multi30k.load("val", data_dir=task.options["data_dir"])
    index = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    # Cut to the shortest chosen sentence so the batch has no padding.
    src, lengths = multi30k.encode_batch(tokenizer, [pairs[i][0] for i in index], add_bos=False, add_eos=False)
    return src[: int(lengths.min())]


def _multi30k_task(data_dir: str | None = None, vocab_size: int = 8000, max_len: int = 64) -> Task:
    options = {"data_dir": data_dir, "vocab_size": check_int("vocab_size", vocab_size), "max_len": check_int("max_len", max_len)}
    return Task(
        name="multi30k",
        kind="seq2seq",
        input_spec=InputSpec("tokens", vocab_size, padding_idx=0),
        output_size=vocab_size,
        readout="every",
        loss="cross_entropy",
        metric="bleu",
        higher_is_better=True,
        target=20.0,
        target_split="val",
        sizes=(29_000, 1_014, 1_000),
        options=options,
        _builder=_multi30k_build,
        _examples=_multi30k_examples,
    )


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------

def _tomita_factory(k: int) -> Callable[..., Task]:
    def factory(per_length: int | None = None) -> Task:
        if per_length is not None:
            check_int("per_length", per_length)
        return _tomita_task(k, per_length)

    return factory


_FACTORIES: dict[str, Callable[..., Task]] = {
    **{f"tomita{k}": _tomita_factory(k) for k in range(1, 8)},
    "mnist": lambda data_dir=None: _mnist_task("mnist", data_dir),
    "pmnist": lambda data_dir=None, permutation_seed=0: _mnist_task("pmnist", data_dir, permutation_seed),
    "mnist14": lambda data_dir=None: _mnist_task("mnist14", data_dir),
    "pmnist14": lambda data_dir=None: _mnist_task("pmnist14", data_dir),
    "adding": _adding_task,
    "copy": _copy_task,
    "sine": _sine_task,
    "mackey-glass": _mackey_glass_task,
    "multi30k": _multi30k_task,
}

_OPTIONS: dict[str, tuple[str, ...]] = {
    **{f"tomita{k}": ("per_length",) for k in range(1, 8)},
    "mnist": ("data_dir",),
    "pmnist": ("data_dir", "permutation_seed"),
    "mnist14": ("data_dir",),
    "pmnist14": ("data_dir",),
    "adding": ("length",),
    "copy": ("delay", "n_symbols", "copy_len"),
    "sine": ("length",),
    "mackey-glass": ("length", "tau"),
    "multi30k": ("data_dir", "vocab_size", "max_len"),
}


def task_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_task`.

    >>> task_names()[:3]
    ('tomita1', 'tomita2', 'tomita3')
    """
    return tuple(_FACTORIES)


def task_options(name: str) -> tuple[str, ...]:
    """The option names :func:`get_task` accepts for task ``name``."""
    _check_name(name)
    return _OPTIONS[name]


def _check_name(name: object) -> None:
    if not isinstance(name, str) or name not in _FACTORIES:
        raise ValueError(bad_value("task", name, f"one of {', '.join(_FACTORIES)}"))


def get_task(name: str, **options: Any) -> Task:
    """Look up a task by name, with its options.

    Options: ``per_length`` (Tomita strings per length), ``data_dir`` (mnist,
    pmnist, mnist14, pmnist14, multi30k), ``permutation_seed`` (pmnist), ``length``
    (adding, sine, mackey-glass), ``tau`` (mackey-glass), ``delay``,
    ``n_symbols``, ``copy_len`` (copy), ``vocab_size``, ``max_len`` (multi30k).

    Raises:
        ValueError: for an unknown task name or option, naming the valid ones.

    >>> get_task("copy", delay=50).options["delay"]
    50
    """
    _check_name(name)
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        allowed = ", ".join(_OPTIONS[name]) or "none"
        raise ValueError(bad_value(f"options of task {name!r}", unknown, f"only: {allowed}"))
    for key in ("data_dir",):
        if options.get(key) is not None and not isinstance(options[key], str):
            options[key] = str(options[key])
    return _FACTORIES[name](**options)
