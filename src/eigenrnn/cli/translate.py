"""`eigenrnn translate`: translate German sentences with a trained Multi30k run.

Example::

    eigenrnn translate runs/multi30k-gru-eigen-s0/best.pt "Ein Mann fährt Fahrrad." --beam 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eigenrnn.cli._threads import add_threads_option, apply_threads
from eigenrnn.errors import CheckpointError


def register(sub) -> None:
    p = sub.add_parser(
        "translate",
        help="translate German to English with a trained multi30k checkpoint",
        description="Translate sentences with a Multi30k run (a checkpoint file, or a run directory: its best.pt).",
    )
    p.add_argument("checkpoint", help="checkpoint.pt / best.pt, or a run directory")
    p.add_argument("sentences", nargs="+", help="German sentence(s)")
    p.add_argument("--beam", type=int, default=None, help="beam width (default: the run's beam size; 1 is greedy)")
    p.add_argument("--max-len", type=int, default=None, help="at most this many output tokens (default 2 x source + 10)")
    add_threads_option(p)
    p.set_defaults(func=run)


def translate(checkpoint, sentences: list[str], beam: int | None = None, max_len: int | None = None) -> list[str]:
    """Translate ``sentences`` with a loaded Multi30k checkpoint (see :func:`eigenrnn.train.load_checkpoint`)."""
    import torch

    from eigenrnn.tasks import multi30k

    tokenizer = checkpoint.tokenizer
    model = checkpoint.model
    beam = checkpoint.config.beam_size if beam is None else beam
    src, lengths = multi30k.encode_batch(tokenizer, sentences, add_bos=False, add_eos=True,
                                         max_len=checkpoint.config.task_options.get("max_len"))
    device = next(model.parameters()).device
    with torch.no_grad():
        ids = model.beam_search(src.to(device), lengths.to(device), beam_size=beam or 1, max_len=max_len)
    return [multi30k.decode_ids(tokenizer, row) for row in ids]


def run(args: argparse.Namespace) -> int:
    from eigenrnn.train.checkpoint import load_checkpoint

    apply_threads(args)
    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / "best.pt"
    ckpt = load_checkpoint(path)
    if ckpt.config.task != "multi30k" or ckpt.tokenizer is None:
        raise CheckpointError(f"{path}: a checkpoint of task {ckpt.config.task!r}; translate needs a multi30k run")
    for line in translate(ckpt, args.sentences, beam=args.beam, max_len=args.max_len):
        print(line)
    return 0
