"""The oracle world model: rollouts are the simulator's own frames, encoded; the sim is left as it was."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

if importlib.util.find_spec("mujoco") is None or importlib.util.find_spec("robosuite") is None:
    pytest.skip("the simulator needs the [sim] extra and robosuite's assets", allow_module_level=True)

from vjepa_ac.eval.oracle import SimOracleModel
from vjepa_ac.eval.sim import PlannerPolicy, random_baseline
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
from vjepa_ac.plan.config import load_planner_config
from vjepa_ac.plan.interface import Context
from vjepa_ac.plan.mpc import Planner
from vjepa_ac.plan.world_model import LatentWorldModel
from vjepa_ac.sim.evaluate import PolicyFactory, SimEvalConfig, evaluate_policy
from vjepa_ac.sim.tasks import make_task

pytestmark = pytest.mark.sim


def _encoder_model(pretrained: bool = False) -> LatentWorldModel:
    if pretrained:
        from vjepa_ac.official import load_released_encoder
        from vjepa_ac.pipeline import SHIPPED_ENCODERS

        encoder = load_released_encoder(SHIPPED_ENCODERS["sim_vjepa_64"])
    else:
        torch.manual_seed(0)
        encoder = VisionTransformer(EncoderConfig(img_size=32, patch_size=16, embed_dim=48, depth=1, num_heads=2))
    size = encoder.cfg.img_size
    predictor = ACPredictor(PredictorConfig(img_size=(size, size), patch_size=16, embed_dim=encoder.cfg.embed_dim,
                                            width=32, depth=1, num_heads=1))
    return LatentWorldModel(encoder.eval(), predictor)


def test_rollout_is_the_simulated_future_and_leaves_the_sim_unchanged():
    model = _encoder_model()
    with make_task("grasp", lab="eval_garage", image_size=64, object="cup") as task:
        obs = task.reset(2)
        oracle = SimOracleModel(task, model)
        context = Context.single(model.encode(torch.from_numpy(obs.image)[None]), torch.from_numpy(obs.state).float())
        actions = torch.tensor([[[0.0, 0.0, -0.03, 0, 0, 0, 0.0], [0.0, 0.0, -0.02, 0, 0, 0, 1.0]],
                                [[0.05, 0.0, 0.0, 0, 0, 0, 0.0], [0.0, 0.05, 0.0, 0, 0, 0, 0.0]]])  # [S=2, H=2, 7]
        before = task.sim.snapshot()
        z = oracle.rollout(context, actions)
        assert z.shape == (2, 2, *context.z.shape[1:])
        np.testing.assert_array_equal(task.sim.snapshot().physics, before.physics)
        torch.testing.assert_close(oracle.rollout(context, actions), z, rtol=0, atol=0)  # deterministic
        # the second candidate's frames are what the robot sees when it executes those actions
        frames = [task.step(a.numpy()).image for a in actions[1]]
        torch.testing.assert_close(z[1], model.encode(torch.from_numpy(np.stack(frames))), rtol=0, atol=0)


@pytest.mark.slow
def test_oracle_planner_beats_random_actions_on_grasp():
    """The encoder and the L1 energy allow grasping: with the simulator as its world model, the
    paper's CEM (small budget) closes on the object; random actions within the same bounds do not."""
    model = _encoder_model(pretrained=True)
    planner_cfg = load_planner_config("paper")
    planner_cfg = type(planner_cfg)(**{**planner_cfg.__dict__, "num_samples": 48, "iterations": 3})
    cfg = SimEvalConfig(tasks=("grasp",), labs=("eval_kitchen",), episodes=3, objects={"grasp": ("cup",)},
                        image_size=128, camera_zoom=0.8, video="none", progress=False)
    oracle = PolicyFactory(lambda task: PlannerPolicy(Planner(SimOracleModel(task, model), planner_cfg)))
    wins = sum(e.success for e in evaluate_policy(oracle, cfg, name="oracle").episodes)
    rand = sum(e.success for e in evaluate_policy(random_baseline(planner_cfg), cfg, name="random").episodes)
    assert rand == 0 and wins >= 2
