"""How close the decoded predictions of a world model come to the real frames, per horizon.

    python scripts/decoder_psnr.py runs/sim --episodes /data/heldout --horizon 4 --out psnr.json

For every raw DROID episode under ``--episodes`` (at the model's control rate), from every
``--stride``-th step: the world model rolls the recorded actions out ``--horizon`` steps from the
real frame, and the model's decoder draws each prediction. Printed per horizon h (PSNR in dB on
0..1 pixels of the model's view, mean over starts):

- ``predicted``: decoded prediction vs the real frame at t+h;
- ``reconstructed``: decoded encoding of the real frame at t+h (what the decoder can do at best);
- ``copy``: the real frame at t vs the real frame at t+h (a model that predicts no change);
- ``decoded_copy``: the decoded frame t vs the real frame at t+h (no change, through the decoder:
  ``predicted`` above this is what the predictor adds).

One JSON line (and ``--out``). Numbers in notes/decoder.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vjepa_ac.data.clips import ClipConfig, frame_grid
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.data.poses import states_to_actions
from vjepa_ac.data.transforms import crop_and_resize
from vjepa_ac.load import load_decoder_for, load_world_model
from vjepa_ac.plan.interface import Context


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """uint8 [K, 3, H, W] pairs -> PSNR [K] (dB)."""
    mse = ((a.float() - b.float()) / 255).pow(2).flatten(1).mean(1).clamp(min=1e-10)
    return -10 * torch.log10(mse)


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--episodes", required=True, help="root of raw DROID episodes (e.g. held-out labs)")
    p.add_argument("--decoder", default="auto")
    p.add_argument("--horizon", type=int, default=4)
    p.add_argument("--stride", type=int, default=4, help="steps between rollout starts")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_world_model(args.model)
    decoder, meta = load_decoder_for(args.model, loaded, args.decoder) or (None, None)
    if decoder is None:
        raise SystemExit(f"{args.model}: no decoder")
    wm, size, H = loaded.world_model, decoder.cfg.size_hw[0], args.horizon
    clips = ClipConfig(frames_per_clip=2, fps=loaded.fps or 4.0, sampling="timestamps")
    index = build_index(DataConfig(droid=DroidConfig(root=Path(args.episodes))), clips)
    scores = {k: [[] for _ in range(H)] for k in ("predicted", "reconstructed", "copy", "decoded_copy")}
    for ep in index.episodes:
        rows, valid = frame_grid(ep.timestamps, ep.container_fps, clips)
        rows = rows[valid]
        raw = ep.read_frames(rows)  # [K, h, w, 3]
        view = crop_and_resize(raw, wm.crop, size)  # [K, 3, S, S]
        z = wm.encode(torch.as_tensor(raw))  # [K, N, D]
        recon = decoder.decode(z)  # [K, 3, S, S]
        states = torch.as_tensor(ep.states[rows], dtype=torch.float32)
        actions = torch.as_tensor(states_to_actions(ep.states[rows]), dtype=torch.float32)  # [K-1, 7]
        for t in range(0, len(rows) - H, args.stride):
            pred = wm.rollout(Context.single(z[t], states[t]), actions[t : t + H][None])[0]  # [H, N, D]
            decoded = decoder.decode(pred)  # [H, 3, S, S]
            real = view[t + 1 : t + H + 1]
            for h in range(H):
                scores["predicted"][h].append(float(psnr(decoded[h : h + 1], real[h : h + 1])[0]))
                scores["reconstructed"][h].append(float(psnr(recon[t + 1 + h : t + 2 + h], real[h : h + 1])[0]))
                scores["copy"][h].append(float(psnr(view[t : t + 1], real[h : h + 1])[0]))
                scores["decoded_copy"][h].append(float(psnr(recon[t : t + 1], real[h : h + 1])[0]))
    result = dict(model_id=loaded.model_id, decoder=meta["path"], episodes=len(index.episodes),
                  starts=len(scores["predicted"][0]),
                  **{k: [round(float(np.mean(v[h])), 2) for h in range(H)] for k, v in scores.items()})
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
