"""Named initializer variants in the benchmark: parsing, planning, the run record, the report."""

from __future__ import annotations

import json

import pytest
import scipy.stats
import torch

import eigenrnn.init
from eigenrnn.bench import profiles, variants
from eigenrnn.bench.tables import aggregate, write_report
from eigenrnn.bench.runner import inapplicable
from eigenrnn.bench.stats import load_runs
from eigenrnn.bench.variants import HORIZON, Variant, identify, parse
from eigenrnn.cli import main
from eigenrnn.init import schemes
from eigenrnn.tasks import get_task
from eigenrnn.train import TrainConfig, train
from eigenrnn.train.build import ModelSpec, build_model

needs_horizon = pytest.mark.skipif(not parse("eigen:horizon").supported,
                                   reason="init_rnn(..., horizon=T) is not in this version (issue 12 item 1)")
needs_chrono = pytest.mark.skipif(not parse("xavier+chrono").supported,
                                  reason="init_rnn(..., bias='chrono', horizon=T) is not in this version (issue 12 item 3)")
needs_calibration = pytest.mark.skipif(
    not (hasattr(eigenrnn.init, "calibrate_") and "calibrate" in TrainConfig.field_names()),
    reason="eigenrnn.init.calibrate_ and TrainConfig.calibrate are not in this version (issue 12 item 2)")


@pytest.fixture
def registered(monkeypatch):
    """Register extra variants for one test (the parse cache is cleared around it)."""
    variants._parse.cache_clear()

    def add(variant: Variant) -> None:
        monkeypatch.setitem(variants.VARIANTS, variant.name, variant)
        variants._parse.cache_clear()

    yield add
    variants._parse.cache_clear()


# ---------------------------------------------------------------- names


def test_plain_named_and_adhoc_names():
    assert parse("orthogonal") == Variant("orthogonal", "orthogonal")
    v = parse("eigen:regression")
    assert (v.scheme, dict(v.init_kwargs), v.calibrate) == ("eigen", {"preset": "regression"}, None)
    cal = parse("orthogonal+cal")
    assert (cal.scheme, dict(cal.init_kwargs), cal.calibrate) == ("orthogonal", {}, "jacobian_radius=1.0")
    assert cal.needs == ("calibrate_ and TrainConfig.calibrate",)
    chrono = parse("xavier+chrono")
    assert chrono.init_kwargs == {"bias": "chrono", "horizon": HORIZON} and chrono.cells == ("lstm", "gru")
    assert parse("eigen:horizon").resolve(196) == {"init": "eigen", "init_kwargs": {"horizon": 196}}
    assert parse("eigen:horizon+cal").resolve(31) == {
        "init": "eigen", "init_kwargs": {"horizon": 31}, "calibrate": "jacobian_radius=1.0"}
    adhoc = parse(" eigen{ preset = regression , nonnormality=0.5} ")
    assert adhoc.name == "eigen{nonnormality=0.5,preset=regression}"
    assert adhoc.init_kwargs == {"preset": "regression", "nonnormality": 0.5}
    assert parse(adhoc.name) == adhoc
    # A named variant can be extended, and the calibration set ad hoc.
    assert parse("eigen:regression{nonnormality=1}").init_kwargs == {"preset": "regression", "nonnormality": 1}
    assert parse("orthogonal{calibrate=gradient_decay=0.5}").calibrate == "gradient_decay=0.5"
    assert parse("xavier{gain=2}").init_kwargs == {"gain": 2}
    ring = parse('eigen{spectrum={"radius": [0.9, 1.0], "distribution": "ring"}}')  # JSON values may nest
    assert ring.init_kwargs == {"spectrum": {"radius": [0.9, 1.0], "distribution": "ring"}}
    assert ring.name == 'eigen{spectrum={"distribution":"ring","radius":[0.9,1.0]}}' and parse(ring.name) == ring
    assert set(variants.names()) == set(schemes()) | set(variants.VARIANTS)


def test_bad_names_say_what_is_allowed():
    with pytest.raises(ValueError, match="inits: got 'eigen:nope'") as info:
        parse("eigen:nope")
    for name in ("xavier", "eigen:horizon", "orthogonal+cal", "xavier+chrono", "NAME{key=value"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="keyword arguments that init_rnn takes"):
        parse("xavier{alpha=2}")  # chain's keyword, not xavier's
    with pytest.raises(ValueError, match="identifier keys"):
        parse("xavier{gain}")
    with pytest.raises(ValueError, match="each key once"):
        parse("xavier{gain=1,gain=2}")
    with pytest.raises(ValueError, match=r"inits: got \['xavier\{gain=2\}'\]; expected each scheme or variant once"):
        profiles.grid("tomita", "smoke", inits=["xavier{gain=2}", "xavier{ gain = 2 }"])
    with pytest.raises(ValueError, match="balanced braces"):
        variants.split("xavier{gain=2")
    with pytest.raises(ValueError, match="--inits: got ' , '"):
        variants.split(" , ")
    assert variants.split("a,b{x=[1, 2],y=3},c") == ["a", "b{x=[1, 2],y=3}", "c"]


