"""Batched greedy translation against one sentence at a time, side by side (same outputs).

    .venv/bin/python benchmarks/bench_translate.py [--sentences 512] [--hidden 128] [--batch-size 64]

An untrained GRU Seq2Seq (seeded) and a BPE tokenizer trained on synthetic
German-like sentences, so no data set is needed.  Both ways run in one process
with the same thread count; the script prints both times, their ratio, and
checks that the outputs are identical string for string.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from eigenrnn.models import Seq2Seq
from eigenrnn.tasks import multi30k
from eigenrnn.translation import translate

WORDS = "ein eine Mann Frau Kind Hund läuft schläft springt isst singt im Park am Strand mit einem roten Ball".split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    rng = random.Random(0)
    sentences = [" ".join(rng.choices(WORDS, k=rng.randint(2, 20))) + "." for _ in range(args.sentences)]
    tokenizer = multi30k.train_tokenizer([(s, s) for s in sentences], vocab_size=300)
    model = Seq2Seq(tokenizer.get_vocab_size(), 0, 1, 2, cell="gru", hidden=args.hidden, seed=0).eval()
    start = time.perf_counter()
    batched = translate(model, sentences, beam=1, batch_size=args.batch_size, tokenizer=tokenizer)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    alone = [translate(model, [s], beam=1, batch_size=1, tokenizer=tokenizer)[0] for s in sentences]
    t_alone = time.perf_counter() - start
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.sentences} sentences, GRU-{args.hidden}")
    print(f"batched (batch {args.batch_size}): {t_batched:.2f} s   one at a time: {t_alone:.2f} s   "
          f"speed-up {t_alone / t_batched:.1f}x   identical outputs: {batched == alone}")


if __name__ == "__main__":
    main()
