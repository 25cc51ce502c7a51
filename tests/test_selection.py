"""The selection study: family grids, suites, the decision rules on hand-made numbers, and the smoke pipeline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from eigenrnn.bench.stats import RunRecord
from eigenrnn.bench.variants import parse
from eigenrnn.errors import EigenRNNError
from eigenrnn.selection import families as fam
from eigenrnn.selection import rule, suites

# ----------------------------------------------------------------------------- families


def test_every_family_has_k_configurations_with_its_textbook_one():
    for family in fam.FAMILIES:
        names = fam.configs(family)
        assert len(names) == fam.K == len(set(names)) == 6
        assert fam.textbook(family) in names
        for name in names:
            assert parse(name).name == name  # every configuration is a variant the benchmark runs
    assert fam.configs("xavier")[2] == "xavier" and fam.textbook("kaiming") == "kaiming:g1.41"


def test_recurrent_schemes_share_the_input_init():
    """Every grid configuration gets Xavier-uniform input weights; only the input probes differ."""
    from eigenrnn.init import init_rnn
    from eigenrnn.train.build import decode_init_kwargs

    def w_ih(name):
        m = torch.nn.GRU(1, 64)
        fields = parse(name).resolve(50)
        init_rnn(m, fields["init"], generator=torch.Generator().manual_seed(0),
                 **decode_init_kwargs(fields["init_kwargs"]))
        return m.weight_ih_l0.detach()

    xavier_std = math.sqrt(2.0 / (1 + 64))
    for family in fam.FAMILIES:
        for name in fam.configs(family):
            std = float(w_ih(name).std())
            assert abs(std - xavier_std) < 0.2 * xavier_std, (name, std)
        probe = float(w_ih(fam.input_probe(family)).std())
        assert abs(probe - math.sqrt(2.0)) < 0.2 * math.sqrt(2.0), (family, probe)  # Kaiming-normal, fan_in 1


def test_gain_grids_set_the_spectral_radius():
    from eigenrnn.init import init_rnn
    from eigenrnn.train.build import decode_init_kwargs

    for name, radius in (("orthogonal:g0.5", 0.5), ("sp:s0.8", 0.8), ("irnn:s0.9", 0.9)):
        m = torch.nn.RNN(1, 32)
        fields = parse(name).resolve(50)
        init_rnn(m, fields["init"], generator=torch.Generator().manual_seed(0), **decode_init_kwargs(fields["init_kwargs"]))
        rho = float(torch.linalg.eigvals(m.weight_hh_l0.detach().double()).abs().max())
        assert rho == pytest.approx(radius, rel=1e-6), name
    # Kaiming's slope a gives the grid's gain: std = gain / sqrt(fan_in)
    m = torch.nn.RNN(1, 400)
    fields = parse("kaiming:g0.5").resolve(50)
    init_rnn(m, "kaiming", generator=torch.Generator().manual_seed(0), **decode_init_kwargs(fields["init_kwargs"]))
    assert float(m.weight_hh_l0.detach().std()) == pytest.approx(0.5 / math.sqrt(400), rel=0.02)


def test_horizon_placeholders_resolve_per_task():
    assert parse("chrono:T0.25").resolve(200)["init_kwargs"] == {"bias": "chrono", "horizon": 50}
    assert parse("eigen:tau4T").resolve(30)["init_kwargs"] == {"horizon": 120}
    slow = parse("eigen:slow-real").resolve(100)["init_kwargs"]["spectrum"]
    assert slow["real_fraction"] == 1.0 and slow["max_phase"] == 0.0
    assert slow["radius"][1] == pytest.approx(math.exp(-1 / 100))
    mix = parse("eigen:unit-mix").resolve(100)["init_kwargs"]["spectrum"]["mixture"]
    assert [c["share"] for c in mix] == [0.25, 0.75] and mix[0]["spectrum"]["radius"] == [1.0, 1.0]


# ----------------------------------------------------------------------------- Holm and collapse


def test_holm_matches_a_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    assert rule.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert rule.holm([0.5, None, 0.6]) == [1.0, None, 1.0]  # 2 * 0.5 = 1.0, then max(1.0, 0.6)
    with pytest.raises(ValueError, match="p_values"):
        rule.holm([1.5])


def test_holm_caps_at_one_and_keeps_order():
    adjusted = rule.holm([0.5, 0.6])
    assert adjusted == [1.0, 1.0]
    assert rule.holm([]) == []


@pytest.mark.parametrize("curve, higher, chance, margin, expected", [
    ([0.2, 0.485, 0.3, 0.09], True, 0.1, 0.05, True),        # the orthogonal seed of issue 13
    ([0.1, 0.12, 0.13, 0.11], True, 0.1, 0.05, False),       # never learned: no collapse
    ([0.2, 0.5, 0.6, 0.61], True, 0.1, 0.05, False),         # learned and kept it
    ([0.5, 0.9, float("nan")], True, 0.5, 0.05, True),       # diverged after learning
    ([0.17, 0.05, 0.01, 0.165], False, 1 / 6, 1 / 60, True),  # MSE back at the trivial predictor
    ([0.17, 0.05, 0.01, 0.02], False, 1 / 6, 1 / 60, False),
    ([0.9], True, 0.5, 0.05, False),
])
def test_collapse_on_hand_made_curves(curve, higher, chance, margin, expected):
    assert rule.collapsed(curve, chance=chance, margin=margin, higher_is_better=higher) is expected


# ----------------------------------------------------------------------------- the rules on hand-made runs


def _record(root: Path, suite: str, key: str, task: str, cell: str, scheme: str, seed: int, value: float | None,
            curve: list[float] | None = None, config: dict | None = None) -> RunRecord:
    path = root / suite / key / cell / scheme / f"seed{seed}"
    path.mkdir(parents=True)
    curve = curve if curve is not None else [value]
    (path / "metrics.jsonl").write_text("".join(json.dumps({"val_metric": v}) + "\n" for v in curve))
    if config is not None:
        (path / "config.json").write_text(json.dumps(config))
    higher = not task.startswith("adding")
    return RunRecord(suite, task, cell, scheme, seed, "finished" if value is not None else "diverged",
                     "accuracy" if higher else "mse", higher, value, None, value, None, None, None, 1, 1, 1.0, path,
                     history=tuple({"val_metric": v} for v in curve), config=config)


def _family_runs(root, values: dict[str, tuple[float, float]], curves=None):
    """xavier-family runs on two dev tasks (accuracy and MSE), two seeds; ``values[name] = (acc, mse)``."""
    curves = curves or {}
    out = []
    for name, (acc, mse) in values.items():
        for seed in (0, 1):
            out.append(_record(root, "dev", "tomita3", "tomita3", "gru", name, seed, acc, curves.get(name)))
            out.append(_record(root, "dev", "adding50", "adding", "gru", name, seed, mse))
    return out


def _xavier_values(**changes):
    base = {name: (0.7, 0.10) for name in fam.configs("xavier")}
    base.update(changes)
    return base


def test_a_decision_on_an_unfinished_stage_is_refused_or_recorded(tmp_path):
    runs = _family_runs(tmp_path, _xavier_values())
    n = len(runs)
    failed = [tmp_path / "dev" / "tomita3" / "gru" / "extra" / "seed0"]
    session = {"suite": "selection-dev", "runs": len(runs) + 2}
    (tmp_path / "bench.json").write_text(json.dumps({"sessions": [session, {"suite": "selection-heldout", "runs": 1}]}))
    assert rule.stage_coverage(tmp_path, "selection-dev", runs, failed) == {"planned": n + 2, "found": n + 1}
    with pytest.raises(EigenRNNError, match=f"{n + 1} of its {n + 2} runs exist.*--allow-incomplete"):
        rule.require_complete(tmp_path, "selection-dev", runs, failed)
    assert rule.require_complete(tmp_path, "selection-dev", runs, failed, allow_incomplete=True)["found"] == n + 1
    session["runs"] = n + 1  # the latest session of the suite counts
    (tmp_path / "bench.json").write_text(json.dumps({"sessions": [{"suite": "selection-dev", "runs": 99}, session]}))
    assert rule.require_complete(tmp_path, "selection-dev", runs, failed) is None
    with pytest.raises(EigenRNNError, match="no eigenrnn bench --suite selection-instrument session"):
        rule.require_complete(tmp_path, "selection-instrument", runs)
    with pytest.raises(ValueError, match="suite"):
        rule.stage_coverage(tmp_path, "dev", runs)


def test_select_picks_the_best_mean_rank(tmp_path):
    values = _xavier_values(**{"xavier:g1.25": (0.95, 0.01), "xavier:g0.5": (0.9, 0.02)})
    chosen = rule.select(_family_runs(tmp_path, values), families=("xavier",))
    entry = chosen["cells"]["gru"]["families"]["xavier"]
    assert entry["chosen"] == "xavier:g1.25"
    assert entry["configs"]["xavier:g1.25"]["mean_rank"] == 1.0
    assert entry["configs"]["xavier:g0.5"]["mean_rank"] == 2.0
    assert entry["configs"]["xavier"]["mean_rank"] == pytest.approx((3 + 4 + 5 + 6) / 4)  # four-way tie, averaged
    assert entry["configs"]["xavier:g1.25"]["by_task"] == {"adding50": 1.0, "tomita3": 1.0}


def test_select_shows_a_design_that_wins_one_task_type_and_loses_another(tmp_path):
    # g0.5 is best on the symbolic task and worst on the smooth one: its overall rank hides it, by_task shows it
    values = _xavier_values(**{"xavier:g0.5": (0.99, 0.5), "xavier:g1.25": (0.8, 0.01)})
    table = rule.select(_family_runs(tmp_path, values), families=("xavier",))["cells"]["gru"]["families"]["xavier"]
    assert table["configs"]["xavier:g0.5"]["by_task"] == {"adding50": 6.0, "tomita3": 1.0}
    assert table["configs"]["xavier:g1.25"]["by_task"] == {"adding50": 1.0, "tomita3": 2.0}
    assert table["chosen"] == "xavier:g1.25"


def test_select_ties_go_to_fewer_collapses_then_textbook_then_order(tmp_path):
    # g0.75 and g1.25 tie on every value; g1.25 collapsed on tomita3 -> g0.75
    values = _xavier_values(**{"xavier:g0.75": (0.9, 0.01), "xavier:g1.25": (0.9, 0.01)})
    runs = _family_runs(tmp_path / "b", values, curves={"xavier:g1.25": [0.5, 0.9, 0.52]})
    assert rule.select(runs, families=("xavier",))["cells"]["gru"]["families"]["xavier"]["chosen"] == "xavier:g0.75"
    # the textbook configuration wins a tie without collapses
    values = _xavier_values(**{"xavier": (0.9, 0.01), "xavier:g0.5": (0.9, 0.01)})
    runs = _family_runs(tmp_path / "c", values)
    assert rule.select(runs, families=("xavier",))["cells"]["gru"]["families"]["xavier"]["chosen"] == "xavier"
    # neither is the textbook one: the earlier in the family's list
    values = _xavier_values(**{"xavier:g1.41": (0.9, 0.01), "xavier:g0.75": (0.9, 0.01)})
    runs = _family_runs(tmp_path / "d", values)
    assert rule.select(runs, families=("xavier",))["cells"]["gru"]["families"]["xavier"]["chosen"] == "xavier:g0.75"


def test_select_counts_missing_and_diverged_runs_as_worst(tmp_path):
    values = _xavier_values(**{"xavier:g0.5": (None, None), "xavier:g1.41": (0.8, 0.05)})
    values.pop("xavier+cal")  # never ran
    chosen = rule.select(_family_runs(tmp_path, values), families=("xavier",))["cells"]["gru"]["families"]["xavier"]
    assert chosen["chosen"] == "xavier:g1.41"
    assert chosen["configs"]["xavier+cal"]["missing"] == 4 and chosen["configs"]["xavier+cal"]["mean_rank"] == 5.5
    assert chosen["configs"]["xavier:g0.5"]["collapsed"] == 4  # diverged counts as collapsed


def test_input_level_is_chosen_by_the_probe_pairs(tmp_path):
    values = _xavier_values(**{fam.input_probe("xavier"): (0.99, 0.001)})
    chosen = rule.select(_family_runs(tmp_path / "a", values), families=("xavier",))["cells"]["gru"]
    assert chosen["input_scheme"] == "kaiming" and chosen["input_mean_rank"] == {"xavier": 2.0, "kaiming": 1.0}
    values = _xavier_values(**{fam.input_probe("xavier"): (0.7, 0.10)})  # a tie keeps the common level
    assert rule.select(_family_runs(tmp_path / "b", values), families=("xavier",))["cells"]["gru"]["input_scheme"] == "xavier"


def test_instrument_prefers_stable_settings(tmp_path):
    runs = []
    # lr 1e-2 has the best median but collapses on 2 of 4 runs; 5e-3 is stable; 2.5e-3 is stable and worse
    for lr, finals in ((1e-2, [0.95, 0.95, None, None]), (5e-3, [0.9, 0.9, 0.88, 0.9]), (2.5e-3, [0.8] * 4)):
        for i, final in enumerate(finals):
            curve = [0.5, 0.9, 0.5] if final is None else [0.5, final]
            value = 0.9 if final is None else final  # best validation of the collapsed run
            runs.append(_record(tmp_path, f"instrument-lr{lr}", "tomita3", "tomita3", "gru", f"s{i}", 0, value,
                                curve, config={"lr": lr, "clip": 1.0}))
    decision = rule.choose_instrument(runs)["tasks"]["tomita3"]["gru"]
    assert (decision["lr"], decision["clip"]) == (5e-3, 1.0)
    rates = {row["lr"]: row["collapse_rate"] for row in decision["settings"]}
    assert rates == {1e-2: 0.5, 5e-3: 0.0, 2.5e-3: 0.0}


def test_packed_runs_give_the_same_decisions_as_run_directories(tmp_path):
    """`eigenrnn pack` removes run directories: collapse and lr/clip must come from the records, not the disk."""
    from eigenrnn.bench.records import pack_sweep
    from eigenrnn.bench.stats import load_runs
    from eigenrnn.io import append_jsonl, atomic_write_json, mark_output

    root = tmp_path / "sweep"
    mark_output(root, "bench")
    (root / "bench.json").write_text(json.dumps({"profile": "cpu", "suites": {}, "sessions": []}))
    # lr 1e-2: best median but one of its two runs collapses (rate 0.5 > 0.1); lr 5e-3 is stable.
    for lr, curves in ((1e-2, ([0.5, 0.95, 0.97], [0.5, 0.96, 0.5])), (5e-3, ([0.5, 0.9, 0.91], [0.5, 0.9, 0.9]))):
        for seed, curve in enumerate(curves):
            run = root / f"instrument-lr{lr:g}" / "tomita3" / "gru" / "xavier" / f"seed{seed}"
            run.mkdir(parents=True)
            atomic_write_json(run / "config.json", {"task": "tomita3", "cell": "gru", "lr": lr, "clip": 1.0})
            for v in curve:
                append_jsonl(run / "metrics.jsonl", {"val_metric": v})
            atomic_write_json(run / "summary.json", {
                "task": "tomita3", "cell": "gru", "seed": seed, "status": "finished", "metric_name": "accuracy",
                "higher_is_better": True, "test_metric": max(curve), "best_val_metric": max(curve),
                "epochs": len(curve), "steps": len(curve), "wall_time_s": 1.0})
    on_disk = rule.choose_instrument(load_runs(root)[0])
    pack_sweep(root)
    assert not list(root.glob("instrument-*/*/*/*/seed*"))  # every run directory is gone
    packed = rule.choose_instrument(load_runs(root)[0])
    assert packed == on_disk
    decision = packed["tasks"]["tomita3"]["gru"]
    assert (decision["lr"], decision["clip"]) == (5e-3, 1.0)
    assert {row["lr"]: row["collapse_rate"] for row in decision["settings"]} == {1e-2: 0.5, 5e-3: 0.0}


def _heldout(cells: dict[tuple[str, str], dict]) -> dict:
    """A heldout.json by hand: per (task, cell) the means of eigen selected, its default, the selected and
    textbook baselines, and the pair (wins, ties, losses, Holm p) of eigen against the selected baseline."""
    tasks: dict = {}
    for (key, cell), c in cells.items():
        higher = not key.startswith("adding")
        table = tasks.setdefault(key, {"metric": "accuracy" if higher else "mse", "higher_is_better": higher,
                                       "configs": {}, "headline": {}, "comparisons": []})

        def col(name, mean):
            return {"config": name, "mean": mean, "n": 10, "collapse_rate": 0.0}

        table["headline"][cell] = {"eigen default": col("eigen", c["default"]),
                                   "eigen selected": col("eigen:horizon", c["eigen"]),
                                   "best selected baseline": col("orthogonal:g1.25", c["base"]),
                                   "best textbook baseline": col("xavier", c["textbook"])}
        table["configs"][cell] = {
            "eigen:horizon": {"roles": ["selected:eigen"], "mean": c["eigen"], "std": 0.01, "n": 10, "runs": 10,
                              "collapse_rate": 0.0},
            "orthogonal:g1.25": {"roles": ["selected:orthogonal"], "mean": c["base"], "std": 0.01, "n": 10,
                                 "runs": 10, "collapse_rate": 0.1},
            "xavier:g0.5": {"roles": ["selected:xavier"], "mean": c.get("xavier", c["textbook"]), "std": 0.01,
                            "n": 10, "runs": 10, "collapse_rate": 0.0}}
        w, t, l, p = c["pair"]
        table["comparisons"].append({"cell": cell, "eigen": "eigen:horizon", "baseline": "orthogonal:g1.25",
                                     "role": "selected:orthogonal", "n_pairs": w + t + l, "wins": w, "ties": t,
                                     "losses": l, "p_value": p, "p_holm": p, "p_holm_cell": p})
    return {"tasks": tasks}


def test_verdict_on_hand_made_heldout_numbers():
    from eigenrnn.selection import verdict

    win = {"default": 0.7, "eigen": 0.9, "base": 0.8, "textbook": 0.75, "pair": (8, 1, 1, 0.01)}
    tie = {"default": 0.7, "eigen": 0.8, "base": 0.8, "textbook": 0.75, "pair": (3, 4, 3, 1.0)}
    # more seed wins but not the best mean of the four columns (the textbook baseline's is higher): a tie
    lucky = {"default": 0.7, "eigen": 0.81, "base": 0.8, "textbook": 0.85, "pair": (6, 0, 4, 0.5)}
    loss = {"default": 0.7, "eigen": 0.7, "base": 0.8, "textbook": 0.75, "pair": (2, 0, 8, 0.2)}
    outcomes = {(r["task"], r["cell"]): r["outcome"] for r in verdict.cell_outcomes(_heldout(
        {("tomita6", "gru"): win, ("tomita6", "rnn"): tie, ("tomita7", "gru"): lucky, ("tomita7", "rnn"): loss}))}
    assert outcomes == {("tomita6", "gru"): "win", ("tomita6", "rnn"): "tie", ("tomita7", "gru"): "tie",
                        ("tomita7", "rnn"): "loss"}
    # wins 1 of 3 (a third), no loss, no significant loss: eigen becomes the default
    good = verdict.verdict(_heldout({("t6", "gru"): win, ("t6", "rnn"): tie, ("t7", "gru"): tie}))
    assert good["becomes_default"] and good["reasons"] == [] and good["closest"]["task"] == "t6"
    # one lost cell is enough to keep the default, and the reason says so
    bad = verdict.verdict(_heldout({("t6", "gru"): win, ("t6", "rnn"): loss}))
    assert not bad["becomes_default"] and any("loses 1 of 2 cells" in r for r in bad["reasons"])
    # a win on seeds is no win of the rule when a Holm-significant loss sits in the table
    sig = dict(tie, pair=(3, 0, 7, 0.01))
    strict = verdict.verdict(_heldout({("t6", "gru"): win, ("t6", "rnn"): sig}))
    assert strict["significant_losses"] == [("t6", "rnn", "orthogonal:g1.25")] and not strict["becomes_default"]
    # Holm over one cell only (reported, not the rule): a loss significant there alone blocks only that reading
    cell_only = _heldout({("t6", "gru"): win, ("t6", "rnn"): tie})
    cell_only["tasks"]["t6"]["comparisons"].append(
        {"cell": "rnn", "eigen": "eigen:horizon", "baseline": "xavier:g0.5", "role": "selected:xavier", "n_pairs": 10,
         "wins": 3, "ties": 0, "losses": 7, "p_value": 0.004, "p_holm": 0.2, "p_holm_cell": 0.03})
    split = verdict.verdict(cell_only)
    assert split["becomes_default"] and split["significant_losses"] == []
    assert split["significant_losses_cell"] == [("t6", "rnn", "xavier:g0.5")] and not split["becomes_default_cell"]
    # too few wins: ties everywhere do not make a default
    assert "at least 1 needed" in verdict.verdict(_heldout({("t6", "gru"): tie}))["reasons"][0]
    # lower is better on regression: the sign of the gap follows the metric
    reg = {"default": 0.02, "eigen": 0.01, "base": 0.02, "textbook": 0.03, "pair": (9, 0, 1, 0.004)}
    v = verdict.verdict(_heldout({("adding200", "gru"): reg}))
    assert v["cells"][0]["outcome"] == "win" and v["closest"]["relative_gap"] == pytest.approx(0.5)


def test_recommendation_ranks_selected_configurations_per_task_type():
    from eigenrnn.selection import verdict

    cells = {("tomita6", "gru"): {"default": 0.7, "eigen": 0.9, "base": 0.8, "textbook": 0.7, "xavier": 0.6,
                                  "pair": (8, 1, 1, 0.01)},
             ("tomita7", "gru"): {"default": 0.7, "eigen": 0.7, "base": 0.8, "textbook": 0.7, "xavier": 0.6,
                                  "pair": (1, 1, 8, 0.01)},
             ("adding200", "gru"): {"default": 0.1, "eigen": 0.1, "base": 0.1, "textbook": 0.2, "xavier": 0.05,
                                    "pair": (3, 4, 3, 1.0)}}
    picks = verdict.recommend(_heldout(cells))
    tomita = picks["Tomita grammars"]["gru"]
    assert tomita["ranks"] == {"eigen": 1.5, "orthogonal": 1.5, "xavier": 3.0}
    assert tomita["family"] == "orthogonal"  # equal mean rank: the earlier family of FAMILIES
    assert picks["regression"]["gru"]["family"] == "xavier" and picks["regression"]["gru"]["config"] == "xavier:g0.5"


# ----------------------------------------------------------------------------- suites


def test_suites_need_their_decisions_and_cover_the_protocol():
    with pytest.raises(ValueError, match="instrument"):
        suites.grid("selection-dev", "smoke")
    inst = {"tasks": {k: {c: {"lr": 1e-3, "clip": 1.0} for c in suites.CELLS}
                      for k in {**suites.tasks("dev", "cpu"), **suites.tasks("heldout", "cpu")}}}
    with pytest.raises(ValueError, match="chosen"):
        suites.grid("selection-heldout", "cpu", instrument=inst)
    dev = suites.grid("selection-dev", "cpu", instrument=inst)
    assert {s.task for s in dev} == {"tomita3", "tomita5", "adding50", "mnist14-sub"}
    per_cell = {c: len({s.init for s in dev if s.cell == c}) for c in suites.CELLS}
    assert per_cell == {"rnn": 7 * 7, "lstm": 8 * 7, "gru": 8 * 7}  # K configs + the input probe per family
    assert all(s.config["lr"] == 1e-3 for s in dev) and min(s.seed for s in dev) == 0
    assert {s.config["task_options"].get("length") for s in dev if s.task == "adding50"} == {50}
    held = suites.tasks("heldout", "cpu")
    # The shrunk protocol (docs/SELECTION.md, "Shrunk to fit"): no Multi30k, >= 6 seeds (the
    # fewest Wilcoxon pairs) on every held-out task, every Tomita run stops at 100 % training accuracy.
    assert set(held) == {"tomita6", "tomita7", "pmnist14", "mnist14", "adding200", "mackey-glass"}
    assert {k: b.seeds for k, b in held.items()} == {
        "tomita6": 10, "tomita7": 10, "pmnist14": 6, "mnist14": 6, "adding200": 10, "mackey-glass": 10}
    from eigenrnn.bench.stats import MIN_WILCOXON_PAIRS
    assert MIN_WILCOXON_PAIRS == 6
    tomita = [s for s in dev if s.task.startswith("tomita")]
    assert tomita and all(s.config["stop_at_target"] is True for s in tomita)
    assert not any(s.config.get("stop_at_target") for s in dev if not s.task.startswith("tomita"))
    assert suites.INSTRUMENT["cpu"]["seeds"] == 2


def test_calibrated_choices_are_not_run_where_calibration_is_refused():
    from eigenrnn.bench import profiles, variants
    from eigenrnn.bench.profiles import RunSpec
    from eigenrnn.bench.runner import inapplicable

    inst = {"tasks": {k: {c: {"lr": 1e-3, "clip": 1.0} for c in suites.CELLS} for k in suites.tasks("heldout", "cpu")}}
    chosen = {"cells": {c: {"input_scheme": "xavier", "families": {
        f: {"chosen": fam.configs(f)[-1]} for f in fam.families_for(c)}} for c in suites.CELLS}}
    specs = suites.grid("selection-heldout", "cpu", instrument=inst, chosen=chosen, seeds=1)
    assert {s.init for s in specs} >= {
        "xavier+cal", "kaiming:g1.41+cal", "orthogonal+cal", "irnn+cal", "sp+cal", "xavier+chrono+cal",
        "eigen:horizon+cal"}  # every family's last configuration calibrates, except the chain's
    assert inapplicable(specs) == {}  # every held-out task of the shrunk protocol has one recurrent core
    # An encoder-decoder (Multi30k, not in the shrunk protocol) refuses calibration: such a choice is not run.
    base = {**profiles.budget("multi30k", "cpu").config("multi30k"), "task": "multi30k", "cell": "gru", "seed": 0}
    seq2seq = [RunSpec("heldout", "multi30k", "gru", name, 0, {**base, **variants.parse(name).resolve(64)})
               for name in ("eigen:horizon+cal", "xavier")]
    excluded = inapplicable(seq2seq)
    assert list(excluded) == [seq2seq[0].path] and "calibrate" in excluded[seq2seq[0].path]


def test_bench_refuses_selection_options_where_they_do_not_apply(tmp_path, capsys):
    from eigenrnn.cli import main

    out = str(tmp_path / "o")
    assert main(["bench", "--suite", "tomita", "--profile", "smoke", "--out", out, "--families", "eigen"]) == 2
    assert "--families: got 'eigen'" in capsys.readouterr().err
    assert main(["bench", "--suite", "selection-dev", "--profile", "smoke", "--out", out, "--inits", "xavier"]) == 2
    assert "--inits: got 'xavier'" in capsys.readouterr().err
    assert main(["bench", "--suite", "selection-dev", "--profile", "smoke", "--out", out]) == 2
    assert "instrument" in capsys.readouterr().err
    assert main(["bench", "--suite", "selection-dev", "--profile", "gpu", "--out", out]) == 2
    assert "profile: got 'gpu'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- smoke pipeline, end to end


def test_smoke_selection_and_heldout_run_end_to_end(tmp_path, capsys):
    from eigenrnn.cli import main

    out, inst, chosen, cmp = tmp_path / "runs", tmp_path / "inst.json", tmp_path / "chosen.json", tmp_path / "cmp.json"
    families = "xavier,chrono,eigen"
    common = ["--profile", "smoke", "--out", str(out), "--workers", "2", "--families", families]
    assert main(["bench", "--suite", "selection-instrument", *common]) == 0
    assert main(["select", "instrument", str(out), "--out", str(inst)]) == 0
    partial = ["--profile", "smoke", "--out", str(out), "--workers", "1", "--families", "xavier"]
    assert main(["bench", "--suite", "selection-dev", *partial, "--instrument", str(inst), "--cells", "gru"]) == 0
    bench = json.loads((out / "bench.json").read_text())
    bench["sessions"][-1]["runs"] += 1  # as if one run of the stage were still to come
    (out / "bench.json").write_text(json.dumps(bench))
    assert main(["select", "choose", str(out), "--out", str(chosen), "--families", "xavier"]) == 2
    assert "--allow-incomplete" in capsys.readouterr().err and not chosen.exists()
    assert main(["select", "choose", str(out), "--out", str(chosen), "--families", "xavier", "--allow-incomplete"]) == 0
    assert json.loads(chosen.read_text())["incomplete"]["planned"] == bench["sessions"][-1]["runs"]
    chosen.unlink()
    assert main(["bench", "--suite", "selection-dev", *common, "--instrument", str(inst)]) == 0
    assert main(["select", "choose", str(out), "--out", str(chosen), "--families", families]) == 0
    assert "incomplete" not in json.loads(chosen.read_text())
    assert main(["select", "choose", str(out), "--out", str(chosen)]) == 2  # a decision is written once
    assert "--force" in capsys.readouterr().err
    dev_page = tmp_path / "dev" / "chosen.md"  # between the stages: the choice alone, no verdict, no figure
    assert main(["select", "page", "--chosen", str(chosen), "--out", str(dev_page)]) == 0
    dev_text = dev_page.read_text()
    assert "## Selected configurations" in dev_text and "Not run yet" in dev_text
    assert "## Verdict" not in dev_text and not dev_page.with_suffix(".png").exists()
    assert f"`{json.loads(chosen.read_text())['cells']['gru']['families']['eigen']['chosen']}`" in dev_text
    assert main(["bench", "--suite", "selection-heldout", *common, "--instrument", str(inst), "--chosen", str(chosen)]) == 0
    assert main(["select", "compare", str(out), "--chosen", str(chosen), "--out", str(cmp)]) == 0
    table = json.loads(cmp.read_text())["tasks"]["tomita6"]
    for cell in table["configs"]:  # Holm over one cell's comparisons, beside the rule's over the whole table
        rows = [c for c in table["comparisons"] if c["cell"] == cell]
        assert [c["p_holm_cell"] for c in rows] == rule.holm([c["p_value"] for c in rows])
    assert all(c["p_holm"] is None or c["p_holm_cell"] <= c["p_holm"] for c in table["comparisons"])
    tomita6 = table["configs"]["gru"]
    for name, summary in tomita6.items():  # the figure's seed dots are the records' own test metrics
        summaries = [json.loads(p.read_text()) for p in (out / "heldout" / "tomita6" / "gru" / name).glob("seed*/summary.json")]
        assert sorted(summary["by_seed"].values()) == sorted(x["test_metric"] for x in summaries) and summaries
    page = tmp_path / "selection.md"
    assert main(["select", "page", "--chosen", str(chosen), "--heldout", str(cmp), "--out", str(page)]) == 0
    assert "verdict: " in capsys.readouterr().out
    text = page.read_text()
    for heading in ("Selected configurations", "The eigen designs on the development tasks", "Headline", "Verdict",
                    "Which family to pick"):
        assert f"## {heading}" in text
    assert "| tomita6 | gru |" in text and "| adding10 | gru |" in text and "](selection.png)" in text
    assert (tmp_path / "selection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["select", "page", "--chosen", str(chosen), "--heldout", str(cmp), "--out", str(page)]) == 2
    assert main(["select", "page", "--chosen", str(cmp), "--heldout", str(cmp), "--out", str(tmp_path / "x.md")]) == 2
    assert "--chosen" in capsys.readouterr().err and not (tmp_path / "x.md").exists()
    assert "Incomplete" not in text
    from eigenrnn.selection import verdict

    unfinished = {**json.loads(chosen.read_text()), "incomplete": {"planned": 9, "found": 8}}
    assert "chosen.json decided on 8 of 9 planned runs" in verdict.markdown(json.loads(cmp.read_text()), unfinished)

    decision = json.loads(chosen.read_text())["cells"]["gru"]
    assert set(decision["families"]) == {"xavier", "chrono", "eigen"}
    for family, entry in decision["families"].items():
        assert entry["chosen"] in fam.configs(family)
    dev_dirs = {p.name for p in (out / "dev" / "tomita3" / "gru").iterdir()}
    assert dev_dirs == {*fam.configs("xavier"), *fam.configs("chrono"), *fam.configs("eigen"),
                        *(fam.input_probe(f) for f in ("xavier", "chrono", "eigen"))}
    # each run's config.json rebuilds it: the resolved spectrum of a timescale design is in it
    config = json.loads((out / "dev/tomita3/gru/eigen:slow-real/seed0/config.json").read_text())
    assert config["init_kwargs"]["spectrum"]["distribution"] == "timescale"
    assert config["lr"] == json.loads(inst.read_text())["tasks"]["tomita3"]["gru"]["lr"]
    import hashlib

    held = json.loads((out / "bench.json").read_text())["suites"]["heldout"]["budget"]
    assert held["chosen"]["sha256"] == hashlib.sha256(chosen.read_bytes()).hexdigest()
    table = json.loads(cmp.read_text())["tasks"]
    assert set(table) == {"tomita6", "adding10"}
    assert set(table["tomita6"]["headline"]["gru"]) == {"eigen default", "eigen selected",
                                                        "best selected baseline", "best textbook baseline"}
    # resumable: a rerun skips every finished run
    capsys.readouterr()
    assert main(["bench", "--suite", "selection-dev", *common, "--instrument", str(inst)]) == 0
    assert "0 finished, 21 skipped" in capsys.readouterr().out


def test_selection_budget_counts_what_is_left_at_the_measured_times(tmp_path):
    import runpy

    from eigenrnn.io import append_jsonl, atomic_write_json
    from conftest import REPO_ROOT

    budget = runpy.run_path(str(REPO_ROOT / "benchmarks" / "selection_budget.py"), run_name="selection_budget")
    for seed, seconds in ((0, 10.0), (1, 30.0)):
        run = tmp_path / "instrument-lr1x-clip1" / "tomita3" / "gru" / "xavier" / f"seed{seed}"
        run.mkdir(parents=True)
        append_jsonl(run / "metrics.jsonl", {"val_metric": 0.9})
        atomic_write_json(run / "summary.json", {"wall_time_s": seconds})
    rows = {(r["stage"], r["task"], r["cell"]): r for r in budget["estimate"](tmp_path)}
    inst = rows[("instrument", "tomita3", "gru")]
    assert (inst["planned"], inst["done"], inst["seconds_per_run"]) == (36, 2, 20.0)  # 6 settings x 3 inits x 2 seeds
    assert inst["seconds_left"] == 34 * 20.0
    dev = rows[("dev", "tomita3", "gru")]
    assert (dev["planned"], dev["done"], dev["seconds_left"]) == (8 * 7 * 3, 0, 8 * 7 * 3 * 20.0)
    assert rows[("dev", "mnist14-sub", "rnn")]["seconds_left"] is None  # never timed
    # Once the stage has its own runs, their times count instead of the instrument's.
    run = tmp_path / "dev" / "tomita3" / "gru" / "xavier" / "seed0"
    run.mkdir(parents=True)
    append_jsonl(run / "metrics.jsonl", {"val_metric": 0.9})
    atomic_write_json(run / "summary.json", {"wall_time_s": 5.0})
    dev = {(r["stage"], r["task"], r["cell"]): r for r in budget["estimate"](tmp_path)}[("dev", "tomita3", "gru")]
    assert (dev["done"], dev["seconds_per_run"]) == (1, 5.0)
    # The held-out grid follows chosen.json once it exists (here: every family at its textbook setting).
    from eigenrnn.selection import families as fam
    from eigenrnn.selection.suites import CELLS, grid

    largest = rows[("heldout", "tomita6", "gru")]["planned"]
    chosen = {"cells": {c: {"input_scheme": "xavier", "families": {f: {"chosen": fam.textbook(f)}
                                                                   for f in fam.families_for(c)}} for c in CELLS}}
    atomic_write_json(tmp_path / "chosen.json", chosen)
    planned = {(r["stage"], r["task"], r["cell"]): r for r in budget["estimate"](tmp_path)}[("heldout", "tomita6", "gru")]
    expected = [s for s in grid("selection-heldout", "cpu", instrument=budget["_instrument"]("cpu"), chosen=chosen)
                if s.task == "tomita6" and s.cell == "gru"]
    assert planned["planned"] == len(expected) < largest


def _posthoc_heldout() -> dict:
    """Two hand-made held-out tasks: Tomita 6 (higher is better) and adding-200 (lower is better), RNN only."""
    def config(*values):
        return {"mean": sum(values) / len(values), "by_seed": {str(s): v for s, v in enumerate(values)}}

    def comparison(role, wins, ties, losses):
        return {"cell": "rnn", "eigen": "eigen:tau4T{input_scheme=kaiming}", "baseline": "x", "role": role,
                "wins": wins, "ties": ties, "losses": losses}

    return {"tasks": {
        "tomita6": {"higher_is_better": True,
                    "configs": {"rnn": {"eigen:tau4T{input_scheme=kaiming}": config(0.9, 0.7),
                                        "eigen": config(0.8, 0.8), "kaiming": config(0.95, 0.95)}},
                    "comparisons": [comparison("selected:kaiming,textbook:kaiming", 0, 0, 2),
                                    comparison("textbook:eigen", 1, 0, 1)]},
        "adding200": {"higher_is_better": False,
                      "configs": {"rnn": {"eigen:tau4T{input_scheme=kaiming}": config(0.2, 0.2),
                                          "irnn": config(0.1, 0.3), "xavier": config(0.5, 0.5)}},
                      "comparisons": [comparison("selected:kaiming", 1, 1, 0)]}}}


def test_posthoc_tallies_on_hand_made_numbers():
    from eigenrnn.selection import posthoc

    counts = posthoc.tally(_posthoc_heldout())
    # a configuration with two roles counts for both; "all" sums the cells of a task type
    assert counts[("Tomita grammars", "selected:kaiming", "rnn")] == {"wins": 0, "ties": 0, "losses": 2}
    assert counts[("Tomita grammars", "textbook:kaiming", "all")] == {"wins": 0, "ties": 0, "losses": 2}
    assert counts[("regression", "selected:kaiming", "all")] == {"wins": 1, "ties": 1, "losses": 0}
    assert ("regression", "textbook:eigen", "all") not in counts
    best = posthoc.best_by_input_level(_posthoc_heldout())
    # Kaiming's own inputs are Kaiming's; eigen's default inputs are Xavier's; lower is better on adding-200
    assert best[("tomita6", "rnn")] == {"kaiming": ("kaiming", 0.95), "xavier": ("eigen", 0.8)}
    assert best[("adding200", "rnn")]["xavier"] == ("irnn", pytest.approx(0.2))
    pairs = posthoc.against_all(_posthoc_heldout(), "tomita6", "rnn", "eigen")
    assert (pairs["kaiming"].wins, pairs["kaiming"].losses) == (0, 2)
    assert (pairs["eigen:tau4T{input_scheme=kaiming}"].wins, pairs["eigen:tau4T{input_scheme=kaiming}"].losses) == (1, 1)
    assert set(pairs) == {"kaiming", "eigen:tau4T{input_scheme=kaiming}"}


@pytest.mark.parametrize("against, named", [(("tomita9", "rnn", "eigen"), "task: got 'tomita9'"),
                                            (("tomita6", "lstm", "eigen"), "cell: got 'lstm'"),
                                            (("tomita6", "rnn", "orthogonal"), "config: got 'orthogonal'")])
def test_posthoc_names_the_bad_argument(tmp_path, capsys, against, named):
    from eigenrnn.selection import posthoc

    path = tmp_path / "heldout.json"
    path.write_text(json.dumps(_posthoc_heldout()))
    assert posthoc.main([str(path), "--against", *against]) == 2
    out, err = capsys.readouterr()
    assert named in err and out == ""  # nothing printed before the names are checked
    assert posthoc.main([str(path), "--against", "adding200", "rnn", "eigen:tau4T{input_scheme=kaiming}"]) == 0
    table = capsys.readouterr().out.split("against every configuration")[1]
    assert table.index("`irnn`") < table.index("`xavier`")  # best first: lower is better on adding-200
    chosen = tmp_path / "chosen.json"
    chosen.write_text(json.dumps({"cells": {}}))
    assert posthoc.main([str(chosen)]) == 2 and "heldout: got" in capsys.readouterr().err
    assert posthoc.main([str(tmp_path / "missing.json")]) == 2 and "not found" in capsys.readouterr().err