def test_an_unsupported_variant_is_refused_naming_what_is_missing(monkeypatch):
    variants._parse.cache_clear()
    monkeypatch.setitem(variants.FEATURES, "calibrate_ and TrainConfig.calibrate", lambda: False)
    with pytest.raises(ValueError, match=r"variant: got 'orthogonal\+cal'.*lacks calibrate_ and TrainConfig.calibrate"):
        profiles.grid("tomita", "smoke", inits=["xavier", "orthogonal+cal"])
    monkeypatch.setitem(variants.FEATURES, "init_rnn(horizon=...)", lambda: False)
    assert "xavier+chrono" not in profiles.default_inits()
    monkeypatch.setitem(variants.FEATURES, "init_rnn(horizon=...)", lambda: True)
    assert profiles.default_inits() == (*schemes(), "xavier+chrono")


# ---------------------------------------------------------------- horizons and the grid


def test_task_horizon_is_the_longest_training_input():
    for name, options in (("adding", {"length": 37}), ("sine", {"length": 20}), ("mackey-glass", {"length": 25}),
                          ("copy", {"delay": 9, "copy_len": 3})):
        task = get_task(name, **options)
        assert task.horizon == task.example_inputs(2).shape[0]
    tomita = get_task("tomita4", per_length=4)
    assert tomita.horizon == int(tomita.build(seed=0).splits["train"].lengths.max()) == 31
    assert get_task("mnist14").horizon == get_task("pmnist14").horizon == 196 and get_task("pmnist").horizon == 784
    assert get_task("multi30k", max_len=50).horizon == 50


def test_grid_resolves_the_horizon_of_each_task(registered):
    # A stand-in variant whose keyword takes the horizon, with a keyword init_rnn has today.
    registered(Variant("chain:T", "chain", {"alpha": HORIZON}))
    specs = profiles.grid("all", "smoke", inits=["xavier", "chain:T", "xavier{gain=2}"])
    by_scheme = {}
    for s in specs:
        by_scheme.setdefault(s.init, []).append(s)
        assert s.path == f"{s.suite}/{s.task}/{s.cell}/{s.init}/seed{s.seed}"
    assert {s.config["init"] for s in by_scheme["chain:T"]} == {"chain"}
    horizons = {s.task: s.config["init_kwargs"]["alpha"] for s in by_scheme["chain:T"]}
    assert horizons == {"tomita4": 31, "sine": 20}  # tomita: start symbol + up to 30; sine: the smoke length
    assert {json.dumps(s.config["init_kwargs"]) for s in by_scheme["xavier{gain=2}"]} == {'{"gain": 2}'}
    assert all("calibrate" not in s.config for s in specs)
    # Every variant gets the same budget: the configs differ in the init fields only.
    rest = {}
    for s in specs:
        rest.setdefault((s.task, s.cell, s.seed), []).append(
            {k: v for k, v in s.config.items() if k not in ("init", "init_kwargs")})
    assert all(len(c) == 3 and c[0] == c[1] == c[2] for c in rest.values())
    assert inapplicable(specs) == {}


def test_cells_a_variant_does_not_apply_to_are_not_run(registered):
    registered(Variant("xavier:lstm-only", "xavier", {}, cells=("lstm",)))
    specs = profiles.grid("tomita", "cpu", inits=["xavier:lstm-only", "xavier{forget_bias=1.0}"], seeds=1)
    excluded = inapplicable(specs)
    expected = {}
    for s in specs:  # ground truth: the variant's cells, and init_rnn itself (forget_bias is LSTM only)
        if s.init == "xavier:lstm-only" and s.cell != "lstm":
            expected[s.path] = f"xavier:lstm-only applies to cells lstm only, not {s.cell}"
        elif s.init.startswith("xavier{") and s.cell != "lstm":
            module = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}[s.cell](1, s.config["hidden"])
            with pytest.raises(ValueError) as info:
                eigenrnn.init.init_rnn(module, "xavier", forget_bias=1.0)
            expected[s.path] = str(info.value)
    assert excluded == expected and len(expected) == 4 * 7


