from __future__ import annotations

import itertools
import math
import random
import re
from collections import Counter

import pytest
import torch
from scipy import stats

from eigenrnn.tasks import tomita


def _runs(s: str) -> list[tuple[str, int]]:
    return [(char, len(list(group))) for char, group in itertools.groupby(s)]


def _t3(s: str) -> bool:
    runs = _runs(s)
    for i, (ci, ni) in enumerate(runs):
        if ci == "1" and ni % 2:
            if any(cj == "0" and nj % 2 for cj, nj in runs[i + 1 :]):
                return False
    return True


# Independent definitions: regular expressions and counting, no automata.
REFERENCE = {
    1: lambda s: re.fullmatch(r"1*", s) is not None,
    2: lambda s: re.fullmatch(r"(10)*", s) is not None,
    3: _t3,
    4: lambda s: "000" not in s,
    5: lambda s: s.count("0") % 2 == 0 and s.count("1") % 2 == 0,
    6: lambda s: (s.count("0") - s.count("1")) % 3 == 0,
    7: lambda s: re.fullmatch(r"0*1*0*1*", s) is not None,
}

ALL_UP_TO_12 = ["".join(bits) for n in range(13) for bits in itertools.product("01", repeat=n)]


@pytest.mark.parametrize("k", tomita.GRAMMARS)
def test_dfa_matches_independent_definition_on_all_strings_up_to_12(k):
    wrong = [s for s in ALL_UP_TO_12 if tomita.accepts(k, s) != REFERENCE[k](s)]
    assert wrong == []
    assert tomita.accepts(k, "") is True  # every Tomita grammar contains the empty string


def test_t3_reference_agrees_with_weiss_regex():
    # Weiss et al. 2018 define not-T3 with this regular expression; it pins down "later followed".
    not_t3 = re.compile(r"((0|1)*0)*1(11)*(0(0|1)*1)*0(00)*(1(0|1)*)*$")
    assert all((not_t3.match(s) is None) == _t3(s) for s in ALL_UP_TO_12)
    assert not tomita.accepts(3, "100110")  # odd 1-run, later (not adjacent) odd 0-run
    assert tomita.accepts(3, "1001100")


