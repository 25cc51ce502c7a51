"""The initializer families of the selection study and their K configurations each.

Every family gets the same number :data:`K` of configurations (docs/SELECTION.md
gives the reasons for each grid).  A configuration is a
:class:`eigenrnn.bench.variants.Variant`: a scheme plus its keyword arguments,
under a stable name that :func:`eigenrnn.bench.variants.parse` accepts, so the
benchmark runs it like any other variant and each run's ``config.json`` holds
everything to rebuild it.  The names of :data:`FAMILY_VARIANTS` are the
configurations that are not already a plain scheme or a variant of
:data:`eigenrnn.bench.variants.VARIANTS`.

* The recurrent matrix is separated from the input weights: every
  configuration uses Xavier-uniform input weights (``input_scheme="xavier"``,
  what init_rnn gives every recurrent-only scheme, and Xavier itself), so the
  Kaiming grid sets ``input_scheme="xavier"`` explicitly.  The input scale is
  a factor of its own, :data:`INPUT_LEVELS`, probed on each family's textbook
  configuration (:func:`input_probe`).
* Calibration is offered to every family whose matrix it can act on: one of
  the K slots is the textbook configuration calibrated to
  :data:`eigenrnn.bench.variants.CALIBRATE`.  The chain's matrix is nilpotent
  (every eigenvalue 0), so rescaling eigenvalue moduli cannot change it; its
  slot holds a sixth alpha instead.
* The chrono family (gated cells only) is Xavier weights with chrono biases of
  ``T_max = c T`` for a grid of ``c``.

>>> [len(configs(f)) for f in FAMILIES] == [K] * len(FAMILIES)
True
>>> configs("xavier")[2], textbook("kaiming")
('xavier', 'kaiming:g1.41')
"""

from __future__ import annotations

import math

from eigenrnn.bench.variants import CALIBRATE, HORIZON, Timescales, Variant, horizon_times

#: Configurations per family.
K = 6

#: The families, in the order of the report (and of the last tie-break of :func:`eigenrnn.selection.rule.select`).
FAMILIES = ("xavier", "kaiming", "orthogonal", "irnn", "sp", "chain", "chrono", "eigen")

#: Families that apply to gated cells only.
GATED_ONLY = ("chrono",)

#: The gains of the Xavier, Kaiming and orthogonal grids (recurrent matrix only).
#: ``sqrt(2)`` is Kaiming's textbook gain, 1 Xavier's and orthogonal's.
GAINS = (0.5, 0.75, 1.0, 1.25, math.sqrt(2.0))
#: IRNN identity scales (textbook 1) and sp radii (textbook 1).
SCALES = (0.5, 0.8, 0.9, 0.95, 1.0)
#: Chain alphas (textbook 1.02, Orhan & Pitkow 2019).
ALPHAS = (0.5, 0.8, 1.0, 1.02, 1.1, 1.25)
#: Chrono ``T_max`` as multiples of the task's horizon ``T`` (textbook 1).
CHRONO_FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0)

#: The input-weight levels of the input-scale factor: Xavier-uniform (std
#: ``sqrt(2 / (D + H))``, ~0.17 for D = 1, H = 64) and Kaiming-normal (std
#: ``sqrt(2 / D)``, ~1.41 for D = 1).  The first is the common level of every grid.
INPUT_LEVELS = ("xavier", "kaiming")

_GATED = ("lstm", "gru")
_FEATURE_HORIZON = "init_rnn(horizon=...)"
_FEATURE_CAL = "calibrate_ and TrainConfig.calibrate"


def _g(value: float) -> str:
    return f"{value:.3g}" if value != math.sqrt(2.0) else "1.41"


def _kaiming_a(gain: float) -> float:
    """The leaky-ReLU slope ``a`` for which ``torch.nn.init.calculate_gain`` gives ``gain = sqrt(2 / (1 + a^2))``."""
    return math.sqrt(max(2.0 / gain**2 - 1.0, 0.0))


