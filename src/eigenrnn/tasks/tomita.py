"""The seven Tomita grammars: minimal DFAs, balanced samples and the standard splits.

Tomita (1982) grammars over the alphabet {0, 1}; every one includes the empty
string.

====  ===========================================================================
T1    ``1*``
T2    ``(10)*``
T3    no odd-length run of 1s that is later followed by an odd-length run of 0s
      (runs are maximal; "later" means anywhere after, as in Weiss et al. 2018)
T4    no ``000``
T5    an even number of 0s and an even number of 1s
T6    (#0 - #1) = 0 mod 3
T7    ``0*1*0*1*``
====  ===========================================================================

Protocol (Weiss, Goldberg & Yahav 2018, "Extracting automata from recurrent
neural networks using queries and counterexamples"): train, validation and test
strings are drawn at the lengths :data:`DEFAULT_TRAIN_LENGTHS` (0-14 plus 15,
20, 25, 30); the ``generalisation`` split uses the longer, unseen lengths
:data:`GENERALISATION_LENGTHS` (31-60).

Sampling.  At each length, each class (accepted / rejected) is sampled
*uniformly and without repetition* from all strings of that length and class:
strings are built symbol by symbol from path counts of the grammar's DFA, so
positives of the sparse grammars (T1 and T2 have at most one string per length,
T7 O(L^3)) are constructed directly rather than found by rejection.  Classes
are balanced (``ceil(n/2)`` positives, ``floor(n/2)`` negatives per length)
wherever the grammar has that many strings; where a length has fewer strings
of a class (short lengths; T1, T2, T7 positives) all of them are taken and the
length contributes fewer strings, so the sparse grammars stay imbalanced
overall (T1 has one positive per length, T2 one per even length and none at
odd lengths; T5 accepts no string of odd length).

Every draw uses its own ``random.Random`` seeded from ``(k, seed, length)``,
so a length's strings do not depend on which other lengths are requested.

The task adapter (:func:`task_factory`) serves grammar ``k`` as task
``tomita<k>``: classification of the encoded strings, read at their true end.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from eigenrnn.errors import bad_value, check_int
from eigenrnn.models import InputSpec
from eigenrnn.tasks.base import TASK_SPLITS, SequenceDataset, Task, TaskData, TaskFactory, split_seed, subsample

__all__ = [
    "GRAMMARS", "DESCRIPTIONS", "DEFAULT_TRAIN_LENGTHS", "GENERALISATION_LENGTHS", "ZERO", "ONE", "PAD", "BOS",
    "VOCAB_SIZE", "DFA", "dfa", "accepts", "count", "generate", "splits", "encode", "task_factory",
]

GRAMMARS = (1, 2, 3, 4, 5, 6, 7)
DESCRIPTIONS = {
    1: "1*",
    2: "(10)*",
    3: "no odd-length run of 1s later followed by an odd-length run of 0s",
    4: "no 000",
    5: "even number of 0s and even number of 1s",
    6: "(#0 - #1) = 0 mod 3",
    7: "0*1*0*1*",
}
DEFAULT_TRAIN_LENGTHS: tuple[int, ...] = tuple(range(15)) + (15, 20, 25, 30)
GENERALISATION_LENGTHS: tuple[int, ...] = tuple(range(31, 61))

# Token ids used by :func:`encode`.
ZERO, ONE, PAD, BOS = 0, 1, 2, 3
VOCAB_SIZE = 4


@dataclass(frozen=True)
class DFA:
    """A complete DFA over {0, 1}.

    Attributes:
        transitions: ``transitions[state][symbol]`` is the next state.
        accepting: the accepting states.
        start: the initial state.
    """

    transitions: tuple[tuple[int, int], ...]
    accepting: frozenset[int]
    start: int = 0

    @property
    def n_states(self) -> int:
        return len(self.transitions)

    def run(self, string: str) -> int:
        """The state reached from :attr:`start` after reading ``string`` (validated by callers)."""
        state = self.start
        for char in string:
            state = self.transitions[state][char == "1"]
        return state

    def accepts(self, string: str) -> bool:
        return self.run(string) in self.accepting


# Minimal DFAs; state 0 is the start state.  Comments name what each state remembers.
_DFAS = {
    # 0: only 1s so far; 1: a 0 was seen (dead).
    1: DFA(((1, 0), (1, 1)), frozenset({0})),
    # 0: (10)* read; 1: an unmatched 1; 2: dead.
    2: DFA(((2, 1), (0, 2), (2, 2)), frozenset({0})),
    # 0: no completed odd 1-run, not inside an odd 1-run; 1: inside an odd 1-run
    # (no completed one before); 2: after a completed odd 1-run, inside an odd
    # 0-run; 3: after a completed odd 1-run, every later 0-run even so far; 4: dead.
    3: DFA(((0, 1), (2, 0), (3, 4), (2, 3), (4, 4)), frozenset({0, 1, 3})),
    # state = number of trailing 0s (0, 1, 2); 3: 000 seen (dead).
    4: DFA(((1, 0), (2, 0), (3, 0), (3, 3)), frozenset({0, 1, 2})),
    # state = (#0 mod 2) + 2 (#1 mod 2).
    5: DFA(((1, 2), (0, 3), (3, 0), (2, 1)), frozenset({0})),
    # state = (#0 - #1) mod 3.
    6: DFA(((1, 2), (2, 0), (0, 1)), frozenset({0})),
    # 0..3: inside the 1st..4th block of 0*1*0*1*; 4: dead.
    7: DFA(((0, 1), (2, 1), (2, 3), (4, 3), (4, 4)), frozenset({0, 1, 2, 3})),
}


def _check_k(k: int) -> None:
    if isinstance(k, bool) or k not in _DFAS:
        raise ValueError(bad_value("k", k, "a Tomita grammar number 1-7"))


def _check_string(string: str, argument: str = "string") -> None:
    if not isinstance(string, str):
        raise TypeError(bad_value(argument, string, "a str over the alphabet {'0', '1'}"))
    if string.strip("01"):
        raise ValueError(bad_value(argument, string, "a str over the alphabet {'0', '1'} (characters '0' and '1' only)"))


def dfa(k: int) -> DFA:
    """The minimal DFA of Tomita grammar ``k`` (1-7).

    >>> dfa(4).n_states
    4
    """
    _check_k(k)
    return _DFAS[k]


def accepts(k: int, string: str) -> bool:
    """Whether Tomita grammar ``k`` accepts ``string`` (a str of '0'/'1', possibly empty).

    >>> accepts(2, "1010"), accepts(2, "1001"), accepts(4, "")
    (True, False, True)
    """
    _check_k(k)
    _check_string(string)
    return _DFAS[k].accepts(string)


def _completions(machine: DFA, max_len: int, accept: bool) -> list[list[int]]:
    """``table[r][s]``: how many strings of length ``r`` lead from ``s`` into the wanted class."""
    wanted = [int((s in machine.accepting) == accept) for s in range(machine.n_states)]
    table = [wanted]
    for _ in range(max_len):
        prev = table[-1]
        table.append([prev[a] + prev[b] for a, b in machine.transitions])
    return table


def count(k: int, length: int, accept: bool = True) -> int:
    """Number of strings of ``length`` that grammar ``k`` accepts (or rejects).

    >>> count(7, 3), count(2, 4), count(2, 5)
    (8, 1, 0)
    """
    _check_k(k)
    _check_lengths([length])
    machine = _DFAS[k]
    return _completions(machine, length, accept)[length][machine.start]


def _sample(machine: DFA, table: list[list[int]], length: int, rng: random.Random) -> str:
    state, chars = machine.start, []
    for remaining in range(length, 0, -1):
        n0 = table[remaining - 1][machine.transitions[state][0]]
        n1 = table[remaining - 1][machine.transitions[state][1]]
        symbol = int(rng.randrange(n0 + n1) >= n0)
        chars.append("01"[symbol])
        state = machine.transitions[state][symbol]
    return "".join(chars)


def _enumerate(machine: DFA, table: list[list[int]], length: int) -> list[str]:
    out: list[str] = []

    def walk(state: int, prefix: str, remaining: int) -> None:
        if remaining == 0:
            out.append(prefix)
            return
        for symbol in (0, 1):
            nxt = machine.transitions[state][symbol]
            if table[remaining - 1][nxt]:
                walk(nxt, prefix + "01"[symbol], remaining - 1)

    if table[length][machine.start]:
        walk(machine.start, "", length)
    return out


def _draw(machine: DFA, length: int, n: int, accept: bool, rng: random.Random) -> list[str]:
    """Up to ``n`` distinct strings of ``length`` in the class, uniformly at random."""
    table = _completions(machine, length, accept)
    total = table[length][machine.start]
    if total <= 2 * n:
        # Few strings: list them all (output-sensitive walk) and subsample.
        everything = _enumerate(machine, table, length)
        rng.shuffle(everything)
        return everything[:n]
    seen: dict[str, None] = {}
    while len(seen) < n:  # total > 2n, so each draw is new with probability > 1/2
        seen.setdefault(_sample(machine, table, length, rng))
    return list(seen)


def _check_lengths(lengths: Iterable[int]) -> list[int]:
    lengths = list(lengths)
    for length in lengths:
        check_int("lengths", length, minimum=0, allowed="non-negative ints")
    if len(set(lengths)) != len(lengths):
        raise ValueError(bad_value("lengths", lengths, "distinct lengths"))
    return lengths


def _check_count(name: str, n: int) -> None:
    check_int(name, n, minimum=0)


def _rng(k: int, seed: int, length: int, purpose: str) -> random.Random:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(bad_value("seed", seed, "an int"))
    # str seeds are hashed with SHA-512 by random.Random, so this is stable across runs and platforms.
    return random.Random(f"eigenrnn.tomita:{k}:{seed}:{length}:{purpose}")


def generate(k: int, lengths: Iterable[int], per_length: int, seed: int) -> list[tuple[str, int]]:
    """Draw a labelled, class-balanced sample of Tomita grammar ``k``.

    For every length, ``ceil(per_length / 2)`` accepted and ``floor(per_length / 2)``
    rejected strings are drawn uniformly without repetition (all of them where
    fewer exist; see the module docstring).  Deterministic for ``seed``.

    Args:
        k: grammar number, 1-7.
        lengths: distinct non-negative string lengths.
        per_length: strings wanted per length.
        seed: int seed.

    Returns:
        ``[(string, label), ...]`` with label 1 for accepted strings, ordered by
        the given lengths and shuffled within each length.

    >>> generate(2, [4], 4, seed=0)[0][1] in (0, 1)
    True
    """
    _check_k(k)
    lengths = _check_lengths(lengths)
    _check_count("per_length", per_length)
    machine = _DFAS[k]
    out: list[tuple[str, int]] = []
    for length in lengths:
        rng = _rng(k, seed, length, "sample")
        n_pos = (per_length + 1) // 2
        items = [(s, 1) for s in _draw(machine, length, n_pos, True, rng)]
        items += [(s, 0) for s in _draw(machine, length, per_length - n_pos, False, rng)]
        rng.shuffle(items)
        out.extend(items)
    return out


def splits(
    k: int,
    seed: int,
    per_length: int = 100,
    *,
    eval_per_length: int | None = None,
    lengths: Sequence[int] = DEFAULT_TRAIN_LENGTHS,
    generalisation_lengths: Sequence[int] = GENERALISATION_LENGTHS,
) -> dict[str, list[tuple[str, int]]]:
    """The standard train / val / test / generalisation splits of grammar ``k``.

    ``train``, ``val`` and ``test`` are drawn at ``lengths`` (Weiss et al. 2018:
    0-14, 15, 20, 25, 30), ``per_length`` strings per length for train and
    ``eval_per_length`` for val and for test, class-balanced as in
    :func:`generate`.  They are disjoint wherever a length and class has enough
    strings; where it has fewer than requested, train gets all of them first and
    val/test re-use train strings of that length and class (so at the shortest
    lengths, and for T1/T2 positives, held-out accuracy measures fit).
    ``generalisation`` is :func:`generate` at ``generalisation_lengths`` (31-60),
    which no other split contains.

    Args:
        k: grammar number, 1-7.
        seed: int seed.
        per_length: training strings per length.
        eval_per_length: val and test strings per length (default ``per_length // 2``).
        lengths: lengths of train/val/test.
        generalisation_lengths: lengths of the generalisation split.

    Returns:
        ``{"train", "val", "test", "generalisation"}`` -> ``[(string, label), ...]``.
    """
    _check_k(k)
    lengths = _check_lengths(lengths)
    _check_count("per_length", per_length)
    if eval_per_length is None:
        eval_per_length = per_length // 2
    _check_count("eval_per_length", eval_per_length)
    machine = _DFAS[k]
    parts: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    for length in lengths:
        rng = _rng(k, seed, length, "splits")
        chunk: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
        for accept in (True, False):
            n_train = (per_length + 1) // 2 if accept else per_length // 2
            n_eval = (eval_per_length + 1) // 2 if accept else eval_per_length // 2
            pool = _draw(machine, length, n_train + 2 * n_eval, accept, rng)
            train, rest = pool[:n_train], pool[n_train:]
            val, test = rest[:n_eval], rest[n_eval : 2 * n_eval]
            for held in (val, test):
                if len(held) < n_eval and train:
                    held.extend(rng.sample(train, min(n_eval - len(held), len(train))))
            for name, strings in (("train", train), ("val", val), ("test", test)):
                chunk[name].extend((s, int(accept)) for s in strings)
        for name, items in chunk.items():
            rng.shuffle(items)
            parts[name].extend(items)
    parts["generalisation"] = generate(k, generalisation_lengths, eval_per_length, seed)
    return parts


def encode(strings: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of binary strings, time-first and padded, each led by a start symbol.

    Every sequence is ``[BOS, s_1, ..., s_L]`` so that the empty string still
    has one step for a model to read; symbols map to :data:`ZERO`/:data:`ONE`,
    :data:`BOS` = 3 and :data:`PAD` = 2 fills the tail.  The readout of a
    string belongs at step ``lengths[b] - 1``.

    Args:
        strings: non-empty sequence of strs over {'0', '1'}.

    Returns:
        ``(tokens, lengths)``: int64 ``(T, B)`` with ``T = max(len(s)) + 1`` and
        int64 ``(B,)`` with ``len(s) + 1``.

    >>> tokens, lengths = encode(["", "10"])
    >>> tokens.t().tolist(), lengths.tolist()
    ([[3, 2, 2], [3, 1, 0]], [1, 3])
    """
    if isinstance(strings, str) or len(strings) == 0:
        raise ValueError(bad_value("strings", strings, "a non-empty sequence of binary strs"))
    for string in strings:
        _check_string(string, "strings")
    lengths = torch.tensor([len(s) + 1 for s in strings], dtype=torch.long)
    tokens = torch.full((int(lengths.max()), len(strings)), PAD, dtype=torch.long)
    tokens[0] = BOS
    for b, string in enumerate(strings):
        if string:
            tokens[1 : len(string) + 1, b] = torch.tensor([c == "1" for c in string], dtype=torch.long)
    return tokens, lengths


# --------------------------------------------------------------------------- the task adapter


def _dataset(pairs: list[tuple[str, int]]) -> SequenceDataset:
    tokens, lengths = encode([s for s, _ in pairs])
    labels = torch.tensor([label for _, label in pairs], dtype=torch.long)
    return SequenceDataset(tokens, labels, lengths=lengths)


def _build(task: Task, seed: int, sizes: dict[str, int | None]) -> TaskData:
    per_length = task.options["per_length"]
    raw = splits(task.options["grammar"], seed, **({} if per_length is None else {"per_length": per_length}))
    built = {}
    for name in TASK_SPLITS:
        data = _dataset(raw[name])
        # The generalisation split is never subsampled: it is the whole length-generalisation test.
        index = None if name == "generalisation" else subsample(len(data), sizes[name], split_seed(seed, name))
        built[name] = data if index is None else data.take(index)
    return TaskData(built, task.input_spec, task.output_size)


def _examples(task: Task, n: int, seed: int) -> torch.Tensor:
    # One length so the batch has no padding; the longest training length.
    pairs = generate(task.options["grammar"], [max(DEFAULT_TRAIN_LENGTHS)], n, seed)
    return encode([s for s, _ in pairs[:n]])[0]


def _task(k: int, per_length: int | None = None) -> Task:
    if per_length is not None:
        check_int("per_length", per_length)
    return Task(
        name=f"tomita{k}",
        kind="classification",
        input_spec=InputSpec("tokens", VOCAB_SIZE, padding_idx=PAD),
        output_size=2,
        readout="last",
        loss="cross_entropy",
        metric="accuracy",
        higher_is_better=True,
        target=1.0,
        target_split="train",
        sizes=(0, 0, 0),  # whatever splits() generates
        options={"grammar": k, "per_length": per_length},
        horizon=max(DEFAULT_TRAIN_LENGTHS) + 1,  # encode() leads every string with BOS
        _builder=_build,
        _examples=_examples,
    )


def task_factory(k: int) -> TaskFactory:
    """The factory of task ``tomita<k>``; its one option is ``per_length`` (:func:`splits`, default 100)."""
    _check_k(k)
    return TaskFactory(functools.partial(_task, k), kind="classification", inputs="tokens")
