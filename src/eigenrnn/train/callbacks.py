"""Training callbacks: objects with any of four optional hook methods.

``on_train_start(trainer)``, ``on_step_end(trainer, step)``,
``on_epoch_end(trainer, epoch, metrics)`` and ``on_train_end(trainer)``, where
``trainer`` exposes ``.model``, ``.config``, ``.run_dir``, ``.step`` (optimizer
steps taken) and ``.epoch`` (epochs completed).  ``on_train_end`` runs after
the test evaluation and before ``summary.json`` is written, with
``trainer.model`` holding the final (not the best) weights.
:class:`eigenrnn.analysis.SpectrumTracker` is such a callback.

>>> class PrintLoss(Callback):
...     def on_epoch_end(self, trainer, epoch, metrics):
...         print(epoch, metrics["train_loss"])
"""

from __future__ import annotations

from typing import Any, Iterable

HOOKS = ("on_train_start", "on_step_end", "on_epoch_end", "on_train_end")


class Callback:
    """Base class with no-op hooks (subclassing it is optional: any object with some hooks works)."""

    def on_train_start(self, trainer: Any) -> None:
        pass

    def on_step_end(self, trainer: Any, step: int) -> None:
        pass

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        pass


class CallbackList:
    """Dispatch each hook to the callbacks that define it, in order.

    Hooks are looked up once, so a step with no ``on_step_end`` callback costs
    nothing.
    """

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
                raise TypeError(f"callback {cb!r}: got an object with none of the hooks {', '.join(HOOKS)}")
        self._hooks = {hook: [getattr(cb, hook) for cb in self.callbacks if callable(getattr(cb, hook, None))] for hook in HOOKS}

    def append(self, callback: Any) -> None:
        self.__init__([*self.callbacks, callback])

    def on_train_start(self, trainer: Any) -> None:
        for fn in self._hooks["on_train_start"]:
            fn(trainer)

    def on_step_end(self, trainer: Any, step: int) -> None:
        for fn in self._hooks["on_step_end"]:
            fn(trainer, step)

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        for fn in self._hooks["on_epoch_end"]:
            fn(trainer, epoch, metrics)

    def on_train_end(self, trainer: Any) -> None:
        for fn in self._hooks["on_train_end"]:
            fn(trainer)
