"""The vocabulary of recurrent modules (eigenrnn.rnn) against torch's own modules."""

import pytest
import torch

from eigenrnn import names, rnn


def test_block_keys_round_trip_and_match_the_blocks():
    model = torch.nn.ModuleDict({"enc": torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True), "dec": torch.nn.GRUCell(2, 3)})
    blocks = rnn.recurrent_blocks(model)
    assert len(blocks) == 2 * 2 * 4 + 3
    for block in blocks:
        key = rnn.parse_block_key(block.key)
        assert (key.module_name, key.layer, key.direction, key.gate) == (block.module_name, block.layer, block.direction, block.gate)
        assert str(key) == block.key
        assert block.gate in names.GATES[block.cell]


def test_cell_of_every_torch_class_and_gate_count_matches_weight_hh():
    for cell in names.CELLS:
        for cls in (rnn.CLASSES[cell], rnn.CELL_CLASSES[cell]):
            module = cls(2, 5)
            assert rnn.cell_of(module) == cell
            weight = module.weight_hh if hasattr(module, "weight_hh") else module.weight_hh_l0
            assert weight.shape[0] == len(names.GATES[cell]) * 5
    assert rnn.module_kind(torch.nn.RNN(2, 3, nonlinearity="relu")) == "relu"
    with pytest.raises(TypeError, match="module: got 'Linear'"):
        rnn.cell_of(torch.nn.Linear(2, 3))


def test_parse_block_key_refuses_a_malformed_key():
    with pytest.raises(ValueError, match="block key: got 'rnn.l0.up.h'"):
        rnn.parse_block_key("rnn.l0.up.h")
