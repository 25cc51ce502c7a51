from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from eigenrnn.tasks import DATA_SPLITS, TASK_SPLITS, get_task, task_factory, task_names, task_options
from eigenrnn.tasks.base import split_seed, subsample
from eigenrnn.tasks import synthetic, tomita

ALL = (
    *(f"tomita{k}" for k in range(1, 8)),
    "mnist", "pmnist", "mnist14", "pmnist14", "adding", "copy", "sine", "mackey-glass", "multi30k",
)


def test_names_are_the_issue_list():
    assert set(task_names()) == set(ALL)


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        get_task("tomita8")
    message = str(info.value)
    assert "tomita8" in message
    for name in ALL:
        assert name in message


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"options of task 'adding'.*'delay'.*only: length"):
        get_task("adding", delay=5)
    with pytest.raises(ValueError, match="permutation_seed"):
        get_task("mnist", permutation_seed=1)
    with pytest.raises(ValueError, match="length: got 0"):
        get_task("sine", length=0)


@pytest.mark.parametrize(
    "name, kind, metric, higher, readout, split",
    [
        ("tomita3", "classification", "accuracy", True, "last", "train"),
        ("mnist14", "classification", "accuracy", True, "last", "val"),
        ("adding", "regression", "mse", False, "last", "val"),
        ("sine", "regression", "mse", False, "every", "val"),
        ("mackey-glass", "regression", "mse", False, "every", "val"),
        ("copy", "classification", "accuracy", True, "every", "val"),
        ("multi30k", "seq2seq", "bleu", True, "every", "val"),
    ],
)
def test_task_descriptions(name, kind, metric, higher, readout, split):
    task = get_task(name)
    assert (task.kind, task.metric, task.higher_is_better, task.readout, task.target_split) == (kind, metric, higher, readout, split)
    assert set(task.options) >= set(task_options(name)) - {"data_dir"}


def test_tomita_splits_follow_the_data_module_and_read_at_the_true_end():
    task = get_task("tomita5", per_length=10)
    data = task.build(seed=3)
    raw = tomita.splits(5, 3, per_length=10)
    assert set(data.splits) == {"train", "val", "test", "generalisation"}
    for name, pairs in raw.items():
        split = data.splits[name]
        assert len(split) == len(pairs)
        assert split.y.tolist() == [label for _, label in pairs]
        assert split.lengths.tolist() == [len(s) + 1 for s, _ in pairs]
    assert data.input_spec.size == tomita.VOCAB_SIZE and data.input_spec.padding_idx == tomita.PAD
    # labels agree with the DFA
    s, label = raw["test"][7]
    assert label == int(tomita.accepts(5, s))


def test_subsets_are_seeded_and_keep_generalisation_whole():
    task = get_task("tomita4", per_length=20)
    a = task.build(seed=0, train_size=50, val_size=20, test_size=10)
    b = task.build(seed=0, train_size=50, val_size=20, test_size=10)
    c = task.build(seed=1, train_size=50, val_size=20, test_size=10)
    assert [len(a.splits[s]) for s in ("train", "val", "test")] == [50, 20, 10]
    assert len(a.splits["generalisation"]) == len(task.build(seed=0).splits["generalisation"])
    assert torch.equal(a.splits["train"].x, b.splits["train"].x)
    assert not torch.equal(a.splits["train"].y, c.splits["train"].y) or not torch.equal(a.splits["train"].x, c.splits["train"].x)


def test_batches_trim_padding():
    data = get_task("tomita2", per_length=4).build(seed=0).splits["train"]
    index = torch.nonzero(data.lengths <= 3).flatten()[:5]
    batch = data.batch(index)
    assert batch.x.shape == (int(data.lengths[index].max()), len(index))
    assert torch.equal(batch.lengths, data.lengths[index])


