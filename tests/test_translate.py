"""eigenrnn.translation and `eigenrnn translate`: batching, input policy, errors."""

from __future__ import annotations

import gzip
import io
import re
import sys

import numpy as np
import pytest
import torch

from eigenrnn.cli import main
from eigenrnn.models import Seq2Seq
from eigenrnn.tasks import multi30k
from eigenrnn.train import load_checkpoint, train
from eigenrnn.translation import SourceTruncated, normalize_sentence, translate

SUBJECTS = [("ein Mann", "a man"), ("eine Frau", "a woman"), ("ein Kind", "a child"), ("ein Hund", "a dog")]
VERBS = [("läuft", "runs"), ("schläft", "sleeps"), ("springt", "jumps"), ("isst", "eats"), ("singt", "sings")]
PLACES = [("", ""), (" im Park", " in the park"), (" am Strand", " on the beach")]
PAIRS = [(f"{s} {v}{p}.", f"{se} {ve}{pe}.") for s, se in SUBJECTS for v, ve in VERBS for p, pe in PLACES]
MAX_LEN = 12  # source limit of the fixture run, so that long lines are cut


def _sentences(n: int = 40) -> list[str]:
    """German sentences of 1 to about 40 subword tokens, in a shuffled order."""
    rng = np.random.default_rng(1)
    words = " ".join(de for de, _ in PAIRS).replace(".", "").split()
    out = [" ".join(rng.choice(words, size=int(k))) + "." for k in rng.integers(1, 14, n)]
    return out + ["Hund.", "ein Mann läuft im Park am Strand und ein Hund singt."]


@pytest.fixture(scope="module")
def tokenizer():
    return multi30k.train_tokenizer(PAIRS, vocab_size=100)


def _write_data(root):
    data = root / "multi30k"
    data.mkdir()
    order = np.random.default_rng(0).permutation(len(PAIRS))
    pairs = [PAIRS[i] for i in order]
    for stem, items in {"train": pairs[:44], "val": pairs[44:52], "test_2016_flickr": pairs[52:60]}.items():
        for lang, index in (("de", 0), ("en", 1)):
            with gzip.open(data / f"{stem}.{lang}.gz", "wt", encoding="utf-8") as fh:
                fh.write("\n".join(p[index] for p in items) + "\n")
    return data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("m30k")
    data = _write_data(root)
    out = root / "run"
    train({"task": "multi30k", "task_options": {"data_dir": str(data), "max_len": MAX_LEN}, "vocab_size": 100,
           "hidden": 16, "epochs": 2, "batch_size": 8, "lr": 1e-2, "beam_size": 1, "out": str(out)}, progress=False)
    return out


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_greedy_output_does_not_depend_on_the_batch(tokenizer, cell):
    model = Seq2Seq(tokenizer.get_vocab_size(), 0, 1, 2, cell=cell, hidden=24, seed=3).eval()
    sentences = _sentences()
    alone = [translate(model, [s], beam=1, batch_size=1, tokenizer=tokenizer)[0] for s in sentences]
    for batch_size in (5, 64):
        assert translate(model, sentences, beam=1, batch_size=batch_size, tokenizer=tokenizer) == alone
    # The untrained model rarely stops, so outputs run to their budget: each
    # sentence's own 2 * len + 10, not the longest sentence's in the batch.
    src, lengths = multi30k.encode_batch(tokenizer, sentences, add_bos=False, add_eos=True)
    ids = model.greedy(src, lengths)
    budgets = (lengths * 2 + 10).tolist()
    assert all(len(row) <= b for row, b in zip(ids, budgets))
    assert sum(len(row) == b for row, b in zip(ids, budgets)) > len(sentences) // 2
    assert len(set(budgets)) > 5
    capped = model.greedy(src, lengths, max_len=7)
    assert all(len(row) <= 7 for row in capped) and [r[:7] for r in ids] == [r[:7] for r in capped]


def test_normalisation_and_empty_lines(run_dir):
    assert normalize_sentence("Ein\tMann\u00a0läuft　im  Ｐａｒｋ. \u2028") == "Ein Mann läuft im Park."
    plain = translate(run_dir, ["ein Mann läuft im Park."])[0]
    variants = ["ein\tMann läuft im Park.", "ein\u00a0Mann läuft im Park.", " ｅｉｎ Mann läuft im Park.  "]
    assert translate(run_dir, variants + ["", "  \t"]) == [plain] * 3 + ["", ""]


def test_library_arguments(run_dir, tokenizer):
    with pytest.raises(ValueError, match="beam: got 0; expected an int >= 1"):
        translate(run_dir, ["ein Hund."], beam=0)
    with pytest.raises(ValueError, match="batch_size"):
        translate(run_dir, ["ein Hund."], batch_size=0)
    with pytest.raises(TypeError, match="sentences"):
        translate(run_dir, "ein Hund.")
    with pytest.raises(ValueError, match="sentence 2: .*undecodable"):
        translate(run_dir, ["ein Hund.", "ein Hund \udcff."])
    with pytest.raises(ValueError, match="tokenizer"):
        translate(Seq2Seq(100, 0, 1, 2, hidden=4, seed=0), ["ein Hund."])
    with pytest.warns(SourceTruncated, match="sentence 2 has 2[0-9] subword tokens; the model reads at most 12"):
        out = translate(load_checkpoint(run_dir / "best.pt"), ["ein Hund.", " ".join(["ein Hund"] * 10)])
    assert len(out) == 2