def _v(name, scheme, description, *, init_kwargs=None, calibrate=None, cells=None, needs=()):
    needs = list(needs)
    if calibrate is not None:
        needs.append(_FEATURE_CAL)
    return Variant(name, scheme, dict(init_kwargs or {}), calibrate, cells, tuple(dict.fromkeys(needs)), description)


def _build() -> tuple[dict[str, tuple[str, ...]], dict[str, str], dict[str, Variant]]:
    grids: dict[str, list[str]] = {f: [] for f in FAMILIES}
    textbook: dict[str, str] = {}
    named: dict[str, Variant] = {}

    def add(family: str, variant: Variant | str, *, is_textbook: bool = False) -> None:
        name = variant if isinstance(variant, str) else variant.name
        if not isinstance(variant, str):
            named[name] = variant
        grids[family].append(name)
        if is_textbook:
            textbook[family] = name

    for family in ("xavier", "orthogonal"):
        for gain in GAINS:
            if gain == 1.0:
                add(family, family, is_textbook=True)
            else:
                add(family, _v(f"{family}:g{_g(gain)}", family, f"{family}, recurrent gain {gain:.4g}",
                               init_kwargs={"gain": gain}))
    for gain in GAINS:
        # Xavier input weights, so that the grid differs from the others in W_hh alone.
        add("kaiming", _v(f"kaiming:g{_g(gain)}", "kaiming",
                          f"Kaiming-normal W_hh of gain {gain:.4g} (leaky-ReLU slope a), Xavier input weights",
                          init_kwargs={"a": _kaiming_a(gain), "input_scheme": "xavier"}),
            is_textbook=gain == math.sqrt(2.0))
    for family, key in (("irnn", "gain"), ("sp", "radius")):
        for scale in SCALES:
            if scale == 1.0:
                add(family, family, is_textbook=True)
            else:
                add(family, _v(f"{family}:s{scale:g}", family, f"{family} with {key} {scale:g}",
                               init_kwargs={key: scale}))
    for alpha in ALPHAS:
        if alpha == 1.02:
            add("chain", "chain", is_textbook=True)
        else:
            add("chain", _v(f"chain:a{alpha:g}", "chain", f"chain with alpha {alpha:g}", init_kwargs={"alpha": alpha}))
    for factor in CHRONO_FACTORS:
        if factor == 1.0:
            add("chrono", "xavier+chrono", is_textbook=True)
        else:
            add("chrono", _v(f"chrono:T{factor:g}", "xavier",
                             f"Xavier weights, chrono biases with T_max = {factor:g} T; LSTM and GRU only",
                             init_kwargs={"bias": "chrono", "horizon": horizon_times(factor)},
                             cells=_GATED, needs=(_FEATURE_HORIZON,)))
    eigen = [
        "eigen",
        "eigen:horizon",
        _v("eigen:tau4T", "eigen", "eigen, time constants log-uniform on [1, 4T] with the preset's phase law",
           init_kwargs={"horizon": horizon_times(4.0)}, needs=(_FEATURE_HORIZON,)),
        _v("eigen:slow-real", "eigen", "eigen, real positive eigenvalues (phase 0) with tau log-uniform on [1, T]",
           init_kwargs={"spectrum": Timescales(1.0, HORIZON, max_phase=0.0, real_fraction=1.0)}),
        _v("eigen:unit-mix", "eigen", "eigen, 25% of the modes on the unit circle (all phases), "
           "75% with tau log-uniform on [1, T] (all phases)",
           init_kwargs={"spectrum": {"mixture": [
               {"share": 0.25, "spectrum": {"radius": [1.0, 1.0], "distribution": "uniform",
                                            "max_phase": math.pi, "real_fraction": 0.0}},
               {"share": 0.75, "spectrum": Timescales(1.0, HORIZON)}]}}),
        "eigen:horizon+cal",
    ]
    for item in eigen:
        add("eigen", item, is_textbook=item == "eigen")
    for family, base in (("xavier", "xavier+cal"), ("orthogonal", "orthogonal+cal")):
        add(family, base)
    add("kaiming", _v("kaiming:g1.41+cal", "kaiming", f"kaiming:g1.41, then calibrated to {CALIBRATE}",
                      init_kwargs={"a": 0.0, "input_scheme": "xavier"}, calibrate=CALIBRATE))
    for family in ("irnn", "sp"):
        add(family, _v(f"{family}+cal", family, f"{family}, then calibrated to {CALIBRATE}", calibrate=CALIBRATE))
    add("chrono", _v("xavier+chrono+cal", "xavier", f"xavier+chrono, then calibrated to {CALIBRATE}",
                     init_kwargs={"bias": "chrono", "horizon": HORIZON}, calibrate=CALIBRATE,
                     cells=_GATED, needs=(_FEATURE_HORIZON,)))
    return {f: tuple(v) for f, v in grids.items()}, textbook, named


