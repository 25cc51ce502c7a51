from __future__ import annotations

import gzip
import json
import os
import pickle
import signal

import numpy as np
import pytest
import torch
from torch import nn

from eigenrnn.errors import CheckpointError, EigenRNNError, TrainingDiverged
from eigenrnn.init import init_rnn
from eigenrnn.train import TrainConfig, load_checkpoint, train
from eigenrnn.train.build import seeds
from eigenrnn.train.trainer import SUMMARY_KEYS

TINY = {"task": "tomita4", "hidden": 8, "epochs": 3, "batch_size": 32, "lr": 1e-2,
        "train_size": 200, "val_size": 60, "test_size": 60, "task_options": {"per_length": 20}}


def _history(result):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in result.history]


def _losses_fell(result):
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < losses[0], losses


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def mnist_dir(tmp_path, monkeypatch):
    """A tiny mnist.pkl.gz whose digit is drawn as a bright band of rows (learnable in seconds)."""
    monkeypatch.setenv("EIGENRNN_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)

    def split(n):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        for i, d in enumerate(labels):
            images[i, 2 + 2 * d : 4 + 2 * d, :] = 255
        return (images.reshape(n, 784) / 256.0).astype(np.float32), labels.astype(np.int64)

    directory = tmp_path / "mnist"
    directory.mkdir()
    with gzip.open(directory / "mnist.pkl.gz", "wb") as fh:
        pickle.dump((split(240), split(60), split(60)), fh)
    return directory


@pytest.fixture
def multi30k_dir(tmp_path):
    """Tiny German-English pairs in the raw Multi30k file layout."""
    subjects = [("ein Mann", "a man"), ("eine Frau", "a woman"), ("ein Kind", "a child"), ("ein Hund", "a dog")]
    verbs = [("läuft", "runs"), ("schläft", "sleeps"), ("springt", "jumps"), ("isst", "eats"), ("singt", "sings")]
    places = [("", ""), (" im Park", " in the park"), (" am Strand", " on the beach")]
    pairs = [(f"{s} {v}{p}.", f"{se} {ve}{pe}.") for s, se in subjects for v, ve in verbs for p, pe in places]
    order = np.random.default_rng(0).permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    parts = {"train": pairs[:44], "val": pairs[44:52], "test_2016_flickr": pairs[52:60]}
    directory = tmp_path / "multi30k"
    directory.mkdir()
    for stem, items in parts.items():
        for lang, index in (("de", 0), ("en", 1)):
            with gzip.open(directory / f"{stem}.{lang}.gz", "wt", encoding="utf-8") as fh:
                fh.write("\n".join(p[index] for p in items) + "\n")
    return directory


# ---------------------------------------------------------------- end to end

def test_tomita_run_writes_a_complete_run_directory(tmp_path):
    out = tmp_path / "run"
    result = train({**TINY, "out": str(out)}, progress=False)
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "best.pt", "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["status"] == "finished" and summary["diverged"] is False
    assert summary["metric_name"] == "accuracy" and summary["higher_is_better"] is True
    assert summary["target"] == {"metric": "accuracy", "value": 1.0, "split": "train"}
    assert summary["generalisation_metric"] is not None and 0 <= summary["test_metric"] <= 1
    assert summary["epochs"] == 3 and summary["device"] == "cpu"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    saved = json.loads((out / "config.json").read_text())
    assert saved == TrainConfig.from_dict({**TINY, "out": str(out)}).resolve().to_dict()
    assert saved["device"] == "cpu" and saved["amp"] is False and saved["data_seed"] == 0
    _losses_fell(result)
    assert result.best_val_metric == max(r["val_metric"] for r in result.history)


def test_mnist14_run_learns(tmp_path, mnist_dir):
    result = train({"task": "mnist14", "task_options": {"data_dir": str(mnist_dir)}, "hidden": 16, "epochs": 3,
                    "batch_size": 40, "lr": 1e-2, "out": str(tmp_path / "r")}, progress=False)
    _losses_fell(result)
    assert result.test_metric is not None and result.generalisation_metric is None


@pytest.mark.parametrize(
    "task, options",
    [("adding", {"length": 10}), ("sine", {"length": 20}), ("copy", {"delay": 4, "copy_len": 3})],
)
def test_synthetic_runs_learn(tmp_path, task, options):
    result = train({"task": task, "task_options": options, "hidden": 16, "epochs": 3, "batch_size": 20,
                    "lr": 1e-2, "train_size": 300, "val_size": 50, "test_size": 50, "out": str(tmp_path / "r")},
                   progress=False)
    _losses_fell(result)
    assert result.higher_is_better is (task == "copy")


def test_multi30k_run_learns_saves_its_tokenizer_and_translates(tmp_path, multi30k_dir):
    out = tmp_path / "r"
    result = train({"task": "multi30k", "task_options": {"data_dir": str(multi30k_dir)}, "vocab_size": 120,
                    "hidden": 32, "epochs": 4, "batch_size": 8, "lr": 1e-2, "beam_size": 2, "out": str(out)},
                   progress=False)
    _losses_fell(result)
    assert result.metric_name == "bleu" and 0 <= result.test_metric <= 100
    assert (out / "tokenizer.json").is_file()
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt.tokenizer is not None and ckpt.tokenizer.get_vocab_size() == ckpt.spec.input_spec.size
    from eigenrnn.cli.translate import translate

    (text,) = translate(ckpt, ["ein Hund läuft."], beam=2)
    assert isinstance(text, str)


# ---------------------------------------------------------------- initialization is not redone

def test_training_starts_from_the_init_rnn_weights(tmp_path):
    seen = {}

    class Capture:
        def on_train_start(self, trainer):
            seen.update({k: v.detach().clone() for k, v in trainer.model.rnn.named_parameters()})

    cfg = {**TINY, "init": "eigen", "hidden": 6, "epochs": 1, "out": str(tmp_path / "r")}
    train(cfg, callbacks=[Capture()], progress=False)
    g = torch.Generator().manual_seed(seeds(0)[0])
    torch.empty(4, 6).normal_(generator=g)  # the token embedding is drawn first
    reference = init_rnn(nn.GRU(6, 6), "eigen", generator=g)
    for name, p in reference.named_parameters():
        torch.testing.assert_close(seen[name], p.detach(), rtol=0, atol=0, msg=name)


# ---------------------------------------------------------------- determinism and resume

def test_same_config_same_results(tmp_path):
    a = train({**TINY, "epochs": 2, "out": str(tmp_path / "a")}, progress=False)
    b = train({**TINY, "epochs": 2, "out": str(tmp_path / "b")}, progress=False)
    assert _history(a) == _history(b) and a.test_metric == b.test_metric


def test_resume_after_ctrl_c_mid_epoch_equals_uninterrupted(tmp_path):
    cfg = {**TINY, "lr_schedule": "cosine", "eval_every": 4}
    full = train({**cfg, "out": str(tmp_path / "full")}, progress=False)

    class CtrlC:
        def on_step_end(self, trainer, step):
            if step == 9:  # mid epoch 2 (7 batches per epoch)
                os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train({**cfg, "out": str(out)}, callbacks=[CtrlC()], progress=False)
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 9 and saved["epoch"] == 1 and saved["trainer"]["epoch_state"]["batch"] == 2
    assert not (out / "summary.json").exists()
    resumed = train({**cfg, "out": str(out)}, resume=True, progress=False)
    assert _history(resumed) == _history(full)
    assert resumed.summary() | {"wall_time_s": 0, } == full.summary() | {"wall_time_s": 0}
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_resume_can_extend_the_epochs(tmp_path):
    full = train({**TINY, "out": str(tmp_path / "full")}, progress=False)
    out = str(tmp_path / "short")
    train({**TINY, "epochs": 1, "out": out}, progress=False)
    longer = train({**TINY, "out": out}, resume=True, progress=False)
    assert _history(longer) == _history(full)
    assert len((tmp_path / "short" / "metrics.jsonl").read_text().splitlines()) == 3


def test_resume_refuses_a_different_config_and_a_missing_checkpoint(tmp_path):
    out = str(tmp_path / "r")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train({**TINY, "out": out}, resume=True, progress=False)
    train({**TINY, "epochs": 1, "out": out}, progress=False)
    with pytest.raises(ValueError, match="hidden: 8 -> 9"):
        train({**TINY, "hidden": 9, "out": out}, resume=True, progress=False)
    with pytest.raises(EigenRNNError, match="already holds a run"):
        train({**TINY, "out": out}, progress=False)


# ---------------------------------------------------------------- divergence

def test_nan_loss_stops_with_diverged_summary_and_keeps_last_good_checkpoint(tmp_path, tamper_loss):
    def poisoned(loss, stats):
        stats[0] = float("nan")
        return loss * float("nan"), stats

    tamper_loss(10, poisoned)  # in epoch 2
    out = tmp_path / "r"
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 2.*last good checkpoint is kept at"):
        train({**TINY, "out": str(out)}, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged"] is True and summary["test_metric"] is None
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.payload["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in ckpt.model.parameters())


def test_huge_learning_rate_diverges_cleanly(tmp_path):
    cfg = {"task": "adding", "task_options": {"length": 10}, "cell": "rnn", "nonlinearity": "relu", "init": "irnn",
           "init_kwargs": {"gain": 3.0}, "hidden": 32, "epochs": 2, "lr": 1e6, "optimizer": "sgd", "clip": None,
           "train_size": 100, "val_size": 20, "test_size": 20, "out": str(tmp_path / "r")}
    with pytest.raises(TrainingDiverged, match="no epoch had finished, so there is no checkpoint"):
        train(cfg, progress=False)
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "diverged"


# ---------------------------------------------------------------- checkpoints

def test_load_checkpoint_rebuilds_the_model(tmp_path):
    out = tmp_path / "r"
    result = train({**TINY, "epochs": 2, "out": str(out)}, progress=False)
    ckpt = load_checkpoint(out / "best.pt")
    assert not ckpt.model.training and ckpt.config.task == "tomita4"
    data = __import__("eigenrnn.tasks", fromlist=["get_task"]).get_task("tomita4", per_length=20).build(0, test_size=60)
    batch = data.splits["test"]
    pred = ckpt.model(batch.x, batch.lengths).argmax(-1)
    assert float((pred == batch.y).float().mean()) == pytest.approx(result.test_metric)


def test_corrupt_checkpoints_are_refused(tmp_path):
    out = tmp_path / "r"
    train({**TINY, "epochs": 1, "out": str(out)}, progress=False)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((out / "checkpoint.pt").read_bytes()[:2000])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    for path, match in ((junk, "not a readable"), (truncated, "not a readable"), (foreign, "not an eigenrnn checkpoint"),
                        (tmp_path / "missing.pt", "not found")):
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint(path)


# ---------------------------------------------------------------- stopping rules, schedules, callbacks

def test_stop_at_target_records_steps_to_target(tmp_path):
    result = train({**TINY, "epochs": 5, "target": 0.6, "stop_at_target": True, "eval_every": 2,
                    "out": str(tmp_path / "r")}, progress=False)
    assert result.stop_reason == "target" and result.steps_to_target is not None
    assert result.steps_to_target % 2 == 0 or result.steps_to_target == result.history[0]["step"]
    assert result.epochs_to_target == result.epochs


def test_early_stopping(tmp_path):
    result = train({**TINY, "epochs": 6, "lr": 1e-9, "early_stopping_patience": 2, "out": str(tmp_path / "r")},
                   progress=False)
    assert result.stop_reason == "early_stopping" and result.epochs == 3 and result.best_epoch == 1


@pytest.mark.parametrize("schedule, optimizer", [("step", "sgd"), ("plateau", "rmsprop"), ("cosine", "adam")])
def test_schedules_and_optimizers(tmp_path, schedule, optimizer):
    extra = {"lr_step_size": 1} if schedule == "step" else {}
    result = train({**TINY, "lr_schedule": schedule, "optimizer": optimizer, "lr": 0.1 if optimizer == "sgd" else 1e-2,
                    **extra, "out": str(tmp_path / "r")}, progress=False)
    lrs = [r["lr"] for r in result.history]
    if schedule == "step":
        assert lrs == pytest.approx([0.1, 0.01, 0.001])
    if schedule == "cosine":
        assert lrs[0] > lrs[1] > lrs[2]


def test_callbacks_see_the_trainer(tmp_path):
    events = []

    class Spy:
        def on_train_start(self, t):
            events.append(("start", t.step, t.epoch, t.run_dir.name, t.config.hidden))

        def on_step_end(self, t, step):
            assert step == t.step
            events.append(("step", step))

        def on_epoch_end(self, t, epoch, metrics):
            events.append(("epoch", epoch, metrics["step"]))

        def on_train_end(self, t):
            events.append(("end", t.epoch))

    train({**TINY, "epochs": 2, "out": str(tmp_path / "r")}, callbacks=[Spy()], progress=False)
    assert events[0] == ("start", 0, 0, "r", 8)
    assert [e for e in events if e[0] == "epoch"] == [("epoch", 1, 7), ("epoch", 2, 14)]
    assert sum(e[0] == "step" for e in events) == 14 and events[-1] == ("end", 2)
    with pytest.raises(TypeError, match="none of the hooks"):
        train({**TINY, "out": str(tmp_path / "x")}, callbacks=[object()], progress=False)


def test_spectrum_tracking_writes_spectra(tmp_path):
    analysis = pytest.importorskip("eigenrnn.analysis")
    if not hasattr(analysis, "SpectrumTracker"):
        pytest.skip("eigenrnn.analysis.SpectrumTracker not available yet")
    out = tmp_path / "r"
    train({**TINY, "epochs": 1, "track_spectrum_every": 3, "out": str(out)}, progress=False)
    assert (out / "spectra.npz").is_file()


# ---------------------------------------------------------------- config

def test_config_rejects_unknown_keys_and_names_the_valid_ones():
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"task": "tomita1", "hiden": 3})
    assert "'hiden'" in str(info.value) and "hidden" in str(info.value) and "batch_size" in str(info.value)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"cell": "transformer"}, "cell: got 'transformer'; expected one of rnn, lstm, gru"),
        ({"init": "magic"}, "init: got 'magic'"),
        ({"task": "tomita9"}, "task: got 'tomita9'"),
        ({"lr": -1.0}, "lr: got -1.0"),
        ({"hidden": "big"}, "hidden: got 'big'"),
        ({"hidden": True}, "hidden: got True"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"momentum": 0.9}, "momentum.*adam"),
        ({"vocab_size": 100}, "vocab_size.*multi30k only"),
        ({"beam_size": 3}, "beam_size: got 3; expected None for task 'tomita1' \\(multi30k only\\)"),
        ({"lr_step_size": 2}, "lr_step_size"),
        ({"cell": "lstm", "nonlinearity": "relu"}, "nonlinearity"),
        ({"clip": 0.0}, "clip"),
        ({"device": "tpu"}, "device"),
        ({"embedding_dim": 4, "task": "adding"}, "embedding_dim"),
    ],
)
def test_config_validates_values(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_dict({"task": "tomita1", **changes})


def test_config_resolution_and_json_round_trip(tmp_path):
    cfg = TrainConfig(task="multi30k", lr=1)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    resolved = cfg.resolve()
    assert resolved.vocab_size == 8000 and resolved.beam_size == 5 and resolved.task_options["max_len"] == 64
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(task="tomita1", device="cpu", amp=True).resolve()
    path = tmp_path / "c.json"
    path.write_text(json.dumps(resolved.to_dict()))
    assert TrainConfig.from_json(path) == resolved
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable JSON config"):
        TrainConfig.from_json(path)


def test_spectrum_init_kwargs_survive_config_json_and_resume(tmp_path):
    from eigenrnn.spectrum import Spectrum

    cfg = {**TINY, "init": "eigen", "epochs": 1, "out": str(tmp_path / "r"),
           "init_kwargs": {"spectrum": Spectrum(radius=(0.9, 0.95), max_phase=0.5)}}
    train(cfg, progress=False)
    saved = TrainConfig.from_json(tmp_path / "r" / "config.json")
    assert saved == TrainConfig.from_dict(cfg).resolve()
    assert saved.init_kwargs["spectrum"]["radius"] == [0.9, 0.95]
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ckpt.config == saved
    train({**cfg, "epochs": 2}, resume=True, progress=False)
    with pytest.raises(ValueError, match="init_kwargs.gain"):
        TrainConfig.from_dict({"task": "tomita1", "init_kwargs": {"gain": torch.tensor(1.0)}})


def test_multi30k_resume_reuses_the_saved_tokenizer(tmp_path, multi30k_dir):
    cfg = {"task": "multi30k", "task_options": {"data_dir": str(multi30k_dir)}, "vocab_size": 100, "hidden": 16,
           "epochs": 2, "batch_size": 16, "lr": 1e-2, "beam_size": 1}
    full = train({**cfg, "out": str(tmp_path / "full")}, progress=False)
    out = tmp_path / "cut"
    train({**cfg, "epochs": 1, "out": str(out)}, progress=False)
    text = (out / "tokenizer.json").read_text()
    resumed = train({**cfg, "out": str(out)}, resume=True, progress=False)
    assert _history(resumed) == _history(full) and resumed.test_metric == full.test_metric
    assert (out / "tokenizer.json").read_text() == text