@pytest.mark.parametrize(
    "name, options, x_shape, y_shape",
    [
        ("adding", {"length": 12}, (12, 6, 2), (6, 1)),
        ("sine", {"length": 9}, (9, 6, 1), (9, 6, 1)),
        ("mackey-glass", {"length": 9}, (9, 6, 1), (9, 6, 1)),
        ("copy", {"delay": 5, "copy_len": 3}, (11, 6), (11, 6)),
    ],
)
def test_synthetic_tasks_match_their_generators(name, options, x_shape, y_shape):
    task = get_task(name, **options)
    data = task.build(seed=2, train_size=6, val_size=4, test_size=4)
    train = data.splits["train"]
    assert tuple(train.x.shape) == x_shape and tuple(train.y.shape) == y_shape
    assert not torch.equal(train.x[:, :4], data.splits["val"].x)  # splits use different seeds
    again = task.build(seed=2, train_size=6, val_size=4, test_size=4).splits["train"]
    assert torch.equal(train.x, again.x) and torch.equal(train.y, again.y)
    example = task.example_inputs(3, seed=0)
    assert tuple(example.shape) == (x_shape[0], 3, *x_shape[2:])


def test_copy_task_vocab_and_scoring_window():
    task = get_task("copy", delay=7, n_symbols=4, copy_len=2)
    assert task.input_spec.size == task.output_size == synthetic.copy_memory_vocab(4).vocab_size
    assert task.score_last == 2


def test_tomita_example_inputs_are_unpadded_tokens():
    x = get_task("tomita7").example_inputs(8, seed=1)
    assert x.dtype == torch.long and x.shape[1] == 8
    assert (x != tomita.PAD).all()


def test_multi30k_example_inputs_need_the_tokenizer():
    with pytest.raises(ValueError, match="tokenizer"):
        get_task("multi30k").example_inputs(2)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="train_size: got 0"):
        get_task("adding").build(seed=0, train_size=0)
    with pytest.raises(ValueError, match="tokenizer"):
        get_task("adding").build(seed=0, tokenizer=object())


@pytest.mark.parametrize("name", ALL)
def test_each_factory_declares_what_its_tasks_are(name):
    factory = task_factory(name)
    task = get_task(name)
    assert (task.kind, task.input_spec.kind) == (factory.kind, factory.inputs)
    assert factory.options == task_options(name) == tuple(inspect.signature(factory.make).parameters)
    assert task.seq2seq == factory.seq2seq == (name == "multi30k")


def test_a_factory_that_makes_another_kind_is_refused():
    wrong = dataclasses.replace(task_factory("adding"), kind="classification")
    with pytest.raises(TypeError, match="declares classification.*made regression"):
        wrong(length=3)


def test_unknown_name_in_task_factory_lists_the_valid_ones():
    with pytest.raises(ValueError, match="task: got 'tomita0'; expected one of tomita1, .*multi30k"):
        task_factory("tomita0")


def test_data_and_task_splits_are_one_definition_each():
    assert DATA_SPLITS == ("train", "val", "test") and TASK_SPLITS == (*DATA_SPLITS, "generalisation")
    assert set(get_task("adding").build(seed=0, train_size=2, val_size=2, test_size=2).splits) == set(DATA_SPLITS)
    assert set(get_task("tomita1", per_length=2).build(seed=0).splits) == set(TASK_SPLITS)


def test_subsample_keeps_all_or_draws_a_sorted_seeded_subset():
    assert subsample(5, None, 0) is None and subsample(5, 5, 0) is None and subsample(5, 9, 0) is None
    index = subsample(100, 10, split_seed(3, "val"))
    assert index.tolist() == sorted(index.tolist()) and len(set(index.tolist())) == 10
    assert torch.equal(index, subsample(100, 10, split_seed(3, "val")))
    assert not torch.equal(index, subsample(100, 10, split_seed(3, "test")))


def test_decoded_metric_is_for_seq2seq_tasks_only():
    with pytest.raises(ValueError, match="task: got 'adding'; expected a seq2seq task"):
        get_task("adding").decoded_metric(None, [[1]], ["a"])
