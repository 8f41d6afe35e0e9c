"""Per-episode pictures of an evaluated planner: what it saw, its goal, and what it expected.

``EpisodePictures`` watches a planning policy (``eval.sim.PlannerPolicy`` calls ``observe``
after each plan): it keeps the observed frame (as the model sees it: its crop and size), the
goal, and the decoded prediction of the chosen action, got by asking the world model once more
for that one action from the same observation (``rollout`` of ``[1, 1, 7]``: one encoder call and
one predictor step per action, no randomness, so planning results do not change). ``save`` writes

- ``<stem>.png``: a strip. Row "observed": frames o_0 .. o_T-1 (the frame each plan started
  from); row "predicted": under o_t the decoded prediction made at t-1 for after its action
  (compare it with the frame above); the last column: the goal, and the goal's decoding
  (how well the decoder draws a real frame of this scene);
- ``<stem>.gif`` (or ``.mp4``): per step, observed | predicted after the chosen action | goal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa_ac.data.transforms import crop_and_resize
from vjepa_ac.pictures import display_scale, labelled_grid, side_by_side, write_animation, write_png
from vjepa_ac.plan.interface import Context

MAX_STRIP_COLUMNS = 16  # a longer episode's strip shows evenly spaced steps (the animation shows all)


class EpisodePictures:
    """Recorder for one policy. ``world_model``: a ``plan.world_model.LatentWorldModel``;
    ``decoder``: a ``models.decoder.FrameDecoder`` of its encoder; ``fmt``: ``gif`` or ``mp4``."""

    def __init__(self, world_model, decoder, fmt: str = "gif", fps: float = 4.0):
        self.world_model, self.decoder, self.fmt, self.fps = world_model, decoder, fmt, fps
        self.size = decoder.cfg.size_hw[0]
        self.scale = display_scale(self.size)  # small frames are enlarged in the pictures
        self.reset()

    def reset(self) -> None:
        self.observed: list[torch.Tensor] = []  # [3, S, S] uint8 each
        self.predicted: list[torch.Tensor] = []  # [N, D] reps after each chosen action
        self.goal: np.ndarray | None = None

    def _view(self, image: Any) -> torch.Tensor:
        """A camera frame ``[H, W, 3]`` uint8 as the model sees it: ``[3, S, S]`` uint8."""
        return crop_and_resize(torch.as_tensor(np.asarray(image))[None], self.world_model.crop, self.size)[0]

    @torch.no_grad()
    def observe(self, image: Any, state: Any, goal: Any, action: np.ndarray) -> None:
        """After a plan from ``image`` / ``state [7]`` toward ``goal`` chose ``action [7]``."""
        z = self.world_model.encode(torch.as_tensor(np.asarray(image))[None])  # [1, N, D]
        s = torch.as_tensor(np.asarray(state, dtype=np.float32)).reshape(7)
        a = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(1, 1, 7)
        pred = self.world_model.rollout(Context.single(z, s), a)  # [1, 1, N, D]
        self.observed.append(self._view(image))
        self.predicted.append(pred[0, 0].cpu())
        g = goal[-1] if isinstance(goal, (list, tuple)) else goal  # the final goal of a sequence
        self.goal = np.asarray(g)

    def save(self, stem: str | Path) -> dict[str, str]:
        """Write ``<stem>.png`` and ``<stem>.<fmt>``; returns their paths ({} before any step)."""
        if not self.observed:
            return {}
        stem = Path(stem)
        goal = self._view(self.goal)
        decoded = self.decoder.decode(torch.stack([*self.predicted, self.world_model.encode(goal[None])[0].cpu()]))
        pred, goal_decoded = list(decoded[:-1]), decoded[-1]
        T = len(self.observed)
        cols = list(range(T + 1)) if T + 1 <= MAX_STRIP_COLUMNS else sorted(
            set(np.linspace(0, T, MAX_STRIP_COLUMNS).round().astype(int).tolist()))
        observed = [self.observed[t] if t < T else None for t in cols]
        predicted = [pred[t - 1] if t > 0 else None for t in cols]
        strip = labelled_grid([("observed", [*observed, goal]), ("predicted", [*predicted, goal_decoded])],
                              header=[*(f"t={t}" for t in cols), "goal"], scale=self.scale)
        png = write_png(stem.with_suffix(".png"), strip)
        frames = [side_by_side(self.observed[t], pred[t], goal, labels=[f"t={t}", f"pred t={t + 1}", "goal"],
                               scale=self.scale)
                  for t in range(T)]
        anim = write_animation(stem.with_suffix(f".{self.fmt}"), frames, fps=self.fps)
        return {"strip": str(png), "animation": str(anim)}


@torch.no_grad()
def clip_strip(world_model, decoder, frames: torch.Tensor, states: torch.Tensor, recorded: torch.Tensor,
               planned: torch.Tensor) -> np.ndarray:
    """``eval offline``'s picture of one clip: row "real" its frames ``[T, 3, S, S]`` uint8 (as the
    model sees them); under frame t+1, row "pred recorded" the decoded prediction from frame t
    with the recorded action, row "pred planned" with the planned one (``recorded`` / ``planned``
    ``[K, 7]``, K <= T-1 steps). A model failure shows in the middle row (the recorded action does
    not lead to the real frame), a search failure in the last (another action looked better)."""
    K = planned.shape[0]
    z = world_model.encode(frames[: K + 1])  # [K+1, N, D]
    preds = []
    for t in range(K):
        a = torch.stack([recorded[t], planned[t]]).float()[:, None]  # [2, 1, 7]
        preds.append(world_model.rollout(Context.single(z[t], states[t].float()), a)[:, 0].cpu())  # [2, N, D]
    decoded = decoder.decode(torch.cat(preds))  # [2K, 3, H, W]: recorded, planned per step
    return labelled_grid([("real", list(frames[: K + 1])), ("pred rec.", [None, *decoded[0::2]]),
                          ("pred plan", [None, *decoded[1::2]])], header=[f"t={t}" for t in range(K + 1)],
                         scale=display_scale(frames.shape[-1]))
