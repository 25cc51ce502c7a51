"""eigenrnn.analysis.inputs (what analyze feeds a model) and loading's messages in argument names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eigenrnn.analysis.inputs import DEFAULT_STEPS, model_inputs
from eigenrnn.analysis.loading import load_plain_rnn
from eigenrnn.cli import analyze as cli_analyze
from eigenrnn.models import SequenceModel


def test_random_inputs_are_seeded_gaussians_of_every_recurrent_module():
    inputs, notes = model_inputs(nn.LSTM(3, 4), batch=2, seed=5)
    (x, source), = inputs.values()
    expected = torch.randn(DEFAULT_STEPS, 2, 3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(x, expected) and source == "random N(0, 1), seed 5" and len(notes) == 1
    assert DEFAULT_STEPS == cli_analyze._DEFAULT_STEPS  # the CLI's --help copy of the default


def test_task_inputs_drive_the_sequence_models_rnn_through_rnn_inputs():
    from eigenrnn.tasks import get_task

    task = get_task("adding")
    model = SequenceModel(task.input_spec, task.output_size, cell="gru", hidden=6, seed=0)

    class _Ckpt:  # what model_inputs reads of a checkpoint: the config's task and options
        class config:
            task = "adding"
            task_options = {}

    inputs, notes = model_inputs(model, task="adding", batch=3, seed=1, checkpoint=_Ckpt())
    x = task.example_inputs(3, 1, tokenizer=None)
    with torch.no_grad():
        assert torch.equal(inputs["rnn"][0], model.rnn_inputs(x))
    assert inputs["rnn"][1] == "task 'adding' examples (seed 1)" and "adding" in notes[0]
    with pytest.raises(ValueError, match="steps: got 4"):
        model_inputs(model, task="adding", steps=4, checkpoint=_Ckpt())


def test_loading_messages_name_the_function_arguments(tmp_path):
    path = tmp_path / "gru.pt"
    torch.save(nn.GRU(3, 4).state_dict(), path)
    with pytest.raises(ValueError, match=r"^cell: got 'transformer'"):
        load_plain_rnn(path, "transformer", 4)
    with pytest.raises(Exception, match=r"cell='gru', hidden=5 expects \(15, input_size\)") as info:
        load_plain_rnn(path, "gru", 5)
    assert "--" not in str(info.value)
    with pytest.raises(Exception, match=r"but input_size=2 was given"):
        load_plain_rnn(path, "gru", 4, input_size=2)
