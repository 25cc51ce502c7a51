"""`eigenrnn study spectra`: train networks from standard inits and summarize their trained spectra."""

from __future__ import annotations

import argparse
from pathlib import Path

from eigenrnn.bench import backends
from eigenrnn.cli._lazy import LazyChoices
from eigenrnn.cli._threads import add_threads_option


def _profiles() -> tuple[str, ...]:
    from eigenrnn.study.spectra import STUDY_PROFILES

    return tuple(STUDY_PROFILES)


def register(sub) -> None:
    parser = sub.add_parser(
        "study",
        help="studies of trained networks (spectra of well-trained RNN/LSTM/GRU)",
        description="Studies that train many networks and summarize what they learned.",
    )
    studies = parser.add_subparsers(dest="study", metavar="STUDY")
    studies.required = True
    spectra = studies.add_parser(
        "spectra",
        help="eigenvalues of well-trained networks, classification vs regression",
        description="Train RNN (tanh), LSTM and GRU from PyTorch's and Xavier's initialization on "
        "classification (Tomita 3-6, mnist14, copy) and regression (adding, sine, Mackey-Glass) tasks "
        "with spectrum tracking, keep the runs that reach the stated thresholds, and write "
        "summary.json, summary.md and figures into OUT.  Reruns skip finished runs.",
    )
    spectra.add_argument("--profile", choices=LazyChoices(_profiles), metavar="PROFILE", default="cpu",
                         help="study profile: %(choices)s (default cpu)")
    spectra.add_argument("--out", type=Path, required=True)
    spectra.add_argument("--workers", type=int, default=None,
                         help="worker processes (default: number of cores); with --backend ray and no --address, "
                         "the CPUs of the local Ray instance")
    spectra.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    backends.add_arguments(spectra)
    add_threads_option(spectra, per=" per worker (local backend)")
    spectra.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eigenrnn.study.output import run_study

    with backends.from_args(args) as backend:
        result = run_study(args.profile, args.out, progress=not args.no_progress, backend=backend)
    runs = result["runs"]
    kept = sum(r["well_trained"] for r in runs)
    print(f"{len(runs)} runs finished, {kept} well-trained (kept in the summary)")
    print(f"{'type':<15} {'cell':<5} {'gate':<5} {'runs':>4} {'bulk |λ|':>9} {'max |λ|':>8} {'|λ|>1':>6} {'med arg':>8} {'real':>6}")
    for row in result["summary"]["groups"]:
        t = row["trained"]
        print(
            f"{row['task_type']:<15} {row['cell']:<5} {row['gate']:<5} {row['runs']:>4} {t['bulk_radius']:>9.3f} "
            f"{t['max_modulus']:>8.3f} {t['share_above_1']:>6.3f} {t['phase_median']:>8.3f} {t['real_fraction']:>6.3f}"
        )
    print(f"wrote {args.out / 'summary.md'}, {args.out / 'summary.json'} and {args.out / 'figures'}/")
    failed = result["meta"]["sweep"].get("failed", 0)
    return 1 if failed else 0