def _cli(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_input_file_is_plain_data_one_line_out_per_line_in(run_dir, tmp_path, capsys):
    lines = ["ein Mann läuft.", "", "--", "-x ein Hund", "ein\tKind\u00a0singt.", "--beam", "eine Frau isst."]
    path = tmp_path / "in.txt"
    path.write_bytes(("\r\n".join(lines)).encode("utf-8"))  # CRLF, no final newline
    status, out, err = _cli(capsys, ["translate", str(run_dir), "--input", str(path), "--batch-size", "2"])
    assert status == 0 and err == ""
    assert out.split("\n")[:-1] == translate(run_dir, lines)
    assert out.split("\n")[1] == "" and len(out.split("\n")) == len(lines) + 1


def test_stdin_and_positional_sentences(run_dir, capsys, monkeypatch):
    expected = translate(run_dir, ["-ein Hund.", "ein Mann."])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("-ein Hund.\nein Mann.\n".encode())))
    assert _cli(capsys, ["translate", str(run_dir), "--input", "-"]) == (0, "\n".join(expected) + "\n", "")
    # Sentences that start with '-' go after `--`, as the help says.
    assert _cli(capsys, ["translate", str(run_dir / "best.pt"), "--", "-ein Hund.", "ein Mann."])[1].splitlines() == expected


def test_options_may_sit_between_the_run_and_the_sentences(run_dir, capsys):
    expected = translate(run_dir, ["ein Mann.", "ein Hund."], beam=1)
    for argv in (["translate", str(run_dir), "--beam", "1", "ein Mann.", "ein Hund."],
                 ["translate", str(run_dir), "ein Mann.", "--beam", "1", "ein Hund."],
                 ["translate", "--beam", "1", str(run_dir), "ein Mann.", "ein Hund."]):
        assert _cli(capsys, argv) == (0, "\n".join(expected) + "\n", ""), argv
    assert _cli(capsys, ["translate", str(run_dir), "--beam", "0", "ein Mann."])[0] == 2


def test_a_missing_run_is_the_only_argument_named(capsys):
    # --input can stand for the sentences, so the usage error must not ask for them.
    with pytest.raises(SystemExit) as stop:
        main(["translate", "--beam", "1"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().endswith("the following arguments are required: checkpoint")


def test_truncation_warning_names_the_line(run_dir, tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("ein Hund.\n" + " ".join(["ein Hund"] * 10) + "\n", encoding="utf-8")
    status, out, err = _cli(capsys, ["translate", str(run_dir), "--input", str(path)])
    assert status == 0 and len(out.splitlines()) == 2
    assert err.count("warning") == 1 and "line 2 has" in err and "at most 12" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["ein Hund.", "--beam", "0"], "--beam: got 0; expected an int >= 1"),
        (["ein Hund.", "--batch-size", "0"], "--batch-size: got 0"),
        ([], "at least one sentence, or --input"),
        (["ein Hund.", "--input", "-"], "not both"),
        (["--input", "/nonexistent/in.txt"], "--input /nonexistent/in.txt: cannot read it"),
        (["ein Hund.", "ein \udcff Hund."], "sentence 2"),
    ],
)
def test_cli_errors_are_one_line(run_dir, capsys, extra, message):
    status, out, err = _cli(capsys, ["translate", str(run_dir), *extra])
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_non_utf8_byte_names_its_line(run_dir, tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes("ein Hund.\nein Mann.\nein Kind läuft.\n".encode("latin-1"))
    status, out, err = _cli(capsys, ["translate", str(run_dir), "--input", str(path)])
    assert status == 2
    assert "line 3 is not UTF-8 (byte 0xe4" in err and "Traceback" not in err
    assert out == ""  # the whole input is checked before any output


def test_training_shows_progress_while_decoding_for_bleu(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    train({"task": "multi30k", "task_options": {"data_dir": str(_write_data(tmp_path))}, "vocab_size": 100,
           "hidden": 8, "epochs": 1, "batch_size": 8, "eval_batch_size": 2, "beam_size": 2, "out": str(tmp_path / "r")},
          progress=True)
    shown = term.getvalue()
    assert "final evaluation: decoding 8 test sentences with beam 2" in shown
    assert "val BLEU" in shown and re.search(r"test BLEU \(beam 2\):.*\d/8", shown)


def test_normalisation_leaves_the_real_training_text_alone_but_for_the_documented_lines(shared_data):
    pairs = multi30k.load("train", shared_data / "multi30k", download=False)
    changed_de = [de for de, _ in pairs if normalize_sentence(de) != de]
    changed_en = [en for _, en in pairs if normalize_sentence(en) != en]
    assert len(changed_de) == 129 and len(changed_en) == 1  # as the eigenrnn.translation docstring states
    assert sum("\u00a0" in de for de in changed_de) == 44
    # Only whitespace changes: NFKC leaves every other character of the corpus as it is.
    assert all(normalize_sentence(s) == " ".join(s.split()) for s in changed_de + changed_en)
