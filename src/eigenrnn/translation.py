"""Translate German sentences with a trained Multi30k run, in batches, from Python.

:func:`translate` returns a list; :func:`iter_translate` reads any iterable
lazily (a file, stdin) and yields one translation per sentence, in order,
so a long input streams through in bounded memory.  ``eigenrnn translate``
is a thin command-line front end to :func:`iter_translate`.

Input policy (the same for every entry point):

* each sentence is normalised with :func:`normalize_sentence`: Unicode NFKC
  (non-breaking and other compatibility spaces, fullwidth letters and digits
  become their plain forms), then every run of whitespace (tabs included)
  becomes one space and the ends are stripped.  The Multi30k training text is
  already in that form except for 129 of its 29,000 German lines and one
  English line, and there only in whitespace (double, trailing or tab spaces;
  no-break spaces in 44 lines), which the tokenizer saw as they are.  Training is deliberately left unchanged, so
  existing runs, their tokenizers and their committed records stay as they
  were; on text in normal form the normalisation changes nothing;
* an empty (or all-whitespace) sentence translates to ``""`` without running
  the model;
* a sentence longer than the run's source limit (the task option ``max_len``,
  64 subword ids with ``<eos>``) is cut to it, as in training, and a
  :class:`SourceTruncated` warning names it;
* a ``str`` holding lone surrogates (undecodable bytes smuggled in through
  ``surrogateescape``, e.g. from ``sys.argv``) is refused with a ValueError
  naming the sentence.

Greedy output does not depend on the batch: each sentence's output budget
comes from its own length (see :meth:`eigenrnn.models.Seq2Seq.greedy`), the
encoder packs by length and attention masks the padding.  Beam search
(``beam > 1``) decodes one sentence at a time.
"""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from eigenrnn.errors import CheckpointError, bad_value, check_int

__all__ = ["SourceTruncated", "normalize_sentence", "load_translator", "translate", "iter_translate"]

_WHITESPACE = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Sentences read ahead of decoding: sorted by length inside such a chunk, so
# that a batch holds similar lengths (little padding), while a long input still
# streams.  Outputs do not depend on it.
_CHUNK_BATCHES = 8


class SourceTruncated(UserWarning):
    """A sentence was longer than the model's source limit and was cut to it.

    Attributes:
        index: the sentence's 0-based position in the input.
        length: its length in subword ids, ``<eos>`` included.
        limit: the model's limit (the run's ``max_len``).
    """

    def __init__(self, index: int, length: int, limit: int) -> None:
        self.index, self.length, self.limit = index, length, limit
        super().__init__(f"sentence {index + 1} has {length} subword tokens; the model reads at most {limit}, the rest is cut")


