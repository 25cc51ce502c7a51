"""The benchmark grid: which runs a suite × profile contains, and their budgets.

Every run of the grid is an ordinary :func:`eigenrnn.train.train` run.  The grid
is ``task × cell × init × seed``; the budget (sizes, epochs, optimiser and its
one fixed learning rate) depends only on the profile and the suite, never on the
scheme, so every initializer gets exactly the same training.

Profiles:

* ``smoke`` -- seconds in total, for CI: one Tomita grammar and one regression
  task, GRU and tanh RNN, tiny data, one epoch, one seed, all nine schemes
  (and the chrono baseline, :data:`BASELINE_VARIANTS`).
* ``cpu`` -- each suite in about an hour on 2 cores (Multi30k: about two;
  one epoch of the 128-unit GRU takes ~140 s on one thread),
  see :data:`BUDGETS` for the estimates.
* ``gpu`` -- the paper-scale setting: full 784-step pixel MNIST and permuted
  MNIST, Multi30k at full size.

The numbers live in one table, :data:`BUDGETS`; edit it to change a budget.
``eigenrnn bench --dry-run`` prints it together with the grid sizes.  The
``cpu`` hidden sizes (32-128) are below the 164 units rescaled Glorot needs;
the sweep reports those runs as not run (see :func:`eigenrnn.bench.runner.inapplicable`).
Each task's "steps to target" threshold is the task's own default
(:attr:`eigenrnn.tasks.registry.Task.target`).

>>> specs = grid("tomita", "smoke")
>>> len(specs), specs[0].path
(20, 'tomita/tomita4/gru/pytorch/seed0')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from eigenrnn.errors import bad_value, check_int
from eigenrnn.names import CELLS

PROFILES = ("smoke", "cpu", "gpu")
SUITES = ("tomita", "mnist", "multi30k", "regression")
TOMITA = tuple(f"tomita{k}" for k in range(1, 8))


@dataclass(frozen=True)
class Budget:
    """The training budget shared by every run of one suite under one profile.

    The fields after ``seeds`` are :class:`eigenrnn.train.TrainConfig` fields
    and are passed through unchanged; ``task_options`` maps a task name to its
    ``TrainConfig.task_options`` and ``extra`` holds any other TrainConfig
    fields.  ``est_hours`` is the estimated wall time of the whole suite on 2
    CPU cores (or one GPU for ``gpu``) and is documentation only.
    """

    tasks: tuple[str, ...]
    cells: tuple[str, ...]
    seeds: int
    hidden: int
    epochs: int
    batch_size: int
    lr: float
    train_size: int | None
    val_size: int | None
    test_size: int | None
    est_hours: float
    layers: int = 1
    optimizer: str = "adam"
    clip: float | None = 1.0
    device: str = "cpu"
    task_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def config(self, task: str) -> dict[str, Any]:
        """The TrainConfig fields (minus task/cell/init/seed/out) for ``task``."""
        return {
            "task_options": dict(self.task_options.get(task, {})),
            "hidden": self.hidden,
            "layers": self.layers,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "clip": self.clip,
            "train_size": self.train_size,
            "val_size": self.val_size,
            "test_size": self.test_size,
            "device": self.device,
            **self.extra,
        }


# Sizes are numbers of sequences (sentence pairs for Multi30k); None = the
# task's full split (Tomita: the generated protocol splits, ~700-1300 strings).
# est_hours = runs x seconds per run / 2 workers, from single runs of the real
# trainer at these budgets, one torch thread, on the 2-core AMD EPYC dev machine
# while it was shared (so on the high side): Tomita ~8 s per run (945 runs),
# mnist14 ~35 s per epoch for GRU/LSTM and half that for RNN (81 runs),
# regression ~1.2 s per epoch (405 runs), Multi30k GRU-128 ~4-5 min per epoch
# (18 runs).  gpu estimates are guesses for one H100-class card shared by 4
# workers (``--workers 4``), not measured.
BUDGETS: dict[tuple[str, str], Budget] = {
    # ---- smoke: seconds, for CI ------------------------------------------------
    # hidden=164 is the smallest size at which every scheme is defined (rescaled
    # Glorot needs n >= 164); the data are tiny so this still takes seconds.
    ("smoke", "tomita"): Budget(
        tasks=("tomita4",), cells=("gru", "rnn"), seeds=1, hidden=164, epochs=1,
        batch_size=32, lr=1e-2, train_size=None, val_size=None, test_size=None, est_hours=0.005,
        task_options={"tomita4": {"per_length": 4}}),
    ("smoke", "regression"): Budget(
        tasks=("sine",), cells=("gru", "rnn"), seeds=1, hidden=164, epochs=1,
        batch_size=32, lr=1e-2, train_size=64, val_size=32, test_size=32, est_hours=0.005,
        task_options={"sine": {"length": 20}}),
    # ---- cpu: about an hour per suite on 2 cores (Multi30k: about two) ---------
    ("cpu", "tomita"): Budget(
        tasks=TOMITA, cells=CELLS, seeds=5, hidden=32, epochs=20,
        batch_size=64, lr=1e-2, train_size=None, val_size=None, test_size=None, est_hours=1.0),
    ("cpu", "mnist"): Budget(
        tasks=("mnist14",), cells=CELLS, seeds=3, hidden=64, epochs=8,
        batch_size=64, lr=2e-3, train_size=8000, val_size=2000, test_size=2000, est_hours=1.0),
    ("cpu", "multi30k"): Budget(
        tasks=("multi30k",), cells=("gru",), seeds=2, hidden=128, epochs=5,
        batch_size=128, lr=1e-3, train_size=None, val_size=None, test_size=None, est_hours=1.8,
        extra={"vocab_size": 4000}),
    ("cpu", "regression"): Budget(
        tasks=("adding", "sine", "mackey-glass"), cells=CELLS, seeds=5, hidden=32, epochs=15,
        batch_size=64, lr=3e-3, train_size=2000, val_size=500, test_size=1000, est_hours=1.0,
        task_options={"adding": {"length": 100}, "sine": {"length": 100}, "mackey-glass": {"length": 100}}),
    # ---- gpu: paper scale, one GPU shared by ~4 workers ------------------------
    # hidden=256 so that every scheme is defined (rescaled Glorot needs n >= 164).
    ("gpu", "tomita"): Budget(
        tasks=TOMITA, cells=CELLS, seeds=10, hidden=256, epochs=100,
        batch_size=64, lr=1e-3, train_size=None, val_size=None, test_size=None,
        est_hours=4.0, device="cuda"),
    ("gpu", "mnist"): Budget(
        tasks=("mnist", "pmnist"), cells=CELLS, seeds=3, hidden=256, epochs=50,
        batch_size=128, lr=1e-3, train_size=None, val_size=None, test_size=None,
        est_hours=12.0, device="cuda"),
    ("gpu", "multi30k"): Budget(
        tasks=("multi30k",), cells=CELLS, seeds=3, hidden=256, layers=2, epochs=20,
        batch_size=128, lr=1e-3, train_size=None, val_size=None, test_size=None,
        est_hours=6.0, device="cuda"),
    ("gpu", "regression"): Budget(
        tasks=("adding", "sine", "mackey-glass"), cells=CELLS, seeds=10, hidden=256, epochs=100,
        batch_size=128, lr=1e-3, train_size=None, val_size=None, test_size=None,
        est_hours=4.0, device="cuda",
        task_options={"adding": {"length": 400}, "sine": {"length": 200}, "mackey-glass": {"length": 200}}),
}


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: where it goes and the TrainConfig it trains with.

    ``init`` is the run's initializer, a scheme or a variant name
    (:mod:`eigenrnn.bench.variants`), and names its directory; ``config`` holds
    every TrainConfig field except ``out``, which is ``<root>/<path>`` (see
    :meth:`config_for`), with the variant's base scheme as ``config["init"]``.
    """

    suite: str
    task: str
    cell: str
    init: str
    seed: int
    config: Mapping[str, Any]

    @property
    def path(self) -> str:
        """The run directory relative to the sweep root: ``suite/task/cell/init/seed<k>``."""
        return f"{self.suite}/{self.task}/{self.cell}/{self.init}/seed{self.seed}"

    def config_for(self, root) -> dict[str, Any]:
        """The full TrainConfig dict, with ``out`` under ``root``."""
        return {**self.config, "out": f"{root}/{self.path}"}