@needs_chrono
def test_chrono_is_a_baseline_of_gated_cells():
    specs = profiles.grid("tomita", "cpu", seeds=1)
    chrono = [s for s in specs if s.init == "xavier+chrono"]
    assert {s.cell for s in chrono} == set(profiles.CELLS)
    assert all(s.config["init_kwargs"] == {"bias": "chrono", "horizon": 31} for s in chrono)
    excluded = inapplicable(chrono)
    assert set(excluded) == {s.path for s in chrono if s.cell == "rnn"}


@needs_horizon
def test_eigen_horizon_plans_and_initializes():
    specs = profiles.grid("mnist", "cpu", inits=["eigen:horizon"], seeds=1)
    assert all(s.config["init_kwargs"] == {"horizon": 196} for s in specs)
    assert inapplicable(specs) == {}


@needs_calibration
def test_calibrated_variants_validate_and_carry_their_calibration(tmp_path):
    from eigenrnn.bench.runner import validate

    specs = profiles.grid("regression", "smoke", inits=["orthogonal+cal", "eigen:horizon+cal"])
    assert all(s.config["calibrate"] == "jacobian_radius=1.0" for s in specs)
    validate(specs, tmp_path)
    assert all(TrainConfig.from_dict(s.config_for(tmp_path)).calibrate == "jacobian_radius=1.0" for s in specs)


# ---------------------------------------------------------------- the run record


def _round_trip(tmp_path, name):
    """Plan ``name``, train it for real, and rebuild it from its config.json; returns the two models' weights."""
    [spec] = profiles.grid("tomita", "smoke", inits=[name], cells=["gru"])
    config = {**spec.config_for(tmp_path), "hidden": 16}
    train(config, progress=False)
    record = TrainConfig.from_json(tmp_path / spec.path / "config.json")
    assert identify(record) == spec.init == parse(name).name
    resolved = parse(identify(record)).resolve(get_task(record.task, **record.task_options).horizon)
    assert resolved == {k: getattr(record, k) for k in resolved} and resolved["init"] == record.init
    if "calibrate" not in resolved:
        assert getattr(record, "calibrate", None) is None
    model_spec = ModelSpec(get_task("tomita4").input_spec, 2, "last")
    rebuilt = build_model(record, model_spec).state_dict()
    planned = build_model(TrainConfig.from_dict(config), model_spec).state_dict()
    assert rebuilt.keys() == planned.keys() and all(torch.equal(rebuilt[k], planned[k]) for k in rebuilt)
    return record, rebuilt, model_spec


def test_a_variant_round_trips_through_a_run_record(tmp_path):
    record, rebuilt, model_spec = _round_trip(tmp_path, "xavier{gain=2}")
    assert (record.init, record.init_kwargs) == ("xavier", {"gain": 2})
    # The keyword really reaches init_rnn: gain 2 doubles the recurrent Xavier draws of the same seed
    # (the input blocks keep the plain Xavier draw).
    plain = build_model(record.replace(init_kwargs={}), model_spec).state_dict()
    torch.testing.assert_close(rebuilt["rnn.weight_hh_l0"], 2 * plain["rnn.weight_hh_l0"])
    assert torch.equal(rebuilt["rnn.weight_ih_l0"], plain["rnn.weight_ih_l0"])


@pytest.mark.parametrize("name", ["eigen:regression", "eigen:horizon", "xavier+chrono", "orthogonal+cal",
                                  "eigen:horizon+cal"])
def test_named_variants_round_trip_through_a_run_record(tmp_path, name):
    if not parse(name).supported:
        pytest.skip(f"{name} needs what this version lacks: {', '.join(parse(name).needs)} (issue 12)")
    record, rebuilt, _ = _round_trip(tmp_path, name)
    assert record.init_kwargs == parse(name).resolve(31)["init_kwargs"]  # tomita's horizon


def test_identify_names_planned_configs(registered):
    registered(Variant("chain:T", "chain", {"alpha": HORIZON}))
    for name in ("xavier", "eigen:regression", "chain:T", "eigen{nonnormality=0.5,preset=regression}"):
        for spec in profiles.grid("all", "smoke", inits=[name], cells=["gru"]):
            assert identify(TrainConfig.from_dict(spec.config_for("x"))) == name
    # Keyword arguments no named variant has get the canonical ad-hoc name.
    config = {"task": "sine", "init": "chain", "init_kwargs": {"alpha": 3}}
    assert identify(config) == "chain{alpha=3}" and parse("chain{alpha=3}").resolve(100)["init_kwargs"] == {"alpha": 3}


