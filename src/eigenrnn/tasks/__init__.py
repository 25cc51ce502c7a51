"""Data for the paper's tasks and the task registry.

Data modules: :mod:`~eigenrnn.tasks.tomita` (Tomita grammars 1-7),
:mod:`~eigenrnn.tasks.mnist` (pixel-by-pixel MNIST), :mod:`~eigenrnn.tasks.multi30k`
(German-English translation), :mod:`~eigenrnn.tasks.synthetic` (adding, copy,
sine mixture, Mackey-Glass).  :func:`get_task` wraps each as a
:class:`~eigenrnn.tasks.registry.Task` for the trainer.
"""

from __future__ import annotations

from eigenrnn.tasks.registry import Batch, SequenceDataset, Task, TaskData, get_task, task_names, task_options

__all__ = ["Batch", "SequenceDataset", "Task", "TaskData", "get_task", "task_names", "task_options"]
