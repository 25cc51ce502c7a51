"""`eigenrnn report`: tables, paired statistics and figures from a benchmark directory."""

from __future__ import annotations

from eigenrnn.bench import stats
from eigenrnn.bench.tables import REFERENCE, write_report
from eigenrnn.errors import bad_value


def register(sub) -> None:
    parser = sub.add_parser(
        "report",
        help="summarise a benchmark directory as markdown, JSON and figures",
        description=(
            "Read every run of an `eigenrnn bench` directory and write OUT/report.md "
            "(mean ± std (n) per init and cell, steps to target, divergences, eigen vs "
            "each baseline over the same seeds with a Wilcoxon signed-rank test), "
            "OUT/report.json and OUT/figures/*.png."
        ),
    )
    parser.add_argument("dir", help="the --out directory of `eigenrnn bench`")
    parser.add_argument("--out", required=True, help="report directory: new or empty, or an earlier report with --force")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier `eigenrnn report` output at --out (default: refuse it)")
    parser.add_argument("--reference", default=REFERENCE,
                        help=f"init (scheme or variant) paired against every other, e.g. eigen:horizon+cal "
                        f"(default {REFERENCE})")
    parser.add_argument("--tie-rtol", type=float, default=stats.TIE_RTOL,
                        help=f"relative difference counted as a tie (default {stats.TIE_RTOL})")
    parser.set_defaults(func=run)


def run(args) -> int:
    if not 0 <= args.tie_rtol < 1:
        raise ValueError(bad_value("--tie-rtol", args.tie_rtol, "a number in [0, 1)"))
    out = write_report(args.dir, args.out, rtol=args.tie_rtol, reference=args.reference, overwrite=args.force)
    print(f"report: {out / 'report.md'}")
    return 0
