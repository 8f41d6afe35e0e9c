"""``vjepa-ac rollout``: decoded frames of what a world model predicts for an action sequence.

    vjepa-ac rollout runs/sim --image start.png --state "0.5 0 0.3 3.14 0 0 0" --actions actions.npy --out ro/
    vjepa-ac rollout runs/sim --episode runs/sim/episodes/<...>/<episode folder> --start-step 3 --out ro/

From a start frame + state, the world model predicts the representation after each action
(``rollout``, its own predictions fed back) and the model's frame decoder (``models.decoder``,
found beside the model or given) draws them. With a recorded episode, the start frame, state
and actions default to the episode's (at the model's control rate, from ``--start-step``), and
the real frames after each action are drawn above the predicted ones, with the PSNR (dB) of each
prediction against the real frame. Writes ``rollout.png`` (the strip), ``rollout.gif`` (or
``.mp4``), ``predicted_<h>.png`` and ``rollout.json`` into ``out_dir``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.data.clips import ClipConfig, frame_grid
from vjepa_ac.data.droid import DroidConfig, read_episode
from vjepa_ac.data.poses import states_to_actions
from vjepa_ac.data.transforms import crop_and_resize
from vjepa_ac.load import load_decoder_for, load_world_model
from vjepa_ac.pictures import display_scale, labelled_grid, side_by_side, write_animation, write_png
from vjepa_ac.plan.interface import Context

DEFAULT_FPS = 4.0  # control rate of a model that records none (releases: their own)


def parse_actions(text: str) -> np.ndarray:
    """``actions.npy`` ([H, 7]) or rows of 7 numbers separated by ';' -> ``[H, 7]`` float32."""
    if text.endswith(".npy"):
        if not Path(text).is_file():
            raise FileNotFoundError(f"actions file not found: {text}")
        a = np.load(text)
    else:
        try:
            a = np.array([[float(x) for x in row.replace(",", " ").split()] for row in text.split(";") if row.strip()])
        except ValueError as e:
            raise ValueError(f"--actions: rows of 7 numbers separated by ';', got {text!r}") from e
    if a.ndim != 2 or a.shape[1] != 7 or len(a) == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"--actions must be [H, 7] finite numbers (H >= 1), got shape {a.shape}")
    return a.astype(np.float32)


def recorded_steps(folder: str | Path, fps: float, start_step: int, steps: int) -> dict[str, np.ndarray]:
    """A raw DROID episode at ``fps``: frames ``[K, H, W, 3]``, states ``[K, 7]`` and the actions
    ``[K-1, 7]`` between them, for grid steps ``start_step .. start_step + steps`` (fewer at the end)."""
    ep = read_episode(folder, "left_mp4_path", DroidConfig())
    rows, _ = frame_grid(ep.timestamps, ep.container_fps, ClipConfig(fps=fps, sampling="timestamps"))
    if not 0 <= start_step < len(rows) - 1:
        raise ValueError(f"--start-step {start_step}: the episode {folder} has {len(rows)} steps at {fps} fps")
    rows = rows[start_step : start_step + steps + 1]
    states = ep.states[rows].astype(np.float32)
    return dict(frames=ep.read_frames(rows), states=states, actions=states_to_actions(states))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) of two uint8 frames ``[3, H, W]`` on 0..1 pixels."""
    mse = ((a.float() - b.float()) / 255).pow(2).mean().clamp(min=1e-10)
    return float(-10 * torch.log10(mse))


@torch.no_grad()
def decoded_rollout(model: str, out_dir: str | Path, *, image: np.ndarray | None = None,
                    state: np.ndarray | None = None, actions: np.ndarray | None = None,
                    episode: str | Path | None = None, start_step: int = 0, steps: int = 8,
                    decoder: str = "auto", device: str = "cpu", crop: str | None = None,
                    fmt: str = "gif") -> dict[str, Any]:
    """Predict and decode; see the module docstring. ``steps``: actions taken from the episode
    when ``actions`` is not given. Raises ``ValueError`` when the model has no fitting decoder or
    inputs are missing, ``FileNotFoundError`` for missing files."""
    loaded = load_world_model(model, device=device, crop=crop)
    found = load_decoder_for(model, loaded, decoder)
    if found is None:
        raise ValueError(f"{model}: no frame decoder found (<run>/decoder/decoder.pt); train one with "
                         "vjepa-ac decoder train, or pass --decoder FILE")
    dec, meta = found
    wm = loaded.world_model
    real = None
    if episode is not None:
        n = len(actions) if actions is not None else steps
        rec = recorded_steps(episode, loaded.fps or DEFAULT_FPS, start_step, n)
        image = rec["frames"][0] if image is None else image
        state = rec["states"][0] if state is None else state
        actions = rec["actions"] if actions is None else actions
        real = rec["frames"]
    if image is None or state is None or actions is None:
        raise ValueError("give --image, --state and --actions, or --episode (which supplies what is not given)")
    size = dec.cfg.size_hw[0]
    view = lambda frames: crop_and_resize(torch.as_tensor(np.asarray(frames)), wm.crop, size)  # noqa: E731
    z0 = wm.encode(torch.as_tensor(np.asarray(image))[None])  # [1, N, D]
    s0 = torch.as_tensor(np.asarray(state, dtype=np.float32)).reshape(7)
    a = torch.as_tensor(np.asarray(actions, dtype=np.float32))[None]  # [1, H, 7]
    preds = wm.rollout(Context.single(z0, s0), a)[0]  # [H, N, D]
    decoded = dec.decode(torch.cat([z0.cpu(), preds.cpu()]))  # [H+1, 3, S, S]: start (reconstructed) + predictions
    H = a.shape[1]
    start = view(np.asarray(image)[None])[0]
    real_v = list(view(real)) if real is not None else []
    top = [start, *real_v[1 : H + 1]] + [None] * (H + 1 - len(real_v[: H + 1]))
    rows = [("recorded" if real is not None else "start", top), ("predicted", list(decoded))]
    out = Path(out_dir)
    k = display_scale(size)
    strip = labelled_grid(rows, header=["t=0", *(f"+{h}" for h in range(1, H + 1))], scale=k)
    files = {"strip": str(write_png(out / "rollout.png", strip))}
    for h in range(1, H + 1):
        write_png(out / f"predicted_{h:02d}.png", decoded[h].permute(1, 2, 0).numpy())
    frames = [side_by_side(top[h], decoded[h], labels=[f"real +{h}" if real is not None else "", f"pred +{h}"],
                           scale=k) for h in range(H + 1)]
    files["animation"] = str(write_animation(out / f"rollout.{fmt}", frames))
    result: dict[str, Any] = dict(model_id=loaded.model_id, source=loaded.source, decoder=meta["path"],
                                  actions=np.asarray(actions).round(6).tolist(), state=np.asarray(state).tolist(),
                                  episode=None if episode is None else str(episode), start_step=start_step,
                                  files=files)
    if real is not None:
        result["psnr"] = [psnr(decoded[h], top[h]) if top[h] is not None else None for h in range(H + 1)]
    atomic_write_json(out / "rollout.json", result)
    return result


def summary_line(result: dict) -> str:
    return json.dumps({k: result[k] for k in ("model_id", "decoder", "files") if k in result}
                      | ({"psnr": [None if p is None else round(p, 2) for p in result["psnr"]]}
                         if "psnr" in result else {}))
