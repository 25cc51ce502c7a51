"""The three benchmark suites of the selection study, under a ``smoke`` and a ``cpu`` profile.

* ``selection-instrument`` -- the learning-rate x clipping grid, run by the
  textbook baselines (:data:`INSTRUMENT_INITS`) on every development and
  held-out task except Multi30k; :func:`eigenrnn.selection.rule.choose_instrument`
  picks one setting per task and cell, the same for every family.
* ``selection-dev`` -- every family's K configurations
  (:mod:`eigenrnn.selection.families`) and its input probe on the development
  tasks, at the chosen instrument; :func:`eigenrnn.selection.rule.select` picks
  one configuration per family and cell.
* ``selection-heldout`` -- the chosen configurations, every family's
  published textbook setting and PyTorch's default on the held-out tasks.

Each task entry is a :class:`eigenrnn.bench.profiles.Budget` of one task under
a short key (the run directory's task part, e.g. ``adding50``), so the same
task may appear at two budgets.  Runs go to
``<out>/<suite dir>/<key>/<cell>/<config>/seed<k>`` where the suite directory
is ``dev``, ``heldout`` or ``instrument-lr<factor>x-clip<clip>``; the runner
skips finished runs, so every stage is resumable.

>>> specs = grid("selection-instrument", "smoke")
>>> specs[0].path
'instrument-lr0.5x-clip1/tomita3/gru/xavier/seed0'
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping, Sequence

from eigenrnn.bench.profiles import Budget, RunSpec
from eigenrnn.errors import bad_value
from eigenrnn.selection import families as fam

SUITES = ("selection-instrument", "selection-dev", "selection-heldout")
PROFILES = ("smoke", "cpu")
CELLS = ("rnn", "lstm", "gru")

#: The textbook baselines that choose the instrument (published settings, own input weights).
INSTRUMENT_INITS = ("xavier", "kaiming", "orthogonal")

# Every Tomita run ends once it classifies every training string (the task's target, 100 %
# training accuracy, checked at each epoch end): the same stopping rule for every family,
# and the sweep's largest saving (a run that has learned stops paying for its epochs).
_TOMITA_STOP = {"stop_at_target": True}
_TOMITA_LONG = dict(cells=CELLS, hidden=32, epochs=100, batch_size=64, lr=1e-2,
                    train_size=None, val_size=None, test_size=None, extra=_TOMITA_STOP)
_REG = dict(cells=CELLS, hidden=32, epochs=15, batch_size=64, lr=3e-3, train_size=2000, val_size=500, test_size=1000)
_MNIST = dict(cells=CELLS, hidden=64, epochs=8, batch_size=64, lr=2e-3, train_size=8000, val_size=2000, test_size=2000)


def _b(task: str, seeds: int, est_hours: float = 0.0, options: Mapping[str, Any] | None = None, **fields) -> Budget:
    return Budget(tasks=(task,), seeds=seeds, est_hours=est_hours,
                  task_options={task: dict(options or {})}, **fields)


#: ``TASKS[profile][stage] = {key: Budget}`` for the stages ``dev`` and ``heldout``.
#: est_hours: documentation only, see docs/SELECTION.md's budget table.
TASKS: dict[str, dict[str, dict[str, Budget]]] = {
    "cpu": {
        "dev": {
            "tomita3": _b("tomita3", 3, cells=CELLS, hidden=32, epochs=20, batch_size=64, lr=1e-2,
                          train_size=None, val_size=None, test_size=None, extra=_TOMITA_STOP),
            # Long enough that some scheme learns Tomita 5 (the 150-epoch study runs did; 20 epochs did not).
            "tomita5": _b("tomita5", 3, **_TOMITA_LONG),
            "adding50": _b("adding", 3, options={"length": 50}, **_REG),
            # A training subset, judged on the validation split; the test split is the held-out mnist14's.
            "mnist14-sub": _b("mnist14", 3, **{**_MNIST, "train_size": 4000, "val_size": 2000}),
        },
        # Seeds: 10 where runs are cheap (the fewest for which a Holm-corrected Wilcoxon test
        # over one table can reach p < 0.05), 6 for the MNIST tasks (the fewest pairs for
        # which the benchmark runs a Wilcoxon test, MIN_WILCOXON_PAIRS).  Multi30k (9.6 h of
        # the 38 h first planned) is not in the shrunk protocol (docs/SELECTION.md says why).
        "heldout": {
            "tomita6": _b("tomita6", 10, **_TOMITA_LONG),
            "tomita7": _b("tomita7", 10, **_TOMITA_LONG),
            "pmnist14": _b("pmnist14", 6, **_MNIST),
            "mnist14": _b("mnist14", 6, **_MNIST),
            "adding200": _b("adding", 10, options={"length": 200}, **_REG),
            "mackey-glass": _b("mackey-glass", 10, options={"length": 100}, **_REG),
        },
    },
    # Seconds: tiny data, one epoch, the GRU only; no task that needs a dataset on disk.
    "smoke": {
        "dev": {
            "tomita3": _b("tomita3", 1, options={"per_length": 2}, cells=("gru",), hidden=8, epochs=1,
                          batch_size=32, lr=1e-2, train_size=None, val_size=None, test_size=None),
        },
        "heldout": {
            "tomita6": _b("tomita6", 1, options={"per_length": 2}, cells=("gru",), hidden=8, epochs=1,
                          batch_size=32, lr=1e-2, train_size=None, val_size=None, test_size=None),
            "adding10": _b("adding", 1, options={"length": 10}, cells=("gru",), hidden=8, epochs=1,
                           batch_size=32, lr=3e-3, train_size=32, val_size=16, test_size=16),
        },
    },
}

#: The instrument grid: learning rates as multiples of each task's base lr, and gradient-norm clips.
INSTRUMENT = {
    "cpu": {"lr_factors": (0.25, 0.5, 1.0), "clips": (1.0, 0.1), "seeds": 2},
    "smoke": {"lr_factors": (0.5, 1.0), "clips": (1.0,), "seeds": 1},
}

#: Tasks the instrument stage does not sweep (their base setting is used): one Multi30k
#: run takes ~25 min at the cpu budget and the cpu benchmark saw no collapse there.
NOT_SWEPT = ("multi30k",)


#: The bench suites of the study, in stage order.
STAGE_SUITES = ("selection-instrument", "selection-dev", "selection-heldout")


def bench_suite(suite_dir: str) -> str:
    """The ``bench --suite`` name that writes the suite directory ``suite_dir`` (other suites' names pass through).

    >>> bench_suite("instrument-lr0.5x-clip1"), bench_suite("dev"), bench_suite("tomita")
    ('selection-instrument', 'selection-dev', 'tomita')
    """
    if suite_dir.startswith("instrument-"):
        return "selection-instrument"
    return {"dev": "selection-dev", "heldout": "selection-heldout"}.get(suite_dir, suite_dir)


def instrument_dir(lr_factor: float, clip: float | None) -> str:
    """The suite directory of one instrument setting, e.g. ``instrument-lr0.5x-clip1``."""
    return f"instrument-lr{lr_factor:g}x-clip{'none' if clip is None else f'{clip:g}'}"


def tasks(stage: str, profile: str) -> dict[str, Budget]:
    """The task entries ``{key: Budget}`` of ``stage`` (``"dev"`` or ``"heldout"``) under ``profile``."""
    _check("profile", profile, PROFILES)
    _check("stage", stage, ("dev", "heldout"))
    return TASKS[profile][stage]


def grid(
    suite: str,
    profile: str,
    *,
    instrument: Mapping[str, Any] | None = None,
    chosen: Mapping[str, Any] | None = None,
    families: Sequence[str] | None = None,
    cells: Sequence[str] | None = None,
    seeds: int | None = None,
) -> list[RunSpec]:
    """The runs of one selection suite, ordered task, cell, configuration, seed.

    Args:
        suite: one of :data:`SUITES`.
        profile: ``"smoke"`` or ``"cpu"``.
        instrument: the JSON of :func:`eigenrnn.selection.rule.choose_instrument`
            (required by the dev and held-out suites): per task key and cell its
            ``lr`` and ``clip``.
        chosen: the JSON of :func:`eigenrnn.selection.rule.select` (required by
            the held-out suite).
        families: restrict to these families (default: all of
            :data:`eigenrnn.selection.families.FAMILIES`); the same restriction
            must be given to every stage.
        cells: restrict to these cells (default: each task's).
        seeds: seeds ``0 .. seeds-1`` (default: each task's, or the instrument's).

    Returns:
        list of :class:`~eigenrnn.bench.profiles.RunSpec`; its ``config`` is a
        complete TrainConfig dict (minus ``out``), so each run's
        ``config.json`` rebuilds it.
    """
    _check("suite", suite, SUITES)
    _check("profile", profile, PROFILES)
    chosen_families = fam.FAMILIES if families is None else tuple(families)
    for name in chosen_families:
        _check("families", name, fam.FAMILIES)
    for name in cells or ():
        _check("cells", name, CELLS)
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise ValueError(bad_value("seeds", seeds, "a positive integer"))
    if suite == "selection-instrument":
        return _instrument_grid(profile, cells, seeds)
    if instrument is None:
        raise ValueError(bad_value("instrument", None, f"the instrument file (eigenrnn select instrument) for {suite}"))
    stage = "dev" if suite == "selection-dev" else "heldout"
    if stage == "heldout" and chosen is None:
        raise ValueError(bad_value("chosen", None, "the chosen-configurations file (eigenrnn select choose) "
                                   "for selection-heldout"))
    return _stage_grid(stage, profile, instrument, chosen, chosen_families, cells, seeds)


def _instrument_grid(profile: str, cells: Sequence[str] | None, seeds: int | None) -> list[RunSpec]:
    """The selection-instrument runs: every lr factor x clip x task (but :data:`NOT_SWEPT`) x cell."""
    setting = INSTRUMENT[profile]
    entries = {**tasks("dev", profile), **tasks("heldout", profile)}
    specs: list[RunSpec] = []
    for lr_factor in setting["lr_factors"]:
        for clip in setting["clips"]:
            for key, budget in entries.items():
                if budget.tasks[0] in NOT_SWEPT:
                    continue
                for cell in _run_cells(budget, cells):
                    specs += _runs(instrument_dir(lr_factor, clip), key, budget, cell, INSTRUMENT_INITS,
                                   seeds or setting["seeds"], {"lr": budget.lr * lr_factor, "clip": clip})
    return specs


def _stage_grid(stage: str, profile: str, instrument: Mapping[str, Any], chosen: Mapping[str, Any] | None,
                families: Sequence[str], cells: Sequence[str] | None, seeds: int | None) -> list[RunSpec]:
    """The dev or held-out runs: per task and cell, the families' configurations at the chosen instrument."""
    specs: list[RunSpec] = []
    for key, budget in tasks(stage, profile).items():
        for cell in _run_cells(budget, cells):
            if stage == "dev":
                names = [n for f in fam.families_for(cell) if f in families
                         for n in (*fam.configs(f), fam.input_probe(f))]
            else:
                names = heldout_configs(chosen, cell, families)
            specs += _runs(stage, key, budget, cell, names, seeds or budget.seeds,
                           _instrument_for(instrument, key, cell, budget))
    return specs


def _run_cells(budget: Budget, cells: Sequence[str] | None) -> tuple[str, ...]:
    return budget.cells if cells is None else tuple(c for c in budget.cells if c in cells)


def _runs(suite_dir: str, key: str, budget: Budget, cell: str, inits: Sequence[str], n_seeds: int,
          override: Mapping[str, Any]) -> list[RunSpec]:
    """The runs of one task entry and cell: each of ``inits`` (once) x seeds ``0 .. n_seeds-1``."""
    from eigenrnn.bench import variants

    task = budget.tasks[0]
    base = {**budget.config(task), **override}
    horizon = _horizon(task, base["task_options"])
    specs = []
    for name in dict.fromkeys(inits):
        variant = variants.parse(name)
        variant.check_supported()
        for seed in range(n_seeds):
            config = {**base, "task": task, "cell": cell, **variant.resolve(horizon), "seed": seed}
            specs.append(RunSpec(suite_dir, key, cell, variant.name, seed, config))
    return specs


def heldout_configs(chosen: Mapping[str, Any], cell: str, families: Sequence[str] = fam.FAMILIES) -> list[str]:
    """The held-out configurations of ``cell``: each family's chosen one (with the chosen input
    weights), each family's published textbook setting, and PyTorch's default; each once."""
    try:
        entry = chosen["cells"][cell]
        level = entry["input_scheme"]
        picked = {f: entry["families"][f]["chosen"] for f in fam.families_for(cell) if f in families}
    except (KeyError, TypeError):
        raise ValueError(bad_value("chosen", f"no complete entry for cell {cell!r}",
                                   "the file eigenrnn select choose wrote for these families")) from None
    names = [fam.with_inputs(picked[f], level) for f in picked]
    names += [fam.PUBLISHED[f] for f in picked]
    return list(dict.fromkeys([*names, "pytorch"]))


def budgets(suite: str, profile: str) -> dict[str, Any]:
    """The budgets of ``suite`` under ``profile`` as JSON, for ``bench.json``."""
    _check("suite", suite, SUITES)
    if suite == "selection-instrument":
        entries = {**tasks("dev", profile), **tasks("heldout", profile)}
        return {"instrument": {k: list(v) if isinstance(v, tuple) else v for k, v in INSTRUMENT[profile].items()},
                "schemes": list(INSTRUMENT_INITS),  # the key predates the name init; bench.json keeps it
                "tasks": {k: asdict(b) for k, b in entries.items() if b.tasks[0] not in NOT_SWEPT}}
    stage = "dev" if suite == "selection-dev" else "heldout"
    return {"tasks": {k: asdict(b) for k, b in tasks(stage, profile).items()}}


def _instrument_for(instrument: Mapping[str, Any], key: str, cell: str, budget: Budget) -> dict[str, Any]:
    if budget.tasks[0] in NOT_SWEPT:
        return {}
    try:
        chosen = instrument["tasks"][key][cell]
        return {"lr": float(chosen["lr"]), "clip": None if chosen["clip"] is None else float(chosen["clip"])}
    except (KeyError, TypeError, ValueError):
        raise ValueError(bad_value("instrument", f"no lr/clip for task {key!r}, cell {cell!r}",
                                   "the file eigenrnn select instrument wrote for this profile")) from None


def _horizon(task: str, options: Mapping[str, Any]) -> int:
    from eigenrnn.tasks import get_task

    return get_task(task, **options).horizon


def _check(argument: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(bad_value(argument, value, f"one of {', '.join(allowed)}"))
