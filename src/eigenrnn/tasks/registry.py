"""The task registry: one :class:`~eigenrnn.tasks.base.TaskFactory` per benchmark the trainer can run.

Each factory lives with its data module (its adapter); :data:`FACTORIES` only
names them.  A task's options are its factory's keyword parameters.

>>> task = get_task("adding", length=20)
>>> task.kind, task.metric, task.readout
('regression', 'mse', 'last')
>>> data = task.build(seed=0, train_size=8, val_size=4, test_size=4)
>>> data.splits["train"].x.shape
torch.Size([20, 8, 2])
"""

from __future__ import annotations

from typing import Any

from eigenrnn.errors import bad_value
from eigenrnn.tasks import mnist, multi30k, synthetic, tomita
from eigenrnn.tasks.base import Task, TaskFactory

#: Task name -> factory, in the order :func:`task_names` lists them.  Tests may patch an entry.
FACTORIES: dict[str, TaskFactory] = {
    **{f"tomita{k}": tomita.task_factory(k) for k in tomita.GRAMMARS},
    **{variant: mnist.task_factory(variant) for variant in mnist.VARIANTS},
    "adding": synthetic.ADDING,
    "copy": synthetic.COPY,
    "sine": synthetic.SINE,
    "mackey-glass": synthetic.MACKEY_GLASS,
    "multi30k": multi30k.FACTORY,
}


def task_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_task`.

    >>> task_names()[:3]
    ('tomita1', 'tomita2', 'tomita3')
    """
    return tuple(FACTORIES)


def task_factory(name: str) -> TaskFactory:
    """The factory of task ``name``: what is known of the task before its options are given.

    Raises:
        ValueError: for an unknown name, listing the valid ones.

    >>> task_factory("sine").inputs, task_factory("multi30k").seq2seq
    ('features', True)
    """
    if not isinstance(name, str) or name not in FACTORIES:
        raise ValueError(bad_value("task", name, f"one of {', '.join(FACTORIES)}"))
    return FACTORIES[name]


def task_options(name: str) -> tuple[str, ...]:
    """The option names :func:`get_task` accepts for task ``name``.

    >>> task_options("mackey-glass")
    ('length', 'tau')
    """
    return task_factory(name).options


def get_task(name: str, **options: Any) -> Task:
    """Look up a task by name, with its options.

    Options: ``per_length`` (Tomita strings per length), ``data_dir`` (mnist,
    pmnist, mnist14, pmnist14, multi30k), ``permutation_seed`` (pmnist), ``length``
    (adding, sine, mackey-glass), ``tau`` (mackey-glass), ``delay``,
    ``n_symbols``, ``copy_len`` (copy), ``vocab_size``, ``max_len`` (multi30k);
    :func:`task_options` lists them per task.

    Raises:
        ValueError: for an unknown task name or option, naming the valid ones.

    >>> get_task("copy", delay=50).options["delay"]
    50
    """
    factory = task_factory(name)
    unknown = sorted(set(options) - set(factory.options))
    if unknown:
        allowed = ", ".join(factory.options) or "none"
        raise ValueError(bad_value(f"options of task {name!r}", unknown, f"only: {allowed}"))
    if options.get("data_dir") is not None and not isinstance(options["data_dir"], str):
        options["data_dir"] = str(options["data_dir"])  # a Path, kept as text so options stay JSON
    return factory(**options)
