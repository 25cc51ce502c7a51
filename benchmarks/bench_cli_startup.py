"""Start-up time of the ``eigenrnn`` command: median wall time of ``--help`` calls.

Runs each command ``--repeats`` times in a fresh interpreter (interleaved, so a
busy machine slows every command alike) and prints the median and the ratio to
the 1 s target, plus whether the process imported torch.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cli_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = (
    ("eigenrnn --help", ["-m", "eigenrnn.cli", "--help"]),
    ("eigenrnn train --help", ["-m", "eigenrnn.cli", "train", "--help"]),
    ("eigenrnn bench --help", ["-m", "eigenrnn.cli", "bench", "--help"]),
)
TARGET_S = 1.0
# Whether torch got imported, from a child that builds the parser like `eigenrnn --help` does.
_PROBE = "import sys; from eigenrnn.cli import build_parser; build_parser(); print('torch' in sys.modules)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="calls per command (default 5)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run (default: this one)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: got {args.repeats}; expected a positive int")
    times: dict[str, list[float]] = {name: [] for name, _ in COMMANDS}
    for _ in range(args.repeats):
        for name, command in COMMANDS:
            start = time.perf_counter()
            subprocess.run([args.python, *command], check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    probe = subprocess.run([args.python, "-c", _PROBE], check=True, capture_output=True, text=True).stdout.strip()
    print(f"{args.python}, {args.repeats} calls each; building the parser imports torch: {probe}")
    print(f"{'command':<26}{'median s':>10}{'min s':>8}{'x target':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<26}{median:>10.3f}{min(values):>8.3f}{median / TARGET_S:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
