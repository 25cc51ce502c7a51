"""Multi30k Task 1 German-English: data, a subword tokenizer and BLEU.

Multi30k (Elliott et al. 2016, "Multi30K: Multilingual English-German Image
Descriptions"), Task 1 raw files, one sentence per line, aligned by line:

=====  =======================  =====
split  files                    pairs
=====  =======================  =====
train  ``train.{de,en}.gz``     29,000
val    ``val.{de,en}.gz``        1,014
test   ``test_2016_flickr.*``    1,000
=====  =======================  =====

Where the files come from, in order: ``data_dir`` or else each of
:func:`~eigenrnn.tasks.download.default_data_dirs` (and their ``multi30k/``
sub-directory); verified copies in ``<cache_dir()>/multi30k``; a download
from the dataset's public repository (:data:`BASE_URL`), checked against the
pinned SHA-256s in :data:`SHA256`.

The tokenizer is a byte-pair-encoding model (``tokenizers``) with a single
joint German+English vocabulary, trained on the training pairs only.  The
``Metaspace`` pre-tokenizer keeps spaces as a word-initial marker, so decoding
restores the original spacing: BLEU is computed by sacreBLEU on detokenised
text against the raw references, as the standard evaluation requires.

The task adapter (:data:`FACTORY`) serves the translation as task
``multi30k``: seq2seq, scored by the BLEU of decoded translations.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from eigenrnn.errors import DataError, bad_value, check_int
from eigenrnn.io import atomic_write_text
from eigenrnn.models import InputSpec
from eigenrnn.tasks.base import DATA_SPLITS, SequenceDataset, Task, TaskData, TaskFactory, split_seed, subsample
from eigenrnn.tasks.download import cache_dir, default_data_dirs, fetch, sha256_file

__all__ = [
    "SIZES",
    "FILES",
    "SHA256",
    "BASE_URL",
    "PAD",
    "BOS",
    "EOS",
    "UNK",
    "SPECIAL_TOKENS",
    "load",
    "train_tokenizer",
    "save_tokenizer",
    "load_tokenizer",
    "encode_batch",
    "decode_ids",
    "corpus_bleu",
    "encode_pairs",
    "special_ids",
    "FACTORY",
]

SIZES = {"train": 29_000, "val": 1_014, "test": 1_000}
FILES = {"train": "train", "val": "val", "test": "test_2016_flickr"}
SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
}
BASE_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3


def _how_to_obtain() -> str:
    return (
        f"To obtain Multi30k: let eigenrnn download it (load(..., download=True), the default, needs network) "
        f"or download {', '.join(SHA256)} from {BASE_URL} into a directory and pass it as data_dir "
        "or set EIGENRNN_DATA to it."
    )


def _pair_in(directory: Path, stem: str) -> tuple[Path, Path] | None:
    de, en = directory / f"{stem}.de.gz", directory / f"{stem}.en.gz"
    if de.is_file() and en.is_file():
        return de, en
    if de.is_file() or en.is_file():
        missing = en if de.is_file() else de
        raise DataError(f"Multi30k: {missing} is missing (its other language is in {directory}). {_how_to_obtain()}")
    return None


def _resolve(split: str, data_dir: str | os.PathLike | None, download: bool) -> tuple[Path, Path]:
    stem = FILES[split]
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataError(f"Multi30k: data_dir {str(data_dir)!r} is not a directory. {_how_to_obtain()}")
        dirs = [data_dir]
    else:
        dirs = default_data_dirs()
    looked: list[str] = []
    for root in dirs:
        for directory in (root / "multi30k", root):
            looked.append(str(directory))
            found = _pair_in(directory, stem)
            if found:
                return found
    names = (f"{stem}.de.gz", f"{stem}.en.gz")
    if data_dir is not None:
        # An explicit data_dir is the user's choice of data: never swap in the cache or a download silently.
        raise DataError(f"Multi30k: data_dir {str(data_dir)!r} holds no {split} split (looked for {names[0]} and "
                        f"{names[1]} in: {', '.join(looked)}); pass the directory that holds them, or no data_dir "
                        f"to use the cache or a download. {_how_to_obtain()}")
    cached = cache_dir() / "multi30k"
    looked.append(str(cached))
    paths = tuple(cached / name for name in names)
    if all(p.is_file() and sha256_file(p) == SHA256[p.name] for p in paths):
        return paths  # type: ignore[return-value]
    where = f"Looked for {names[0]} and {names[1]} in: {', '.join(looked)}."
    if not download:
        raise DataError(f"Multi30k {split} not found and download=False. {where} {_how_to_obtain()}")
    try:
        for name, path in zip(names, paths):
            fetch(BASE_URL + name, path, SHA256[name])
    except DataError as exc:
        raise DataError(f"Multi30k {split} not found and could not be downloaded ({exc}). {where} {_how_to_obtain()}") from exc
    return paths  # type: ignore[return-value]


def _read_lines(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as fh:
            return [line.rstrip("\r\n") for line in fh]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"Multi30k file {path} is corrupt (not gzip'd UTF-8 text: {exc}). Delete or replace it. {_how_to_obtain()}") from exc


def load(split: str, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> list[tuple[str, str]]:
    """Load one Multi30k Task 1 split as ``(german, english)`` pairs.

    Args:
        split: ``"train"`` (29,000 pairs), ``"val"`` (1,014) or ``"test"``
            (test_2016_flickr, 1,000).
        data_dir: directory to look in (and in its ``multi30k/``) instead of
            :func:`~eigenrnn.tasks.download.default_data_dirs`.
        download: whether a missing split may be downloaded.

    Returns:
        list of ``(de, en)`` raw sentences, in file order.

    Raises:
        ValueError: unknown ``split``.
        DataError: missing, corrupt or misaligned files (naming them, where it
            looked and how to obtain them).
    """
    if split not in DATA_SPLITS:
        raise ValueError(bad_value("split", split, f"one of {', '.join(map(repr, DATA_SPLITS))}"))
    de_path, en_path = _resolve(split, data_dir, download)
    de, en = _read_lines(de_path), _read_lines(en_path)
    if len(de) != len(en):
        raise DataError(f"Multi30k files are not aligned: {de_path} has {len(de)} lines, {en_path} has {len(en)}. {_how_to_obtain()}")
    return list(zip(de, en))


# --------------------------------------------------------------------------- tokenizer


def train_tokenizer(pairs: Iterable[tuple[str, str]], vocab_size: int = 8000) -> Tokenizer:
    """Train a joint German+English BPE tokenizer on (training) sentence pairs.

    NFC normalisation, ``Metaspace`` pre-tokenisation and decoding (so
    ``decode(encode(s)) == s`` for text whose characters occur in training),
    and special tokens ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3.
    BPE training is deterministic, so there is no seed.

    Args:
        pairs: ``(de, en)`` pairs; pass the training split only.
        vocab_size: target vocabulary size including the special tokens.

    Returns:
        a trained :class:`tokenizers.Tokenizer`.
    """
    check_int("vocab_size", vocab_size, minimum=len(SPECIAL_TOKENS) + 1)
    sentences: list[str] = []
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise ValueError(bad_value("pairs", pair, "(de, en) pairs of strs"))
        sentences.extend(pair)
    if not sentences:
        raise ValueError(bad_value("pairs", pairs, "at least one (de, en) pair"))
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tokenizer.train_from_iterator(sentences, trainer=trainer, length=len(sentences))
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, path: str | os.PathLike) -> None:
    """Write the tokenizer as JSON, atomically (a crash never leaves half a file)."""
    atomic_write_text(path, tokenizer.to_str())


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read a tokenizer saved by :func:`save_tokenizer`; DataError if missing or invalid."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"tokenizer file {path} not found")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
        raise DataError(f"tokenizer file {path} is not a valid tokenizers JSON file: {exc}") from exc
    missing = [tok for tok in SPECIAL_TOKENS if tokenizer.token_to_id(tok) is None]
    if missing:
        raise DataError(f"tokenizer file {path} lacks the special tokens {missing}; it was not made by eigenrnn")
    return tokenizer


def _special_id(tokenizer: Tokenizer, token: str) -> int:
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise ValueError(bad_value("tokenizer", "a tokenizer without " + token, f"one with special tokens {SPECIAL_TOKENS}"))
    return token_id


def encode_batch(
    tokenizer: Tokenizer,
    sentences: Sequence[str],
    add_bos: bool,
    add_eos: bool,
    max_len: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode sentences into a time-first, ``<pad>``-padded id matrix.

    Args:
        tokenizer: from :func:`train_tokenizer` / :func:`load_tokenizer`.
        sentences: non-empty sequence of strs.
        add_bos: prepend ``<bos>``.
        add_eos: append ``<eos>``.
        max_len: if given, the subword ids are cut so that each sequence,
            ``<bos>``/``<eos>`` included, has at most ``max_len`` ids (the
            markers themselves are kept).

    Returns:
        ``(ids, lengths)``: int64 ``(T, B)`` and int64 ``(B,)``.
    """
    if isinstance(sentences, str) or len(sentences) == 0 or not all(isinstance(s, str) for s in sentences):
        raise ValueError(bad_value("sentences", sentences, "a non-empty sequence of strs"))
    extra = int(add_bos) + int(add_eos)
    if max_len is not None:
        check_int("max_len", max_len, minimum=extra + 1, allowed=f"None or an int >= {extra + 1}")
    pad, bos, eos = (_special_id(tokenizer, t) for t in (PAD, BOS, EOS))
    rows = []
    for encoding in tokenizer.encode_batch(list(sentences), add_special_tokens=False):
        ids = encoding.ids if max_len is None else encoding.ids[: max_len - extra]
        rows.append(([bos] if add_bos else []) + ids + ([eos] if add_eos else []))
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    out = torch.full((max(1, int(lengths.max())), len(rows)), pad, dtype=torch.long)
    for b, row in enumerate(rows):
        out[: len(row), b] = torch.tensor(row, dtype=torch.long)
    return out, lengths


