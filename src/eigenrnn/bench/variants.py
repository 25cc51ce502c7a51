"""Named initializer variants: a scheme plus its keyword arguments, under a short stable name.

A benchmark compares *variants*, not just schemes: ``eigen:horizon`` (the eigen
scheme with its timescale spectrum tied to the task's length),
``orthogonal+cal`` (orthogonal, then calibrated on training batches),
``xavier+chrono`` (Xavier weights with chrono gate biases).  A variant is

* a scheme of :func:`eigenrnn.init.schemes`;
* keyword arguments of :func:`eigenrnn.init.init_rnn`, where the value
  :data:`HORIZON` stands for the task's horizon ``T`` (its
  :attr:`~eigenrnn.tasks.registry.Task.horizon`, the longest training input)
  and is filled in when the grid is planned (:func:`horizon_times` for
  ``c T``, :class:`Timescales` for a timescale spectrum tied to ``T``);
* optionally a calibration ``"QUANTITY=TARGET"`` (``TrainConfig.calibrate``,
  run on training batches before the first step).

Names accepted by :func:`parse`:

* every scheme name (``xavier``: the scheme with no keyword arguments);
* the names of :data:`VARIANTS`, and those of the selection study's family
  grids (:data:`eigenrnn.selection.families.FAMILY_VARIANTS`, e.g. ``xavier:g0.5``);
* ad hoc, ``NAME{key=value,...}``: a scheme or a named variant with keyword
  arguments added or overridden; values are JSON (``2``, ``0.5``, ``true``,
  ``null``, ``"text"``, ``[1, 2]``) or else bare strings, e.g.
  ``xavier{gain=2}`` or ``eigen{preset=regression}``; the key ``calibrate``
  sets the calibration (``orthogonal{calibrate=gradient_decay=0.5}``).

The resolved keyword arguments go into the run's ``config.json``
(``init``, ``init_kwargs`` and ``calibrate``), so a run can be rebuilt from
its record alone; :func:`identify` gives the name back from such a config.

>>> v = parse("xavier{gain=2}")
>>> v.name, v.scheme, dict(v.init_kwargs)
('xavier{gain=2}', 'xavier', {'gain': 2})
>>> parse("eigen:horizon").resolve(196)["init_kwargs"]
{'horizon': 196}
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from eigenrnn.errors import bad_value, check_int


class _Horizon:
    """The placeholder for ``factor`` times the task's horizon ``T`` in a variant's keyword arguments."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = float(factor)

    def __repr__(self) -> str:
        return "HORIZON" if self.factor == 1.0 else f"{self.factor:g}*HORIZON"

    def of(self, horizon: int) -> int:
        """``round(factor * horizon)``, at least 2 (the smallest horizon init_rnn takes)."""
        return max(2, round(self.factor * horizon))


#: Stands for the task's horizon ``T`` in :attr:`Variant.init_kwargs`.
HORIZON = _Horizon()


