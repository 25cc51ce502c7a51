"""Lazy public names for a package (PEP 562), shared by ``eigenrnn``, ``eigenrnn.bench`` and ``eigenrnn.train``.

Plain Python on purpose: the packages use it so that importing them (and
``eigenrnn --help``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_getattr(package: str, names: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[name]`` on first access and caches the value in ``namespace``.

    Args:
        package: the package's ``__name__``, for the error message.
        names: public name -> module that defines it.
        namespace: the package's ``globals()``; later accesses find the value there.

    >>> ns = {}
    >>> getattr_ = lazy_getattr("pkg", {"sqrt": "math"}, ns)
    >>> getattr_("sqrt")(4.0), "sqrt" in ns
    (2.0, True)
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
