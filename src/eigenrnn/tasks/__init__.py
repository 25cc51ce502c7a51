"""Data for the paper's tasks and the task registry.

Data modules, each ending with its task adapter: :mod:`~eigenrnn.tasks.tomita`
(Tomita grammars 1-7), :mod:`~eigenrnn.tasks.mnist` (pixel-by-pixel MNIST; files
in :mod:`~eigenrnn.tasks.mnist_source`), :mod:`~eigenrnn.tasks.multi30k`
(German-English translation), :mod:`~eigenrnn.tasks.synthetic` (adding, copy,
sine mixture, Mackey-Glass).  :mod:`~eigenrnn.tasks.base` says what an adapter
provides (a :class:`~eigenrnn.tasks.base.Task` and its factory);
:func:`get_task` finds a task by name in :mod:`~eigenrnn.tasks.registry`.
"""

from __future__ import annotations

from eigenrnn.tasks.base import DATA_SPLITS, TASK_SPLITS, Batch, SequenceDataset, Task, TaskData, TaskFactory
from eigenrnn.tasks.registry import get_task, task_factory, task_names, task_options

__all__ = [
    "DATA_SPLITS", "TASK_SPLITS", "Batch", "SequenceDataset", "Task", "TaskData", "TaskFactory",
    "get_task", "task_factory", "task_names", "task_options",
]