# ---------------------------------------------------------------- the report


def _finished_sweep(root, values):
    """Summaries of a finished sweep: ``values[scheme][seed]`` is the test accuracy."""
    for scheme, accuracies in values.items():
        for seed, accuracy in enumerate(accuracies):
            run = root / "tomita" / "tomita4" / "gru" / scheme / f"seed{seed}"
            run.mkdir(parents=True)
            (run / "summary.json").write_text(json.dumps({
                "task": "tomita4", "cell": "gru", "init": parse(scheme).scheme, "seed": seed,
                "status": "finished", "metric_name": "accuracy", "higher_is_better": True,
                "test_metric": accuracy, "generalisation_metric": None, "best_val_metric": accuracy,
                "target": None, "epochs_to_target": None, "steps_to_target": None,
                "epochs": 1, "steps": 10, "wall_time_s": 1.0}))


def test_report_gives_each_variant_its_own_row_and_pairs(tmp_path):
    values = {
        "eigen": [0.90, 0.80, 0.85, 0.70, 0.95, 0.60],
        "xavier{gain=2}": [0.50, 0.55, 0.52, 0.58, 0.61, 0.40],
        "eigen:regression": [0.91, 0.70, 0.86, 0.72, 0.90, 0.66],
        "xavier": [0.60, 0.80, 0.70, 0.75, 0.85, 0.30],
    }
    _finished_sweep(tmp_path / "sweep", values)
    records, _ = load_runs(tmp_path / "sweep")
    assert {r.init for r in records} == set(values)
    numbers = aggregate(records)
    task = numbers["families"]["tomita"]["per_task"]["tomita4"]
    assert numbers["families"]["tomita"]["schemes"] == ["xavier", "eigen", "eigen:regression", "xavier{gain=2}"]
    table = task["metrics"]["test_metric"]["table"]
    for scheme, accuracies in values.items():
        assert table[scheme]["gru"]["n"] == 6
        assert table[scheme]["gru"]["mean"] == pytest.approx(sum(accuracies) / 6)
    paired = task["metrics"]["test_metric"]["paired"]
    assert set(paired) == {"xavier", "eigen:regression", "xavier{gain=2}"}
    for baseline in paired:
        pairs = list(zip(values["eigen"], values[baseline]))
        got = paired[baseline]["gru"]
        assert (got["wins"], got["losses"]) == (sum(a - b > 0.01 * max(a, b) for a, b in pairs),
                                                sum(b - a > 0.01 * max(a, b) for a, b in pairs))
        assert got["p_value"] == pytest.approx(scipy.stats.wilcoxon(values["eigen"], values[baseline],
                                                                    zero_method="zsplit").pvalue)
    write_report(tmp_path / "sweep", tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    for scheme in values:
        assert f"| {scheme} |" in md

    # Any variant can be the reference that the others are paired against.
    assert main(["report", str(tmp_path / "sweep"), "--out", str(tmp_path / "r2"), "--reference", "eigen:regression"]) == 0
    numbers = json.loads((tmp_path / "r2" / "report.json").read_text())
    paired = numbers["families"]["tomita"]["per_task"]["tomita4"]["metrics"]["test_metric"]["paired"]
    assert numbers["reference"] == "eigen:regression" and set(paired) == {"xavier", "eigen", "xavier{gain=2}"}
    wins = sum(a - b > 0.01 * max(a, b) for a, b in zip(values["eigen:regression"], values["eigen"]))
    assert paired["eigen"]["gru"]["wins"] == wins
    assert "tomita4: eigen:regression vs baselines" in (tmp_path / "r2" / "report.md").read_text()
    with pytest.raises(ValueError, match="reference: got 'orthogonal'.*eigen, eigen:regression, xavier"):
        write_report(tmp_path / "sweep", tmp_path / "r3", reference="orthogonal")


def test_bench_cli_takes_variants(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--suite", "regression", "--profile", "smoke", "--out", str(out), "--dry-run",
            "--inits", "xavier,eigen{preset=regression,nonnormality=0.5},eigen:regression"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "regression: 6 runs (6 new" in printed and not out.exists()
    assert "variant eigen:regression on sine: init='eigen', init_kwargs={'preset': 'regression'}" in printed
    assert "variant xavier on" not in printed
    assert main([*argv[:-1], "xavier,eigen:typo"]) == 2
    err = capsys.readouterr().err
    assert "inits: got 'eigen:typo'" in err and "orthogonal+cal" in err


def test_the_docs_list_the_variants():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "TRAINING.md").read_text(encoding="utf-8")
    assert variants.markdown() in text