def normalize_sentence(text: str) -> str:
    """NFKC, every whitespace run (tabs, no-break spaces, line separators) as one space, ends stripped.

    >>> normalize_sentence("Ein\\tMann\\u00a0fährt  Ｆａｈｒｒａｄ. ")
    'Ein Mann fährt Fahrrad.'
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def load_translator(source: Any, tokenizer: Any = None) -> tuple[Any, Any, int | None, int]:
    """``(model, tokenizer, source max_len, default beam)`` of a checkpoint, a run or a model.

    ``source`` is a :class:`~eigenrnn.train.checkpoint.LoadedCheckpoint`, a
    path to a checkpoint file or to a run directory (its ``best.pt``), or a
    :class:`~eigenrnn.models.Seq2Seq` (then ``tokenizer`` is required, there
    is no source limit and the default beam is 1).
    """
    from eigenrnn.models import Seq2Seq
    from eigenrnn.train.checkpoint import LoadedCheckpoint, load_checkpoint

    if isinstance(source, Seq2Seq):
        if tokenizer is None:
            raise ValueError(bad_value("tokenizer", None, "the run's tokenizer when translating with a bare Seq2Seq model"))
        return source, tokenizer, None, 1
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        source = load_checkpoint(path / "best.pt" if path.is_dir() else path)
    if not isinstance(source, LoadedCheckpoint):
        raise TypeError(bad_value("source", type(source).__name__, "a LoadedCheckpoint, a checkpoint/run path or a Seq2Seq"))
    if source.config.task != "multi30k" or source.tokenizer is None:
        raise CheckpointError(f"{source.path}: a checkpoint of task {source.config.task!r}; translate needs a multi30k run")
    if tokenizer is not None:
        raise ValueError(bad_value("tokenizer", "a tokenizer", "None with a checkpoint (it carries its own)"))
    max_len = source.config.task_options.get("max_len", 64)
    return source.model, source.tokenizer, max_len, source.config.beam_size or 1


def _check_beam(beam: object) -> int:
    check_int("beam", beam, allowed="an int >= 1 (1 is greedy decoding, k > 1 a beam of k)")
    return beam


def iter_translate(
    source: Any,
    sentences: Iterable[str],
    *,
    beam: int | None = None,
    batch_size: int = 64,
    max_len: int | None = None,
    tokenizer: Any = None,
) -> Iterator[str]:
    """Translate ``sentences`` lazily, one output per input, in order.

    Args:
        source: a loaded checkpoint, a checkpoint or run path, or a
            :class:`~eigenrnn.models.Seq2Seq` with ``tokenizer`` (see
            :func:`load_translator`).
        sentences: German sentences (any iterable of strs; read ahead
            ``8 * batch_size`` at a time).
        beam: beam width, ``>= 1`` (1 is greedy); default the run's ``beam_size``.
        batch_size: sentences decoded together (greedy); results do not depend on it.
        max_len: at most this many output tokens per sentence (default
            ``2 * source length + 10``).
        tokenizer: only with a bare model.

    Yields:
        the detokenised English translation of each sentence (``""`` for an empty one).

    Warns:
        SourceTruncated: for each sentence cut to the model's source limit.
    """
    import torch

    from eigenrnn.tasks import multi30k

    model, tokenizer, limit, default_beam = load_translator(source, tokenizer)
    beam = _check_beam(default_beam if beam is None else beam)
    check_int("batch_size", batch_size)
    if max_len is not None:
        check_int("max_len", max_len)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    iterator = iter(sentences)
    offset = 0
    try:
        while True:
            chunk = list(islice(iterator, batch_size * _CHUNK_BATCHES))
            if not chunk:
                return
            texts = []
            for i, sentence in enumerate(chunk):
                if not isinstance(sentence, str):
                    raise TypeError(bad_value(f"sentences[{offset + i}]", sentence, "a str"))
                if _SURROGATE.search(sentence):
                    raise ValueError(bad_value(f"sentence {offset + i + 1}", sentence, "valid Unicode text (it holds undecodable bytes)"))
                texts.append(normalize_sentence(sentence))
            outputs = [""] * len(chunk)
            todo = [i for i, text in enumerate(texts) if text]
            if todo:
                encodings = tokenizer.encode_batch([texts[i] for i in todo], add_special_tokens=False)
                lengths = {i: len(e.ids) + 1 for i, e in zip(todo, encodings)}  # + <eos>
                if limit is not None:
                    for i in todo:
                        if lengths[i] > limit:
                            warnings.warn(SourceTruncated(offset + i, lengths[i], limit), stacklevel=2)
                todo.sort(key=lambda i: lengths[i])
                for start in range(0, len(todo), batch_size):
                    rows = todo[start : start + batch_size]
                    src, src_len = multi30k.encode_batch(tokenizer, [texts[i] for i in rows], add_bos=False,
                                                         add_eos=True, max_len=limit)
                    with torch.no_grad():
                        ids = model.beam_search(src.to(device), src_len.to(device), beam_size=beam, max_len=max_len)
                    for i, row in zip(rows, ids):
                        outputs[i] = multi30k.decode_ids(tokenizer, row)
            yield from outputs
            offset += len(chunk)
    finally:
        model.train(was_training)


def translate(
    source: Any,
    sentences: Sequence[str],
    *,
    beam: int | None = None,
    batch_size: int = 64,
    max_len: int | None = None,
    tokenizer: Any = None,
) -> list[str]:
    """Translate German ``sentences`` with a trained Multi30k run; one English string per sentence.

    Arguments as in :func:`iter_translate`; the input policy (NFKC, empty
    lines, truncation warnings) is in the module docstring.

    >>> translate("runs/m30k", ["Ein Mann fährt Fahrrad.", ""], beam=1)  # doctest: +SKIP
    ['A man is riding a bike.', '']
    """
    if isinstance(sentences, str):
        raise TypeError(bad_value("sentences", sentences, "a list of strs (not one str)"))
    return list(iter_translate(source, sentences, beam=beam, batch_size=batch_size, max_len=max_len, tokenizer=tokenizer))
