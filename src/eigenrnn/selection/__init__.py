"""The initializer selection study (docs/SELECTION.md): families, suites, and the selection rule.

* :mod:`eigenrnn.selection.families` -- every family's K configurations, as benchmark variants.
* :mod:`eigenrnn.selection.suites` -- the instrument, development and held-out grids (smoke and cpu profiles).
* :mod:`eigenrnn.selection.rule` -- collapse detection, the instrument and selection rules, Holm's correction.
"""