def suites(profile: str) -> tuple[str, ...]:
    """The suites that ``profile`` defines, in the order of :data:`SUITES`."""
    _check_choice("profile", profile, PROFILES)
    return tuple(s for s in SUITES if (profile, s) in BUDGETS)


def budget(suite: str, profile: str) -> Budget:
    """The :class:`Budget` of ``suite`` under ``profile``."""
    _check_choice("suite", suite, SUITES)
    available = suites(profile)
    if suite not in available:
        raise ValueError(bad_value("suite", suite, f"one of {available} for profile {profile!r}"))
    return BUDGETS[(profile, suite)]


def grid(
    suite: str,
    profile: str,
    *,
    inits: tuple[str, ...] | list[str] | None = None,
    cells: tuple[str, ...] | list[str] | None = None,
    seeds: int | None = None,
) -> list[RunSpec]:
    """The runs of ``suite`` (or ``"all"``) under ``profile``, ordered task, cell, init, seed.

    Args:
        suite: one of :data:`SUITES` or ``"all"`` (every suite the profile defines).
        profile: one of :data:`PROFILES`.
        inits: the runs' initializers, schemes or variants (:func:`eigenrnn.bench.variants.parse`:
            ``eigen:horizon``, ``orthogonal+cal``, ``xavier{gain=2}``; default
            :func:`default_inits`).  A variant's run directory and report
            row carry its name; its keyword arguments, with the task's horizon
            filled in, go into the run's ``init_kwargs`` (and ``calibrate``).
        cells: restrict to these cells (default: the profile's cells).
        seeds: number of seeds, ``0 .. seeds-1`` (default: the profile's).

    Returns:
        list of :class:`RunSpec`; seed ``k`` gives TrainConfig ``seed=k`` for
        every init, so runs with the same seed share data order and can be paired.
    """
    from eigenrnn.bench import variants as variant_registry
    from eigenrnn.tasks import get_task

    _check_choice("profile", profile, PROFILES)
    names = suites(profile) if suite == "all" else (suite,)
    chosen = [variant_registry.parse(name) for name in (default_inits() if inits is None else inits)]
    for variant in chosen:
        variant.check_supported()
    twice = sorted({v.name for v in chosen if [w.name for w in chosen].count(v.name) > 1})
    if twice:  # two spellings of one variant would share its run directories
        raise ValueError(bad_value("inits", twice, "each scheme or variant once"))
    if cells is not None:
        for name in cells:
            _check_choice("cells", name, CELLS)
    if seeds is not None:
        check_int("seeds", seeds)

    specs = []
    for name in names:
        b = budget(name, profile)
        run_cells = b.cells if cells is None else tuple(c for c in CELLS if c in cells)
        for task in b.tasks:
            base = b.config(task)
            horizon = get_task(task, **base["task_options"]).horizon
            for cell in run_cells:
                for variant in chosen:
                    init = variant.resolve(horizon)
                    for seed in range(b.seeds if seeds is None else seeds):
                        config = {**base, "task": task, "cell": cell, **init, "seed": seed}
                        specs.append(RunSpec(name, task, cell, variant.name, seed, config))
    return specs


