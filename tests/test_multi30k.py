from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import torch

from eigenrnn.errors import DataError
from eigenrnn.tasks import DATA_SPLITS, multi30k
from eigenrnn.tasks.download import checkout_data_dir

GERMAN = [
    "Ein Mann fährt Fahrrad.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau liest ein Buch im Park.",
    "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.",
    "Mehrere Männer mit Schutzhelmen bedienen ein großes System.",
    "Ein Junge springt über einen Zaun.",
]
ENGLISH = [
    "A man rides a bike.",
    "Two dogs are playing in the snow.",
    "A woman is reading a book in the park.",
    "A little girl climbing into a wooden playhouse.",
    "Several men in hard hats are operating a giant pulley system.",
    "A boy jumps over a fence.",
]
PAIRS = list(zip(GERMAN, ENGLISH))
SPLIT_ROWS = {"train": PAIRS[:4], "val": PAIRS[4:5], "test": PAIRS[5:]}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EIGENRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EIGENRNN_DATA", raising=False)


def write_fixture(directory: Path) -> dict[str, str]:
    """Write the six gz files; return their SHA-256s by file name."""
    directory.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split, rows in SPLIT_ROWS.items():
        for lang, column in (("de", 0), ("en", 1)):
            name = f"{multi30k.FILES[split]}.{lang}.gz"
            data = gzip.compress("".join(row[column] + "\n" for row in rows).encode("utf-8"))
            (directory / name).write_bytes(data)
            digests[name] = hashlib.sha256(data).hexdigest()
    return digests


@pytest.mark.parametrize("sub", ["multi30k", "."])
def test_load_from_a_local_dir(tmp_path, sub):
    write_fixture(tmp_path / sub)
    for split, rows in SPLIT_ROWS.items():
        assert multi30k.load(split, tmp_path, download=False) == rows


def test_env_var_is_a_data_dir(tmp_path, monkeypatch):
    write_fixture(tmp_path / "env" / "multi30k")
    monkeypatch.setenv("EIGENRNN_DATA", str(tmp_path / "env"))
    assert multi30k.load("test", download=False) == SPLIT_ROWS["test"]


def test_missing_misaligned_and_corrupt_files(tmp_path):
    with pytest.raises(DataError) as info:
        multi30k.load("val", tmp_path, download=False)
    message = str(info.value)
    assert "val.de.gz" in message and str(tmp_path / "multi30k") in message and multi30k.BASE_URL in message
    write_fixture(tmp_path)
    (tmp_path / "val.en.gz").unlink()
    with pytest.raises(DataError, match="val.en.gz is missing"):
        multi30k.load("val", tmp_path, download=False)
    (tmp_path / "val.en.gz").write_bytes(gzip.compress(b"one\ntwo\n"))
    with pytest.raises(DataError, match="not aligned"):
        multi30k.load("val", tmp_path, download=False)
    (tmp_path / "val.en.gz").write_bytes(b"plain text, not gzip")
    with pytest.raises(DataError, match="val.en.gz is corrupt"):
        multi30k.load("val", tmp_path, download=False)
    with pytest.raises(ValueError, match="split: got 'dev'"):
        multi30k.load("dev", tmp_path)


@pytest.fixture
def no_data_dirs(monkeypatch):
    """No data directory at all (not even the checkout's ../shared/data): only the cache and downloads remain."""
    from eigenrnn.tasks import download

    monkeypatch.setattr(download, "checkout_data_dir", lambda: None)


def test_download_verifies_and_caches(tmp_path, monkeypatch, no_data_dirs):
    digests = write_fixture(tmp_path / "remote")
    monkeypatch.setattr(multi30k, "BASE_URL", (tmp_path / "remote").as_uri() + "/")
    monkeypatch.setattr(multi30k, "SHA256", digests)
    assert multi30k.load("train") == SPLIT_ROWS["train"]
    cached = tmp_path / "cache" / "multi30k"
    assert sorted(p.name for p in cached.iterdir()) == ["train.de.gz", "train.en.gz"]
    assert multi30k.load("train", download=False) == SPLIT_ROWS["train"]
    # A data_dir the user names is the data: the cache does not stand in for it.
    (tmp_path / "typo").mkdir()
    with pytest.raises(DataError, match=f"data_dir {str(tmp_path / 'typo')!r} holds no train split"):
        multi30k.load("train", tmp_path / "typo")


def test_download_hash_mismatch_is_refused(tmp_path, monkeypatch, no_data_dirs):
    digests = write_fixture(tmp_path / "remote")
    monkeypatch.setattr(multi30k, "BASE_URL", (tmp_path / "remote").as_uri() + "/")
    wrong = dict(digests, **{"test_2016_flickr.de.gz": "ab" * 32})
    monkeypatch.setattr(multi30k, "SHA256", wrong)
    with pytest.raises(DataError) as info:
        multi30k.load("test")
    message = str(info.value)
    assert "test_2016_flickr.de.gz" in message and "ab" * 32 in message and digests["test_2016_flickr.de.gz"] in message
    assert not (tmp_path / "cache" / "multi30k" / "test_2016_flickr.de.gz").exists()