def decode_ids(tokenizer: Tokenizer, ids: Sequence[int] | torch.Tensor) -> str:
    """Detokenised text of one id sequence, cut at the first ``<eos>``.

    ``<bos>``, ``<pad>`` and ``<eos>`` are dropped, so a decoder's raw output
    (which may run on after ``<eos>``) decodes to the sentence it produced.
    """
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(bad_value("ids", tuple(ids.shape), "a 1-D tensor or a list of ints"))
        ids = ids.tolist()
    ids = list(ids)
    eos = _special_id(tokenizer, EOS)
    if eos in ids:
        ids = ids[: ids.index(eos)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) with sacreBLEU's defaults (13a tokenisation), one reference per sentence.

    Pass detokenised hypotheses (:func:`decode_ids`) and the raw reference
    sentences, as in the standard Multi30k evaluation.

    >>> corpus_bleu(["A man rides a bike ."], ["A man rides a bike ."])
    100.00000000000004
    """
    import sacrebleu  # here, not at the top: importing it costs a tenth of a second

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(bad_value("hypotheses", f"{len(hypotheses)} sentences", f"as many as references ({len(references)})"))
    if not hypotheses:
        raise ValueError(bad_value("hypotheses", hypotheses, "at least one sentence"))
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


# --------------------------------------------------------------------------- the task adapter


def _build(task: Task, seed: int, sizes: dict[str, int | None], tokenizer: Tokenizer | None = None) -> TaskData:
    o = task.options
    pairs = {}
    for name in DATA_SPLITS:
        split = load(name, data_dir=o["data_dir"])
        index = subsample(len(split), sizes[name], split_seed(seed, name))
        pairs[name] = split if index is None else [split[i] for i in index.tolist()]
    if tokenizer is None:
        # The tokenizer sees the (possibly subsampled) training split only.
        tokenizer = train_tokenizer(pairs["train"], vocab_size=o["vocab_size"])
    return encode_pairs(tokenizer, pairs, o["max_len"])


def encode_pairs(tokenizer: Tokenizer, pairs: dict[str, list[tuple[str, str]]], max_len: int) -> TaskData:
    """Encode ``(de, en)`` pairs (split name -> pairs) with a trained tokenizer into seq2seq splits.

    Sources end with EOS; targets are ``BOS ... EOS`` (the decoder reads
    ``y[:-1]`` and predicts ``y[1:]``).  Sentences are cut at ``max_len`` tokens.
    """
    specials = special_ids(tokenizer)
    splits = {}
    for name, split in pairs.items():
        src, src_len = encode_batch(tokenizer, [de for de, _ in split], add_bos=False, add_eos=True, max_len=max_len)
        tgt, tgt_len = encode_batch(tokenizer, [en for _, en in split], add_bos=True, add_eos=True, max_len=max_len)
        refs = tuple(en for _, en in split)
        splits[name] = SequenceDataset(src, tgt, lengths=src_len, y_lengths=tgt_len, y_time_first=True, refs=refs)
    vocab = int(tokenizer.get_vocab_size())
    return TaskData(splits, InputSpec("tokens", vocab, padding_idx=specials["pad"]), vocab, tokenizer, specials)


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """The ids of ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>`` in a Multi30k tokenizer."""
    specials = {}
    for key in ("pad", "bos", "eos", "unk"):
        token_id = tokenizer.token_to_id(f"<{key}>")
        if token_id is None:
            raise ValueError(bad_value("tokenizer", f"a vocabulary without <{key}>", "a Multi30k tokenizer"))
        specials[key] = int(token_id)
    return specials


def _examples(task: Task, n: int, seed: int, tokenizer: Tokenizer) -> torch.Tensor:
    pairs = load("val", data_dir=task.options["data_dir"])
    index = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    # Cut to the shortest chosen sentence so the batch has no padding.
    src, lengths = encode_batch(tokenizer, [pairs[i][0] for i in index], add_bos=False, add_eos=False)
    return src[: int(lengths.min())]


def _bleu(tokenizer: Tokenizer, ids: Sequence[Sequence[int]], refs: Sequence[str]) -> float:
    return float(corpus_bleu([decode_ids(tokenizer, row) for row in ids], refs))


def _task(data_dir: str | None = None, vocab_size: int = 8000, max_len: int = 64) -> Task:
    options = {"data_dir": data_dir, "vocab_size": check_int("vocab_size", vocab_size), "max_len": check_int("max_len", max_len)}
    return Task(
        name="multi30k",
        kind="seq2seq",
        input_spec=InputSpec("tokens", vocab_size, padding_idx=0),
        output_size=vocab_size,
        readout="every",
        loss="cross_entropy",
        metric="bleu",
        higher_is_better=True,
        target=20.0,
        target_split="val",
        sizes=tuple(SIZES[name] for name in DATA_SPLITS),
        options=options,
        horizon=max_len,
        _builder=_build,
        _examples=_examples,
        _decoded_metric=_bleu,
    )


#: ``multi30k`` (options ``data_dir``, ``vocab_size``, ``max_len``): German to English, scored by BLEU.
FACTORY = TaskFactory(_task, kind="seq2seq", inputs="tokens")
