"""`eigenrnn translate`: translate German sentences with a trained Multi30k run.

Example::

    eigenrnn translate runs/m30k "Ein Mann fährt Fahrrad." --beam 5
    eigenrnn translate runs/m30k --input german.txt > english.txt

The translation itself is :func:`eigenrnn.translation.iter_translate`; this
module only reads the input, reports problems by line and prints.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import BinaryIO, Iterator

from eigenrnn.cli._threads import add_threads_option, apply_threads
from eigenrnn.errors import EigenRNNError, bad_value


def register(sub) -> None:
    p = sub.add_parser(
        "translate",
        help="translate German to English with a trained multi30k checkpoint",
        description=(
            "Translate sentences with a Multi30k run (a checkpoint file, or a run directory: its best.pt). "
            "Give the sentences as arguments, or one per line with --input FILE (or - for stdin); "
            "one translated line is printed per sentence, in order. "
            "Options may go anywhere after the command, between the sentences too. "
            "Put `--` before argument sentences that start with '-'; a sentence that is exactly `--` "
            "can only come through --input, where every line is plain data."
        ),
    )
    p.add_argument("checkpoint", help="checkpoint.pt / best.pt, or a run directory")
    # A default keeps argparse from listing the sentences as required: --input may stand for them.
    p.add_argument("sentences", nargs="*", default=[], help="German sentence(s), unless --input is given")
    p.add_argument("--input", metavar="FILE|-", default=None,
                   help="read sentences from this UTF-8 file, one per line (- reads stdin); "
                        "the whole input is checked before any output (default: none, sentences are arguments)")
    p.add_argument("--beam", type=int, default=None,
                   help="beam width >= 1, 1 is greedy (default: the run's beam size)")
    p.add_argument("--batch-size", type=int, default=64, help="sentences decoded together (greedy; outputs do not depend on it)")
    p.add_argument("--max-len", type=int, default=None, help="at most this many output tokens (default: 2 x source length + 10)")
    add_threads_option(p)
    p.set_defaults(func=run)
    p.intermixed = True  # options between the run and the sentences (eigenrnn.cli.parse)


def translate(checkpoint, sentences: list[str], beam: int | None = None, max_len: int | None = None) -> list[str]:
    """Kept for callers of the old location; see :func:`eigenrnn.translation.translate`."""
    from eigenrnn.translation import translate as _translate

    return _translate(checkpoint, sentences, beam=beam, max_len=max_len)


def _lines(stream: BinaryIO, name: str) -> list[str]:
    """The lines of a byte stream as strs, without their line ends; a bad byte names its line.

    The whole input is read first, so an undecodable line stops the command
    before any output (not after a partial one).
    """
    return list(_decoded(stream, name))


def _decoded(stream: BinaryIO, name: str) -> Iterator[str]:
    for number, raw in enumerate(stream, 1):
        raw = raw[:-1] if raw.endswith(b"\n") else raw
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EigenRNNError(
                f"--input {name}: line {number} is not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}); "
                "convert the file to UTF-8, e.g. with iconv"
            ) from None


def run(args: argparse.Namespace) -> int:
    from eigenrnn.train.checkpoint import load_checkpoint
    from eigenrnn.translation import SourceTruncated, iter_translate, load_translator

    if args.beam is not None and args.beam < 1:
        raise ValueError(bad_value("--beam", args.beam, "an int >= 1 (1 is greedy decoding, k > 1 a beam of k)"))
    for flag, value in (("--batch-size", args.batch_size), ("--max-len", args.max_len)):
        if value is not None and value < 1:
            raise ValueError(bad_value(flag, value, "a positive int"))
    if args.input is not None and args.sentences:
        raise ValueError(bad_value("sentences", args.sentences, "none with --input (give sentences or --input, not both)"))
    if args.input is None and not args.sentences:
        raise ValueError(bad_value("sentences", [], "at least one sentence, or --input FILE|-"))
    apply_threads(args)
    path = Path(args.checkpoint)
    ckpt = load_checkpoint(path / "best.pt" if path.is_dir() else path)
    load_translator(ckpt)  # a run of another task is refused before any input is read
    what = "sentence" if args.input is None else "line"

    def show(warning: warnings.WarningMessage) -> None:
        w = warning.message
        if isinstance(w, SourceTruncated):
            print(f"eigenrnn: warning: {what} {w.index + 1} has {w.length} subword tokens; "
                  f"the model reads at most {w.limit}, the rest is cut", file=sys.stderr)
        else:
            print(f"eigenrnn: warning: {w}", file=sys.stderr)

    def translate_from(sentences) -> None:
        # Warnings are shown as they arise, next to the outputs they concern.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SourceTruncated)
            for text in iter_translate(ckpt, sentences, beam=args.beam,
                                       batch_size=args.batch_size, max_len=args.max_len):
                for warning in caught:
                    show(warning)
                caught.clear()
                print(text)
            for warning in caught:
                show(warning)

    if args.input is None:
        translate_from(args.sentences)
    elif args.input == "-":
        translate_from(_lines(sys.stdin.buffer, "-"))
    else:
        try:
            stream = open(args.input, "rb")
        except OSError as exc:
            raise EigenRNNError(f"--input {args.input}: cannot read it ({exc.strerror})") from None
        with stream:
            translate_from(_lines(stream, args.input))
    return 0
