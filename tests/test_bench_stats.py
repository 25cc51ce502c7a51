"""Aggregation, paired statistics and the report, on hand-made run directories with known numbers."""

from __future__ import annotations

import itertools
import json
import math
import statistics

import pytest
from scipy import stats as sps

from eigenrnn.bench import stats
from eigenrnn.bench.tables import write_report
from eigenrnn.cli import main
from eigenrnn.errors import EigenRNNError

# Tomita3, GRU, seven seeds: eigen - xavier = .04, .06, -.03, .005, .07, .08, .21 (distinct |d|).
EIGEN_GRU = [0.90, 0.95, 0.80, 1.00, 0.85, 0.97, 0.91]
XAVIER_GRU = [0.86, 0.89, 0.83, 0.995, 0.78, 0.89, 0.70]


def make_run(root, suite, task, cell, scheme, seed, value, *, metric="accuracy", higher=True,
             generalisation=None, steps_to_target=None, curve=(), diverged=False):
    run = root / suite / task / cell / scheme / f"seed{seed}"
    run.mkdir(parents=True)
    summary = {
        "task": task, "cell": cell, "init": scheme, "seed": seed,
        "status": "diverged" if diverged else "finished", "metric_name": metric,
        "higher_is_better": higher, "test_metric": None if diverged else value,
        "best_val_metric": value, "generalisation_metric": generalisation, "target": 1.0,
        "epochs_to_target": None if steps_to_target is None else steps_to_target // 10,
        "steps_to_target": steps_to_target, "epochs": 3, "steps": 30, "wall_time_s": 2.0,
        "diverged": diverged, "device": "cpu",
    }
    (run / "summary.json").write_text(json.dumps(summary))
    lines = [json.dumps({"epoch": e + 1, "step": 10 * (e + 1), "train_loss": 1.0, "val_metric": v})
             for e, v in enumerate(curve)]
    (run / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    for seed, (a, b) in enumerate(zip(EIGEN_GRU, XAVIER_GRU)):
        make_run(root, "tomita", "tomita3", "gru", "eigen", seed, a, generalisation=a - 0.1,
                 steps_to_target=100 + 10 * seed if seed < 4 else None, curve=(0.5, 0.7, a))
        make_run(root, "tomita", "tomita3", "gru", "xavier", seed, b, generalisation=b - 0.1,
                 steps_to_target=200, curve=(0.5, 0.6, b))
    # RNN: three seeds, eigen diverges on seed 2 -> 1 win, 2 losses, too few pairs for Wilcoxon.
    for seed, (a, b) in enumerate([(0.6, 0.5), (0.7, 0.75), (None, 0.6)]):
        make_run(root, "tomita", "tomita3", "rnn", "eigen", seed, a, diverged=a is None, curve=(0.5,))
        make_run(root, "tomita", "tomita3", "rnn", "xavier", seed, b, curve=(0.5,))
    # MSE (lower is better): eigen wins seed 0, loses seed 1, ties seed 2 (0.33% apart).
    for seed, (a, b) in enumerate([(0.010, 0.015), (0.020, 0.010), (0.030, 0.0301)]):
        make_run(root, "regression", "adding", "gru", "eigen", seed, a, metric="mse", higher=False)
        make_run(root, "regression", "adding", "gru", "xavier", seed, b, metric="mse", higher=False)
        make_run(root, "regression", "sine", "gru", "eigen", seed, 1e-4 * (seed + 1), metric="mse", higher=False)
        make_run(root, "regression", "sine", "gru", "xavier", seed, 2e-4 * (seed + 1), metric="mse", higher=False)
    failed = root / "tomita" / "tomita3" / "lstm" / "eigen" / "seed0"
    failed.mkdir(parents=True)
    (failed / "error.txt").write_text("Traceback ...\nRuntimeError: boom\n")
    (root / "bench.json").write_text(json.dumps({
        "profile": "smoke", "suites": {},
        "sessions": [{"suite": "all", "commit": "abc123", "dirty": False, "started": "t0",
                      "hardware": {"cpu": "Test CPU", "cores": 2, "torch": "2.x", "cuda": None}}],
    }))
    return root


def exact_wilcoxon_p(diffs):
    """Two-sided exact signed-rank p-value by enumerating all 2^n sign patterns (distinct |d|, no zeros)."""
    order = sorted(range(len(diffs)), key=lambda i: abs(diffs[i]))
    ranks = {i: r + 1 for r, i in enumerate(order)}
    w_plus = sum(ranks[i] for i, d in enumerate(diffs) if d > 0)
    total = len(diffs) * (len(diffs) + 1) // 2
    observed = min(w_plus, total - w_plus)
    count = 0
    for signs in itertools.product((0, 1), repeat=len(diffs)):
        w = sum(r for r, s in zip(range(1, len(diffs) + 1), signs) if s)
        count += min(w, total - w) <= observed
    return count / 2 ** len(diffs)


def test_summarize_matches_statistics_module():
    values = [0.3, 0.5, 0.9, 0.4]
    s = stats.summarize(values)
    assert s.n == 4
    assert s.mean == pytest.approx(statistics.fmean(values))
    assert s.std == pytest.approx(statistics.stdev(values))
    assert stats.summarize([]).n == 0 and str(stats.summarize([])) == "—"
    assert math.isnan(stats.summarize([2.0]).std) and str(stats.summarize([2.0])) == "2 (1)"


def test_paired_wins_ties_losses_and_exact_wilcoxon():
    pairs = list(zip(EIGEN_GRU, XAVIER_GRU))
    c = stats.paired_compare(pairs, higher_is_better=True, rtol=0.01)
    # seed 3 (1.00 vs 0.995) is within 1% -> tie; seed 2 is the only loss.
    assert (c.wins, c.ties, c.losses, c.n_pairs, c.n_finished) == (5, 1, 1, 7, 7)
    diffs = [a - b for a, b in pairs]
    assert exact_wilcoxon_p(diffs) == pytest.approx(6 / 128)  # W- = 2: subsets {}, {1}, {2}
    assert c.p_value == pytest.approx(exact_wilcoxon_p(diffs))
    assert c.p_value == pytest.approx(sps.wilcoxon(EIGEN_GRU, XAVIER_GRU).pvalue)  # no zero differences
    # A looser tolerance turns the small differences into ties; p-value unchanged.
    loose = stats.paired_compare(pairs, higher_is_better=True, rtol=0.05)
    assert (loose.wins, loose.ties, loose.losses) == (4, 3, 0)


def test_paired_lower_is_better_flips_and_divergence_and_small_n():
    pairs = [(0.010, 0.015), (0.020, 0.010), (0.030, 0.0301)]
    low = stats.paired_compare(pairs, higher_is_better=False)
    high = stats.paired_compare(pairs, higher_is_better=True)
    assert (low.wins, low.ties, low.losses) == (1, 1, 1)
    assert (high.wins, high.ties, high.losses) == (1, 1, 1)
    flipped = stats.paired_compare([(0.01, 0.02), (0.01, 0.03)], higher_is_better=False)
    assert (flipped.wins, flipped.losses) == (2, 0)
    assert (stats.paired_compare([(0.01, 0.02)], higher_is_better=True).losses) == 1
    c = stats.paired_compare([(None, 0.5), (0.5, None), (None, None)], higher_is_better=True)
    assert (c.wins, c.ties, c.losses, c.n_finished, c.p_value) == (1, 1, 1, 0, None)
    five = stats.paired_compare([(1.0 + i, 0.0) for i in range(5)], higher_is_better=True)
    assert five.p_value is None and str(five).endswith("n<6")
    six = stats.paired_compare([(1.0 + i, 0.0) for i in range(6)], higher_is_better=True)
    assert six.p_value == pytest.approx(2 / 64)  # all six positive: exact two-sided p
    same = stats.paired_compare([(0.5, 0.5)] * 6, higher_is_better=True)
    assert same.p_value == 1.0 and same.ties == 6
    # Identical results are kept as zero differences, not dropped (zsplit), so 5 ties
    # and 2 small wins are no evidence; dropping them would test 2 pairs only.
    tied = [(1.0, 1.0)] * 5 + [(0.9, 0.8), (0.8, 0.75)]
    c = stats.paired_compare(tied, higher_is_better=True)
    assert c.p_value == pytest.approx(sps.wilcoxon([a for a, _ in tied], [b for _, b in tied],
                                                   zero_method="zsplit").pvalue)
    assert c.p_value > 0.2


def test_mean_ranks(sweep):
    records, _ = stats.load_runs(sweep)
    ranks = stats.mean_ranks([r for r in records if r.suite == "regression"], "test_metric")
    # adding: eigen 1,2,1 ; sine: eigen always 1 (lower MSE) -> eigen mean rank 7/6.
    assert ranks[("eigen", "gru")].mean == pytest.approx(7 / 6)
    assert ranks[("xavier", "gru")].mean == pytest.approx(11 / 6)
    tomita_rnn = stats.mean_ranks([r for r in records if r.cell == "rnn"], "test_metric")
    # seed 0: eigen best; seed 1: xavier best; seed 2: eigen diverged -> worst.
    assert tomita_rnn[("eigen", "rnn")].mean == pytest.approx(5 / 3)


def test_load_runs_reads_summaries_and_failures(sweep):
    records, failed = stats.load_runs(sweep)
    assert len(records) == 14 + 6 + 12
    assert [p.name for p in failed] == ["seed0"] and failed[0].parent.name == "eigen"
    diverged = [r for r in records if r.diverged]
    assert len(diverged) == 1 and diverged[0].value("test_metric") is None


def test_report_numbers_tables_and_figures(sweep, tmp_path):
    out = write_report(sweep, tmp_path / "report")
    numbers = json.loads((out / "report.json").read_text())
    tomita = numbers["families"]["tomita"]
    task = tomita["per_task"]["tomita3"]
    cell = task["metrics"]["test_metric"]["table"]["eigen"]["gru"]
    assert cell["n"] == 7
    assert cell["mean"] == pytest.approx(statistics.fmean(EIGEN_GRU))
    assert cell["std"] == pytest.approx(statistics.stdev(EIGEN_GRU))
    paired = task["metrics"]["test_metric"]["paired"]["xavier"]["gru"]
    assert (paired["wins"], paired["ties"], paired["losses"]) == (5, 1, 1)
    assert paired["p_value"] == pytest.approx(exact_wilcoxon_p([a - b for a, b in zip(EIGEN_GRU, XAVIER_GRU)]))
    rnn = task["metrics"]["test_metric"]["paired"]["xavier"]["rnn"]
    assert (rnn["wins"], rnn["ties"], rnn["losses"], rnn["n_finished"], rnn["p_value"]) == (1, 0, 2, 2, None)
    gen = task["metrics"]["generalisation_metric"]["table"]["xavier"]["gru"]
    assert gen["mean"] == pytest.approx(statistics.fmean(XAVIER_GRU) - 0.1)
    steps = task["steps_to_target"]["eigen"]["gru"]
    assert (steps["reached"], steps["runs"]) == (4, 7) and steps["mean"] == pytest.approx(115.0)
    assert task["divergence"]["eigen"]["rnn"] == {"diverged": 1, "runs": 3}
    adding = numbers["families"]["regression"]["per_task"]["adding"]["metrics"]["test_metric"]["paired"]
    assert (adding["xavier"]["gru"]["wins"], adding["xavier"]["gru"]["ties"],
            adding["xavier"]["gru"]["losses"]) == (1, 1, 1)
    assert numbers["families"]["regression"]["family_statistic"].startswith("mean rank")
    assert numbers["failed_runs"] == ["tomita/tomita3/lstm/eigen/seed0"]

    md = (out / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| eigen |")]
    rnn_cell = str(stats.summarize([0.6, 0.7]))
    gru_cell = f"{statistics.fmean(EIGEN_GRU):.4g} ± {statistics.stdev(EIGEN_GRU):.2g} (7)"
    assert f"| eigen | {rnn_cell} | {gru_cell} |" in rows  # columns follow rnn, lstm, gru; no lstm run
    assert f"| xavier | 1/0/2, n<{stats.MIN_WILCOXON_PAIRS} | 5/1/1, p=0.0469 |" in md.splitlines()
    assert "abc123" in md and "Test CPU" in md and "smoke" in md
    for name in ("tomita3_curves.png", "tomita3_bars.png", "adding_bars.png", "sine_bars.png"):
        assert (out / "figures" / name).stat().st_size > 1000
        assert f"figures/{name}" in md


def test_report_cli_replaces_output_and_rejects_empty_dir(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert main(["report", str(sweep), "--out", str(out)]) == 2  # not a report: kept
    assert "not written by eigenrnn" in capsys.readouterr().err and (out / "stale.txt").read_text() == "old"
    (out / "stale.txt").unlink()
    assert main(["report", str(sweep), "--out", str(out)]) == 0  # an empty directory is taken
    (out / "stale.txt").write_text("old")
    assert main(["report", str(sweep), "--out", str(out)]) == 2  # its own earlier report: only with --force
    assert "pass --force" in capsys.readouterr().err
    assert main(["report", str(sweep), "--out", str(out), "--force"]) == 0
    assert (out / "report.md").exists() and not (out / "stale.txt").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "never")]) == 2
    assert "no finished runs" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
    with pytest.raises(EigenRNNError, match="no finished runs"):
        write_report(empty, tmp_path / "never")