@pytest.fixture(scope="module")
def tokenizer():
    return multi30k.train_tokenizer(PAIRS * 3, vocab_size=200)


def test_tokenizer_special_ids_and_round_trip(tokenizer):
    assert [tokenizer.token_to_id(t) for t in multi30k.SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert 50 < tokenizer.get_vocab_size() <= 200
    unseen = "Ein Hund liest im Schnee über Männer."  # new sentence, known characters
    for sentence in GERMAN + ENGLISH + [unseen, "A  man  rides  a  bike."]:
        ids = tokenizer.encode(sentence).ids
        assert multi30k.UNK not in tokenizer.encode(sentence).tokens
        assert tokenizer.decode(ids) == sentence
    # Subwords, not characters or whole words: common words are single tokens, rare ones split.
    assert len(tokenizer.encode("Ein").ids) == 1
    assert 1 < len(tokenizer.encode("Schutzhelmen").ids) < len("Schutzhelmen")


def test_encode_batch_and_decode_ids(tokenizer):
    sentences = ["A man rides a bike.", "Two dogs are playing in the snow."]
    ids, lengths = multi30k.encode_batch(tokenizer, sentences, add_bos=True, add_eos=True)
    assert ids.dtype == lengths.dtype == torch.long
    assert ids.shape == (int(lengths.max()), 2)
    for b, sentence in enumerate(sentences):
        column = ids[: lengths[b], b]
        assert column[0] == 1 and column[-1] == 2
        assert column[1:-1].tolist() == tokenizer.encode(sentence).ids
        assert (ids[lengths[b] :, b] == 0).all()
        assert multi30k.decode_ids(tokenizer, ids[:, b]) == sentence
    # A decoder's output after <eos> is ignored.
    assert multi30k.decode_ids(tokenizer, ids[: lengths[0], 0].tolist() + ids[1:4, 1].tolist()) == sentences[0]
    cut, cut_lengths = multi30k.encode_batch(tokenizer, sentences, add_bos=False, add_eos=True, max_len=4)
    assert cut.shape == (4, 2) and cut_lengths.tolist() == [4, 4] and (cut[3] == 2).all()
    plain, plain_lengths = multi30k.encode_batch(tokenizer, sentences, add_bos=False, add_eos=False)
    assert plain[: plain_lengths[0], 0].tolist() == tokenizer.encode(sentences[0]).ids
    with pytest.raises(ValueError, match="max_len: got 1"):
        multi30k.encode_batch(tokenizer, sentences, add_bos=True, add_eos=True, max_len=1)
    with pytest.raises(ValueError, match="sentences"):
        multi30k.encode_batch(tokenizer, "A man.", add_bos=True, add_eos=True)


def test_save_and_load_tokenizer(tokenizer, tmp_path):
    path = tmp_path / "run" / "tokenizer.json"
    multi30k.save_tokenizer(tokenizer, path)
    loaded = multi30k.load_tokenizer(path)
    assert loaded.encode(GERMAN[2]).ids == tokenizer.encode(GERMAN[2]).ids
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]
    path.write_text("{not json")
    with pytest.raises(DataError, match="not a valid tokenizers JSON"):
        multi30k.load_tokenizer(path)
    with pytest.raises(DataError, match="not found"):
        multi30k.load_tokenizer(tmp_path / "missing.json")


def test_train_tokenizer_rejects_bad_input():
    with pytest.raises(ValueError, match="vocab_size: got 3"):
        multi30k.train_tokenizer(PAIRS, vocab_size=3)
    with pytest.raises(ValueError, match="pairs"):
        multi30k.train_tokenizer(["just a string"])


def test_bleu():
    refs = ENGLISH
    assert multi30k.corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert multi30k.corpus_bleu(["zzz qqq"] * len(refs), refs) == pytest.approx(0.0)
    partly = ["A man rides a horse."] + refs[1:]
    assert 0.0 < multi30k.corpus_bleu(partly, refs) < 100.0
    with pytest.raises(ValueError, match="hypotheses"):
        multi30k.corpus_bleu(refs[:2], refs)


def test_real_dev_copy_if_present():
    data = checkout_data_dir()
    if data is None or not (data / "multi30k" / "train.de.gz").is_file():
        pytest.skip("the development copy ../shared/data/multi30k is not present")
    sizes = {split: len(multi30k.load(split, data, download=False)) for split in DATA_SPLITS}
    assert sizes == multi30k.SIZES
    assert multi30k.load("val", data, download=False)[0][0].startswith("Eine Gruppe von Männern")
    for name, digest in multi30k.SHA256.items():
        assert hashlib.sha256((data / "multi30k" / name).read_bytes()).hexdigest() == digest