_GRIDS, _TEXTBOOK, FAMILY_VARIANTS = _build()


def configs(family: str) -> tuple[str, ...]:
    """The :data:`K` configuration names of ``family`` (its textbook one included)."""
    _check_family(family)
    return _GRIDS[family]


def textbook(family: str) -> str:
    """The configuration of ``family``'s grid at its textbook setting (common input weights)."""
    _check_family(family)
    return _TEXTBOOK[family]


#: Each family's textbook configuration as published, input weights included
#: (Kaiming's own input weights): the "textbook baseline" of the held-out tables.
PUBLISHED = {family: ("kaiming" if family == "kaiming" else _TEXTBOOK[family]) for family in FAMILIES}


def families_for(cell: str) -> tuple[str, ...]:
    """The families that apply to ``cell`` (chrono needs a gated cell)."""
    return tuple(f for f in FAMILIES if cell in _GATED or f not in GATED_ONLY)


def with_inputs(name: str, level: str) -> str:
    """``name`` with input weights of ``level`` (:data:`INPUT_LEVELS`), as an ad-hoc variant name.

    >>> with_inputs("xavier", "xavier"), with_inputs("irnn:s0.9", "kaiming")
    ('xavier', 'irnn:s0.9{input_scheme=kaiming}')
    >>> with_inputs("kaiming:g1.41", "kaiming")
    'kaiming'
    """
    from eigenrnn.bench.variants import parse

    if level not in INPUT_LEVELS:
        from eigenrnn.errors import bad_value

        raise ValueError(bad_value("input level", level, f"one of {', '.join(INPUT_LEVELS)}"))
    if level == INPUT_LEVELS[0]:
        return name
    if name == _TEXTBOOK["kaiming"]:
        return "kaiming"  # gain sqrt(2) with Kaiming input weights is textbook Kaiming itself
    return parse(f"{name}{{input_scheme={level}}}").name


def input_probe(family: str) -> str:
    """The textbook configuration of ``family`` with the second input level (Kaiming-normal input weights)."""
    return with_inputs(textbook(family), INPUT_LEVELS[1])


def family_of(name: str) -> str | None:
    """The family whose grid (or input probe) holds configuration ``name``, or None."""
    for family in FAMILIES:
        if name in _GRIDS[family] or name == input_probe(family):
            return family
    return None


def markdown() -> str:
    """The family grids as a markdown table (docs/SELECTION.md)."""
    from eigenrnn.bench.variants import parse

    lines = ["| family | configuration | scheme | init_rnn keyword arguments | calibrate | textbook |",
             "| --- | --- | --- | --- | --- | --- |"]
    for family in FAMILIES:
        for name in _GRIDS[family]:
            v = parse(name)
            kwargs = ", ".join(f"{k}={_short(val)}" for k, val in v.init_kwargs.items()) or "—"
            lines.append(f"| {family} | `{name}` | {v.scheme} | {kwargs} | {v.calibrate or '—'} | "
                         f"{'yes' if name == _TEXTBOOK[family] else ''} |")
    return "\n".join(lines) + "\n"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and "mixture" in value:
        return "mixture(" + ", ".join(f"{c['share']:g}: {_short(c['spectrum'])}" for c in value["mixture"]) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return repr(value) if not isinstance(value, str) else value


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        from eigenrnn.errors import bad_value

        raise ValueError(bad_value("family", family, f"one of {', '.join(FAMILIES)}"))
