"""Entry point of the selection study's post-hoc tallies; they are documented in :mod:`eigenrnn.selection.posthoc`.

    .venv/bin/python scripts/selection_posthoc.py results/selection/heldout.json
    .venv/bin/python scripts/selection_posthoc.py results/selection/heldout.json --against mackey-glass lstm eigen
"""

import sys

from eigenrnn.selection.posthoc import main

if __name__ == "__main__":
    sys.exit(main())