@pytest.mark.parametrize("k", tomita.GRAMMARS)
def test_dfas_are_minimal(k):
    machine = tomita.dfa(k)
    reachable, frontier = {machine.start}, [machine.start]
    while frontier:
        for nxt in machine.transitions[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(range(machine.n_states))
    # Moore's partition refinement: a minimal DFA has one class per state.
    classes = [int(s in machine.accepting) for s in range(machine.n_states)]
    while True:
        signature = [(classes[s], classes[a], classes[b]) for s, (a, b) in enumerate(machine.transitions)]
        refined = [sorted(set(signature)).index(sig) for sig in signature]
        if len(set(refined)) == len(set(classes)):
            break
        classes = refined
    assert len(set(classes)) == machine.n_states


def test_bad_input_names_argument_value_and_allowed():
    with pytest.raises(ValueError, match=r"k: got 8; expected .*1-7"):
        tomita.accepts(8, "01")
    with pytest.raises(ValueError, match=r"k: got True"):
        tomita.accepts(True, "01")
    with pytest.raises(ValueError, match=r"string: got '012'.*'0', '1'"):
        tomita.accepts(1, "012")
    with pytest.raises(TypeError, match="string"):
        tomita.accepts(1, 101)
    with pytest.raises(ValueError, match="lengths"):
        tomita.generate(4, [-1], 4, seed=0)
    with pytest.raises(ValueError, match="per_length"):
        tomita.generate(4, [3], -2, seed=0)


@pytest.mark.parametrize("k", tomita.GRAMMARS)
def test_count_matches_brute_force(k):
    for length in range(11):
        strings = ["".join(b) for b in itertools.product("01", repeat=length)]
        positives = sum(REFERENCE[k](s) for s in strings)
        assert tomita.count(k, length) == positives
        assert tomita.count(k, length, accept=False) == 2**length - positives


@pytest.mark.parametrize("k", tomita.GRAMMARS)
def test_generate_is_labelled_balanced_distinct_and_deterministic(k):
    lengths, per_length = [0, 1, 3, 8, 20, 45], 30
    data = tomita.generate(k, lengths, per_length, seed=5)
    assert data == tomita.generate(k, lengths, per_length, seed=5)
    assert data != tomita.generate(k, lengths, per_length, seed=6)
    assert all(label == int(REFERENCE[k](s)) for s, label in data)
    by_length = {n: [(s, y) for s, y in data if len(s) == n] for n in lengths}
    assert sum(map(len, by_length.values())) == len(data)
    for n, items in by_length.items():
        strings = [s for s, _ in items]
        assert len(set(strings)) == len(strings)
        labels = Counter(y for _, y in items)
        assert labels[1] == min(math.ceil(per_length / 2), tomita.count(k, n))
        assert labels[0] == min(per_length // 2, tomita.count(k, n, accept=False))


def test_sparse_positives_are_constructed_at_long_lengths():
    # Rejection sampling would essentially never hit these (e.g. T2: 1 of 2**60 strings).
    data = tomita.generate(2, [60, 59], 10, seed=0)
    assert [s for s, y in data if y == 1] == ["10" * 30]
    t7 = [s for s, y in tomita.generate(7, [60], 100, seed=0) if y == 1]
    assert len(t7) == 50 and all(REFERENCE[7](s) for s in t7)
    assert [s for s, y in tomita.generate(1, [40], 10, seed=3) if y == 1] == ["1" * 40]


def test_length_streams_do_not_depend_on_other_lengths():
    alone = tomita.generate(4, [9], 20, seed=1)
    together = tomita.generate(4, [2, 9, 30], 20, seed=1)
    assert [p for p in together if len(p[0]) == 9] == alone


def test_class_sampler_is_uniform():
    machine = tomita.dfa(4)
    length = 6
    table = tomita._completions(machine, length, True)
    rng = random.Random(0)
    draws = Counter(tomita._sample(machine, table, length, rng) for _ in range(20_000))
    accepted = [s for s in ALL_UP_TO_12 if len(s) == length and REFERENCE[4](s)]
    assert set(draws) == set(accepted)
    assert stats.chisquare([draws[s] for s in accepted]).pvalue > 1e-3


@pytest.mark.parametrize("k", [3, 4])
def test_splits_protocol(k):
    parts = tomita.splits(k, seed=2, per_length=40)
    assert set(parts) == {"train", "val", "test", "generalisation"}
    assert parts == tomita.splits(k, seed=2, per_length=40)
    for name in ("train", "val", "test"):
        assert {len(s) for s, _ in parts[name]} == set(tomita.DEFAULT_TRAIN_LENGTHS)
        assert all(label == int(REFERENCE[k](s)) for s, label in parts[name])
    assert {len(s) for s, _ in parts["generalisation"]} == set(tomita.GENERALISATION_LENGTHS)
    assert tomita.DEFAULT_TRAIN_LENGTHS == tuple(range(15)) + (15, 20, 25, 30)
    # Disjoint wherever a length has enough strings of each class for all three splits.
    for n in tomita.DEFAULT_TRAIN_LENGTHS:
        if min(tomita.count(k, n), tomita.count(k, n, accept=False)) >= 2 * (20 + 2 * 10):
            train = {s for s, _ in parts["train"] if len(s) == n}
            val = {s for s, _ in parts["val"] if len(s) == n}
            test = {s for s, _ in parts["test"] if len(s) == n}
            assert len(train) == 40 and len(val) == len(test) == 20
            assert not (train & val) and not (train & test) and not (val & test)
    # The empty string is the only string of length 0: train has it, held-out splits re-use it.
    assert ("", 1) in parts["train"] and ("", 1) in parts["test"]


def test_encode_layout_and_round_trip():
    strings = ["", "0", "1101", "10"]
    tokens, lengths = tomita.encode(strings)
    assert tokens.shape == (5, 4) and tokens.dtype == torch.long
    assert lengths.tolist() == [1, 2, 5, 3]
    assert (tokens[0] == tomita.BOS).all()
    for b, s in enumerate(strings):
        body = tokens[1 : lengths[b], b].tolist()
        assert "".join("01"[t] for t in body) == s
        assert (tokens[lengths[b] :, b] == tomita.PAD).all()
    assert int(tokens.max()) < tomita.VOCAB_SIZE
    with pytest.raises(ValueError, match="strings"):
        tomita.encode([])
    with pytest.raises(ValueError, match="strings: got '1a'"):
        tomita.encode(["1a"])
