"""Energy landscapes: the grid, the minimum of a known optimum, the plot and files of the CLI."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import FRANKA_EXAMPLE
from vjepa_ac.cli import main
from vjepa_ac.data.poses import states_to_actions
from vjepa_ac.eval.landscape import action_grid, energy_landscape, load_npz_pair, plot_landscape
from vjepa_ac.plan.interface import Context
from vjepa_ac.plan.toy import ToyWorldModel


def test_action_grid_order_and_layout():
    a = action_grid(0.05, 3, gripper=0.5)
    assert a.shape == (27, 7)
    assert torch.equal(a[0, :3], torch.tensor([-0.05, -0.05, -0.05])) and torch.equal(
        a[1, :3], torch.tensor([-0.05, -0.05, 0.0])
    )
    assert torch.equal(a[9, :3], torch.tensor([0.0, -0.05, -0.05]))  # dx slowest, dz fastest ("ij")
    assert torch.all(a[:, 3:6] == 0) and torch.all(a[:, 6] == 0.5)
    with pytest.raises(ValueError):
        action_grid(0.05, 1)


def test_landscape_minimum_is_the_known_optimum():
    model = ToyWorldModel(tokens=4, width=16, seed=0)
    start = torch.tensor([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    offset = torch.tensor([0.045, -0.03, 0.015])  # on the grid of step 0.015
    target = start.clone()
    target[:3] += offset
    true = torch.cat([offset, torch.zeros(4)])
    land = energy_landscape(
        model,
        Context.single(model.embed(start), start),
        model.embed(target),
        grid=0.075,
        steps=11,
        chunk_size=100,
        true_action=true,
    )
    assert land.energies.shape == (11, 11, 11)
    np.testing.assert_allclose(land.argmin, offset.numpy(), atol=1e-6)
    s = land.summary()
    assert s["argmin_to_true_l2"] < 1e-6 and s["true_inside_grid"] and s["true_energy"] < 1e-5
    assert s["min_energy"] == pytest.approx(s["true_energy"], abs=1e-5) and s["zero_energy"] > s["min_energy"]
    # chunking does not change the numbers
    again = energy_landscape(
        model,
        Context.single(model.embed(start), start),
        model.embed(target),
        grid=0.075,
        steps=11,
        chunk_size=None,
    )
    np.testing.assert_allclose(again.energies, land.energies, rtol=1e-6)


def test_landscape_command_on_the_franka_example(tmp_path, capsys):
    out = tmp_path / "land" / "franka.png"
    rc = main(
        [
            "landscape",
            "tiny:",
            "--npz",
            str(FRANKA_EXAMPLE),
            "--steps",
            "5",
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert out.stat().st_size > 10_000
    grid = np.load(out.with_suffix(".npz"))
    assert grid["energies"].shape == (5, 5, 5) and grid["values"].shape == (5,)
    _, _, s0, s1 = load_npz_pair(FRANKA_EXAMPLE)
    true = states_to_actions(torch.as_tensor(np.stack([s0, s1])))[0].numpy()
    np.testing.assert_allclose(grid["true_action"], true, atol=1e-6)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["model_id"] == printed["model_id"] == "tiny:seed=0,img_size=64"
    assert summary["true_inside_grid"] is False  # the example moves ~9 cm in x: outside the 7.5 cm grid
    assert summary["gripper"] == pytest.approx(true[6])
    assert summary["min_energy"] <= summary["true_energy"] + 1e-6 or not summary["true_inside_grid"]


def test_landscape_plot_axes():
    model = ToyWorldModel()
    start = torch.zeros(7)
    land = energy_landscape(
        model,
        Context.single(model.embed(start), start),
        model.embed(start + 0.02),
        steps=5,
        true_action=torch.full((7,), 0.02),
    )
    fig = plot_landscape(land, through="zero")
    axes = fig.axes[:3]
    assert [(a.get_xlabel(), a.get_ylabel()) for a in axes] == [
        ("dx (cm)", "dy (cm)"),
        ("dx (cm)", "dz (cm)"),
        ("dy (cm)", "dz (cm)"),
    ]
    assert axes[0].get_title() == "dx-dy at dz = 0.0 cm"
    assert axes[0].get_images()[0].get_array().shape == (5, 5)
    assert axes[0].get_xlim() == pytest.approx((-9.375, 9.375))  # 3.75 cm cells centred on -7.5 .. 7.5 cm
    assert fig.axes[-1].get_ylabel() == "energy (l1)"  # the colour bar


def test_landscape_command_rejects_mixed_inputs(tmp_path, capsys):
    assert main(["landscape", "tiny:", "--npz", "x.npz", "--image", "a.png"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["landscape", "tiny:", "--image", "a.png"]) == 2