def horizon_times(factor: float) -> _Horizon:
    """A placeholder for ``factor * T`` (rounded, at least 2), e.g. a chrono ``T_max`` of ``4 T``.

    >>> horizon_times(0.25).of(200)
    50
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not (0 < factor < float("inf")):
        raise ValueError(bad_value("factor", factor, "a finite number > 0"))
    return _Horizon(factor)


@dataclass(frozen=True)
class Timescales:
    """A placeholder for the dict of :meth:`eigenrnn.spectrum.Spectrum.timescales` at the task's horizon.

    ``tau_min`` and ``tau_max`` are numbers or :func:`horizon_times`
    placeholders, so that a variant can tie its time constants to ``T``
    (``Timescales(1.0, horizon_times(4))``: tau log-uniform on ``[1, 4T]``).

    >>> Timescales(1.0, HORIZON, max_phase=0.0, real_fraction=1.0).of(50)["distribution"]
    'timescale'
    """

    tau_min: Any
    tau_max: Any
    max_phase: float = 3.141592653589793
    real_fraction: float = 0.0

    def of(self, horizon: int) -> dict[str, Any]:
        from eigenrnn.spectrum import Spectrum

        tau = tuple(float(_fill(t, horizon)) for t in (self.tau_min, self.tau_max))
        return Spectrum.timescales(tau, max_phase=self.max_phase, real_fraction=self.real_fraction).to_dict()

    def __repr__(self) -> str:
        return f"timescales(tau=[{self.tau_min!r}, {self.tau_max!r}], max_phase={self.max_phase:.3g}, real={self.real_fraction:g})"


def _fill(value: Any, horizon: int) -> Any:
    """``value`` with every placeholder (:data:`HORIZON`, :class:`Timescales`) resolved at ``horizon``."""
    if isinstance(value, (_Horizon, Timescales)):
        return value.of(horizon)
    if isinstance(value, Mapping):
        return {key: _fill(item, horizon) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fill(item, horizon) for item in value]
    return value

#: The calibration the ``+cal`` variants run: the time- and batch-averaged
#: state Jacobian's spectral radius set to 1 (the edge of stability on the data).
CALIBRATE = "jacobian_radius=1.0"


def _init_rnn_takes(name: str) -> Callable[[], bool]:
    def check() -> bool:
        from eigenrnn.init import init_rnn

        return name in inspect.signature(init_rnn).parameters

    return check


def _calibration_available() -> bool:
    import eigenrnn.init
    from eigenrnn.train import TrainConfig

    return hasattr(eigenrnn.init, "calibrate_") and "calibrate" in TrainConfig.field_names()


#: What a variant may need from the library, and how to tell whether this version has it.
FEATURES: dict[str, Callable[[], bool]] = {
    "init_rnn(horizon=...)": _init_rnn_takes("horizon"),
    "calibrate_ and TrainConfig.calibrate": _calibration_available,
}


@dataclass(frozen=True)
class Variant:
    """A scheme with keyword arguments under a stable name (see the module docstring).

    Attributes:
        name: the name :func:`parse` accepts and the benchmark uses as the
            run directory and the report's row.
        scheme: a scheme of :func:`eigenrnn.init.schemes`.
        init_kwargs: keyword arguments of :func:`eigenrnn.init.init_rnn`
            (JSON values; :data:`HORIZON` for the task's horizon).
        calibrate: ``"QUANTITY=TARGET"`` for ``TrainConfig.calibrate``, or None.
        cells: the cells the variant applies to (None: every cell); the
            benchmark reports the others as not run.
        needs: names of :data:`FEATURES` the variant requires.
        description: one line for the docs and error messages.
    """

    name: str
    scheme: str
    init_kwargs: Mapping[str, Any] = field(default_factory=dict)
    calibrate: str | None = None
    cells: tuple[str, ...] | None = None
    needs: tuple[str, ...] = ()
    description: str = ""

    @property
    def supported(self) -> bool:
        """Whether this version of eigenrnn has everything :attr:`needs` lists."""
        return all(FEATURES[feature]() for feature in self.needs)

    def check_supported(self) -> None:
        """Raise ValueError naming the missing features if the variant cannot run here."""
        missing = [feature for feature in self.needs if not FEATURES[feature]()]
        if missing:
            raise ValueError(bad_value("variant", self.name,
                                       f"a variant this eigenrnn supports (it lacks {', '.join(missing)})"))

    def applies_to(self, cell: str) -> bool:
        return self.cells is None or cell in self.cells

    def resolve(self, horizon: int) -> dict[str, Any]:
        """The TrainConfig fields of this variant for a task of horizon ``horizon``.

        Returns:
            ``{"init": scheme, "init_kwargs": {...}}`` with every
            :data:`HORIZON` replaced by ``horizon``, plus ``"calibrate"`` when
            the variant calibrates (the key is absent otherwise, so that the
            config of a plain scheme is what it always was).
        """
        check_int("horizon", horizon, allowed="a positive int (the task's sequence length)")
        kwargs = {key: _fill(value, horizon) for key, value in self.init_kwargs.items()}
        fields: dict[str, Any] = {"init": self.scheme, "init_kwargs": kwargs}
        if self.calibrate is not None:
            fields["calibrate"] = self.calibrate
        return fields


def _variant(name: str, scheme: str, description: str, **fields: Any) -> Variant:
    needs = list(fields.pop("needs", ()))
    if any(isinstance(value, _Horizon) for value in fields.get("init_kwargs", {}).values()):
        needs.append("init_rnn(horizon=...)")
    if fields.get("calibrate") is not None:
        needs.append("calibrate_ and TrainConfig.calibrate")
    return Variant(name, scheme, description=description, needs=tuple(dict.fromkeys(needs)), **fields)


_GATED = ("lstm", "gru")

#: The named variants, in the order the report lists them (after the plain schemes).
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    _variant("eigen:regression", "eigen", "eigen with the preset measured on trained regression networks",
             init_kwargs={"preset": "regression"}),
    _variant("eigen:horizon", "eigen", "eigen with time constants log-uniform up to the task's horizon T",
             init_kwargs={"horizon": HORIZON}),
    _variant("eigen+cal", "eigen", f"eigen (default preset), then calibrated to {CALIBRATE}",
             calibrate=CALIBRATE),
    _variant("eigen:horizon+cal", "eigen", f"eigen:horizon, then calibrated to {CALIBRATE}",
             init_kwargs={"horizon": HORIZON}, calibrate=CALIBRATE),
    _variant("orthogonal+cal", "orthogonal", f"orthogonal, then calibrated to {CALIBRATE}", calibrate=CALIBRATE),
    _variant("xavier+cal", "xavier", f"Xavier, then calibrated to {CALIBRATE}", calibrate=CALIBRATE),
    _variant("xavier+chrono", "xavier", "Xavier weights, chrono gate biases for T_max = the task's horizon "
             "(Tallec & Ollivier 2018); LSTM and GRU only",
             init_kwargs={"bias": "chrono", "horizon": HORIZON}, cells=_GATED),
)}

_ADHOC = re.compile(r"^(?P<base>[^{}]+)\{(?P<args>.*)\}$")
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:+=\-]*$")


def names() -> tuple[str, ...]:
    """Every name :func:`parse` knows without braces: the schemes, then :data:`VARIANTS`.

    >>> names()[:2], "orthogonal+cal" in names()
    (('pytorch', 'xavier'), True)
    """
    from eigenrnn.init import schemes

    return (*schemes(), *VARIANTS)


def parse(name: str) -> Variant:
    """The :class:`Variant` called ``name`` (a scheme, a name of :data:`VARIANTS`, or ad hoc ``NAME{k=v,...}``).

    An ad-hoc name is returned in a canonical spelling (keys sorted, values as
    JSON), so ``xavier{ gain = 2.0 }`` and ``xavier{gain=2.0}`` share one run directory.

    Raises:
        ValueError: an unknown name (listing the known ones), a malformed
            ``{...}`` part, or a keyword argument the scheme does not take.

    >>> parse("orthogonal+cal").calibrate
    'jacobian_radius=1.0'
    >>> parse("eigen{preset=regression,nonnormality=0.5}").name
    'eigen{nonnormality=0.5,preset=regression}'
    """
    if not isinstance(name, str):
        raise ValueError(bad_value("variant", name, "a scheme or variant name (a string)"))
    return _parse(name.strip())


@functools.lru_cache(maxsize=None)
def _parse(text: str) -> Variant:
    # Cached: the benchmark parses every run's name, and an ad-hoc one costs a probe of init_rnn.
    match = _ADHOC.match(text)
    base = match["base"].strip() if match else text
    known, named = names(), _named()
    if base not in known and base not in named:
        raise ValueError(bad_value("inits", base, f"one of {', '.join(known)}, a name of "
                                   "eigenrnn.selection.families, or NAME{key=value,...}"))
    variant = named[base] if base in named else Variant(base, base)
    if match is None:
        return variant
    extra = _parse_kwargs(match["args"], text)
    if not extra:
        return variant
    calibrate = extra.pop("calibrate", variant.calibrate)
    if calibrate is not None and not isinstance(calibrate, str):
        raise ValueError(bad_value("variant calibrate", calibrate, "QUANTITY=TARGET, e.g. jacobian_radius=1.0"))
    needs = list(variant.needs)
    if calibrate is not None:
        needs.append("calibrate_ and TrainConfig.calibrate")
        if _calibration_available():
            from eigenrnn.calibration import parse_calibrate

            try:  # refused here, not later in every run of the sweep
                parse_calibrate(calibrate)
            except ValueError as exc:
                raise ValueError(bad_value("variant", text, f"a valid calibrate ({exc})")) from None
    named = {**extra, **({} if calibrate == variant.calibrate else {"calibrate": calibrate})}
    canonical = canonical_name(base, named)
    adhoc = Variant(canonical, variant.scheme, {**variant.init_kwargs, **extra}, calibrate,
                    variant.cells, tuple(dict.fromkeys(needs)), f"{base} with {canonical[len(base):]}")
    _probe(adhoc)
    return adhoc


def _named() -> dict[str, Variant]:
    """Every named variant: :data:`VARIANTS`, then the selection study's family grids.

    The family grids (:data:`eigenrnn.selection.families.FAMILY_VARIANTS`) are
    kept out of :func:`names` so that error messages and the docs' table stay short.
    """
    from eigenrnn.selection.families import FAMILY_VARIANTS

    return {**VARIANTS, **FAMILY_VARIANTS}


def canonical_name(base: str, kwargs: Mapping[str, Any]) -> str:
    """The ad-hoc name ``base{k=v,...}`` for keyword arguments (keys sorted, values JSON or bare).

    >>> canonical_name("xavier", {"gain": 2.0})
    'xavier{gain=2.0}'
    """
    if not kwargs:
        return base
    return base + "{" + ",".join(f"{key}={_format_value(kwargs[key])}" for key in sorted(kwargs)) + "}"


def split(value: str, argument: str = "--inits") -> list[str]:
    """Split a comma-separated list of names, keeping the commas inside ``{...}`` and ``[...]``.

    >>> split("xavier,eigen{preset=regression,nonnormality=0.5},orthogonal+cal")
    ['xavier', 'eigen{preset=regression,nonnormality=0.5}', 'orthogonal+cal']
    """
    parts, depth, current = [], 0, []
    for char in value:
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth < 0:
                raise ValueError(bad_value(argument, value, "balanced braces in NAME{key=value,...}"))
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise ValueError(bad_value(argument, value, "balanced braces in NAME{key=value,...}"))
    parts.append("".join(current))
    names_ = [p.strip() for p in parts if p.strip()]
    if not names_:
        raise ValueError(bad_value(argument, value, "a comma-separated list of names"))
    return names_


def identify(config: Any) -> str:
    """The variant name of a run's config (a TrainConfig or its dict), inverse of planning.

    Looks for the plain scheme or the name of :data:`VARIANTS` whose
    resolution for the config's task gives exactly its ``init``,
    ``init_kwargs`` and ``calibrate``; failing that, returns the canonical
    ad-hoc name ``scheme{...}`` of its keyword arguments (and ``calibrate``).  Either way
    ``parse(identify(c)).resolve(horizon)`` rebuilds the same init call.
    """
    from eigenrnn.tasks import get_task

    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    wanted = {"init": data["init"], "init_kwargs": dict(data.get("init_kwargs") or {})}
    if data.get("calibrate") is not None:
        wanted["calibrate"] = data["calibrate"]
    horizon = get_task(data["task"], **dict(data.get("task_options") or {})).horizon
    for name in (wanted["init"], *VARIANTS):
        variant = parse(name)
        if variant.scheme == wanted["init"] and variant.resolve(horizon) == wanted:
            return variant.name
    extra = dict(wanted["init_kwargs"])
    if "calibrate" in wanted:
        extra["calibrate"] = wanted["calibrate"]
    return canonical_name(wanted["init"], extra)


def markdown() -> str:
    """The table of :data:`VARIANTS` for the docs."""
    lines = ["| name | scheme | init_rnn keyword arguments | calibrate | cells | what |",
             "| --- | --- | --- | --- | --- | --- |"]
    for v in VARIANTS.values():
        kwargs = ", ".join(f"{k}={'T' if val is HORIZON else json.dumps(val, default=repr)}" for k, val in v.init_kwargs.items())
        lines.append(f"| `{v.name}` | {v.scheme} | {kwargs or '—'} | {v.calibrate or '—'} | "
                     f"{', '.join(v.cells) if v.cells else 'all'} | {v.description} |")
    return "\n".join(lines) + "\n"


def _parse_kwargs(args: str, text: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for item in split(args, "variant") if args.strip() else []:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key.isidentifier() or not raw:
            raise ValueError(bad_value("variant", text, "NAME{key=value,...} with identifier keys and values"))
        if key in kwargs:
            raise ValueError(bad_value("variant", text, f"each key once (got {key!r} twice)"))
        try:
            kwargs[key] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key] = raw
    return kwargs


def _format_value(value: Any) -> str:
    if isinstance(value, str) and _BARE.match(value) and value not in ("true", "false", "null"):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _probe(variant: Variant) -> None:
    """Refuse keyword arguments ``init_rnn`` does not take, by one call on a tiny module.

    Only a TypeError (an unknown keyword) is an error here; a ValueError may
    depend on the model's size or cell and is left to
    :func:`eigenrnn.bench.runner.inapplicable`.
    """
    import torch

    from eigenrnn.init import init_rnn
    from eigenrnn.rnn import CLASSES
    from eigenrnn.train.build import decode_init_kwargs

    if not variant.supported:
        return  # check_supported() says what is missing when the grid is planned
    cell = (variant.cells or ("gru",))[0]
    module = CLASSES[cell](1, 4)
    kwargs = decode_init_kwargs(variant.resolve(8)["init_kwargs"])
    try:
        init_rnn(module, variant.scheme, generator=torch.Generator().manual_seed(0), **kwargs)
    except TypeError as exc:
        raise ValueError(bad_value("variant", variant.name, f"keyword arguments that init_rnn takes ({exc})")) from None
    except ValueError:
        pass