#: Named variants every default grid runs besides the plain schemes: chrono
#: gate biases (Tallec & Ollivier 2018), the usual long-memory baseline of
#: gated cells, on Xavier weights so that it differs from ``xavier`` in the
#: biases alone.  Its vanilla-RNN runs are reported as not run.
BASELINE_VARIANTS = ("xavier+chrono",)


def default_inits() -> tuple[str, ...]:
    """The inits (schemes and variants) of a grid when none are given.

    Every scheme of :func:`eigenrnn.init.schemes`, then each of
    :data:`BASELINE_VARIANTS` that this version of eigenrnn supports (chrono
    biases need ``init_rnn(..., bias="chrono", horizon=T)``).
    """
    from eigenrnn.bench.variants import parse
    from eigenrnn.init import schemes

    return (*schemes(), *(name for name in BASELINE_VARIANTS if parse(name).supported))


def budgets_markdown(profile: str | None = None) -> str:
    """The budget table as markdown (all profiles, or one)."""
    head = ("profile", "suite", "tasks", "cells", "seeds", "hidden", "layers", "epochs",
            "batch", "optimizer", "lr", "clip", "train/val/test", "device", "est. hours")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (prof, suite), b in BUDGETS.items():
        if profile is not None and prof != profile:
            continue
        tasks = "tomita1-7" if b.tasks == TOMITA else ", ".join(b.tasks)
        sizes = "/".join("full" if n is None else str(n) for n in (b.train_size, b.val_size, b.test_size))
        row = (prof, suite, tasks, ", ".join(b.cells), b.seeds, b.hidden, b.layers, b.epochs,
               b.batch_size, b.optimizer, b.lr, b.clip, sizes, b.device, b.est_hours)
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _check_choice(argument: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(bad_value(argument, value, f"one of {', '.join(allowed)}"))
