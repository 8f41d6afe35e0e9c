"""The oracle world model: the simulator itself in the predictor's place.

``SimOracleModel(task, encoder)`` satisfies ``plan.interface.WorldModel``. Its ``rollout``
simulates each candidate action sequence from the task's current physics state
(``FrankaSim.snapshot`` / ``restore``), renders the camera frame after every action and
encodes it with the same frozen encoder as the learned model. A planner over it (same planner,
energy and budget, ``vjepa-ac eval sim oracle=true``) succeeds as often as the encoder and the
energy allow; the gap to the learned predictor is what the predictor loses (issue 17,
notes/manipulation.md). No simulator state reaches the planner: it still sees only energies
between encoded frames and the goal image.

Cost: one control step and one render per candidate and horizon step, ~15-25 ms on a CPU, so
CEM 300 x 5 takes ~30 s per action; ``oracle_plan`` overrides give it a smaller budget.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.plan.interface import Context, WorldModel
from vjepa_ac.sim.tasks import Task


class SimOracleModel:
    """Predicts by simulating: ``rollout(context, actions [S, H, 7]) -> reps [S, H, N, D]``.

    task: the running sim task (its simulator is stepped and restored, never left changed)
    encoder: any world model whose ``encode`` gives the planner's representations (the learned
        model's frozen encoder, with its crop and normalisation)
    The context is ignored: the simulator's current state is the truth it starts from.
    """

    def __init__(self, task: Task, encoder: WorldModel):
        self.task = task
        self.encoder = encoder

    def encode(self, images: Tensor) -> Tensor:
        """uint8 ``[B, H, W, 3]`` -> layer-normed reps ``[B, N, D]`` (the encoder's own)."""
        return self.encoder.encode(images)

    @torch.no_grad()
    def rollout(self, context: Context, actions: Tensor) -> Tensor:
        """``actions [S, H, 7]`` -> reps ``[S, H, N, D]`` of the frames rendered after each action."""
        S, H, _ = actions.shape
        sim = self.task.sim
        start = sim.snapshot()
        frames = []
        try:
            for sequence in actions.detach().double().cpu().numpy():  # [H, 7]
                sim.restore(start)
                frames += [sim.step(a).image for a in sequence]
        finally:
            sim.restore(start)
        z = self.encoder.encode(torch.from_numpy(np.stack(frames)))  # [S*H, N, D]
        return z.reshape(S, H, *z.shape[1:]).to(context.device)
