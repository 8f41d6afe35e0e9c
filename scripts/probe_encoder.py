"""Compare frozen encoders on planning proxies (issue 7): state probe + displacement sensitivity.

    python scripts/probe_encoder.py --data /path/sim600 --frames-cache .work/sim600_frames \\
        --eval-data .work/evallabs40 --disp .work/disp_eval.npz .work/disp_train.npz \\
        --encoder random:0 --encoder src/vjepa_ac/assets/sim_encoder_64.pt --out probe.json

``--encoder``: ``pixels`` (no encoder: 8x8 pixel patches at half resolution as tokens),
``random:<seed>`` (``VisionTransformer`` of ``--img-size``/``--width``/``--depth``/
``--heads`` seeded with ``torch.manual_seed(seed)``, the project's random default at seed 0)
or a file ``official.load_released_encoder`` reads. The ridge probe is fit on the training
episodes of ``--data`` (every ``--probe-every``-th frame) and scored on its validation episodes
(``--val-fraction``/``--split-seed``: the trainer's split, which pretraining never sees) and on
every frame of ``--eval-data`` (held-out labs); a second probe is fit on half of the
``--eval-data`` episodes and scored on the other half. Prints one JSON line per encoder; ``--out``
writes them all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from vjepa_ac.models.encoder import EncoderConfig
from vjepa_ac.official import load_released_encoder
from vjepa_ac.pretrain.displacement import DisplacementSet
from vjepa_ac.pretrain.frames import FrameSet, load_frames
from vjepa_ac.pretrain.probe import displacement_metrics, extract_features, paired_difference, state_probe
from vjepa_ac.pretrain.train import seeded_random_encoder


class PixelTokens(torch.nn.Module):
    """Baseline "encoder" without weights: the frame at img_size/2 px, cut into a (img_size/16)^2
    grid of 8x8x3 = 192-value tokens (the default encoder's token grid and width)."""

    def __init__(self, img_size: int):
        super().__init__()
        self.cfg = EncoderConfig(img_size=img_size, embed_dim=192, depth=1, num_heads=3)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        x = clip[:, :, 0]  # [B, 3, R, R] (frames are repeated over the tubelet)
        x = torch.nn.functional.avg_pool2d(x, 2)  # [B, 3, R/2, R/2]
        B, C, H, W = x.shape
        x = x.reshape(B, C, H // 8, 8, W // 8, 8).permute(0, 2, 4, 1, 3, 5)  # [B, h, w, 3, 8, 8]
        return x.reshape(B, (H // 8) * (W // 8), C * 64)  # [B, N, 192]


def build(spec: str, args) -> torch.nn.Module:
    if spec == "pixels":
        return PixelTokens(args.img_size)
    if spec.startswith("random:"):
        cfg = EncoderConfig(img_size=args.img_size, embed_dim=args.width, depth=args.depth, num_heads=args.heads)
        return seeded_random_encoder(cfg, int(spec.split(":", 1)[1]))
    return load_released_encoder(spec).eval()


def sub(fs: FrameSet, every: int) -> FrameSet:
    keep = np.arange(0, len(fs), every)
    return FrameSet(fs.store, fs.rows[keep], fs.states[keep], fs.episode[keep], fs.episode_ids)


def features(vit, fs: FrameSet, chunk: int = 2048) -> torch.Tensor:
    return torch.cat([extract_features(vit, fs.frames(np.arange(i, min(i + chunk, len(fs)))))
                      for i in range(0, len(fs), chunk)])


def disp_features(vit, ds: DisplacementSet) -> tuple[torch.Tensor, torch.Tensor]:
    """Images rendered at native size -> the encode pipeline (square crop is the whole frame)."""
    S, K = ds.images.shape[:2]
    ref = torch.from_numpy(ds.ref_images).permute(0, 3, 1, 2)  # [S, 3, H, W]
    cand = torch.from_numpy(ds.images.reshape(S * K, *ds.images.shape[2:])).permute(0, 3, 1, 2)
    zr, zc = extract_features(vit, ref), extract_features(vit, cand)
    return zr, zc.reshape(S, K, *zc.shape[1:])


def compare(base: dict, res: dict) -> dict:
    """Per-episode xyz error and per-scene concordance differences (this encoder - the first);
    a negative error difference / positive concordance difference favours this encoder."""
    out = {}
    for split in ("val", "eval_labs"):
        if split in base["probe"]:
            out[f"{split}_err_cm"] = paired_difference(base["probe"][split]["episode_err_cm"],
                                                       res["probe"][split]["episode_err_cm"])
    if "probe_eval_labs_half" in base:
        out["eval_half_err_cm"] = paired_difference(base["probe_eval_labs_half"]["other_half"]["episode_err_cm"],
                                                    res["probe_eval_labs_half"]["other_half"]["episode_err_cm"])
    for name in base:
        if name.startswith("disp"):
            out[f"{name}_concordance"] = paired_difference(base[name]["all"]["scene_concordance"],
                                                           res[name]["all"]["scene_concordance"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", action="append", required=True)
    p.add_argument("--data", required=True, help="raw DROID root of the training labs")
    p.add_argument("--frames-cache", default=None)
    p.add_argument("--eval-data", default=None, help="raw DROID root of held-out labs (optional)")
    p.add_argument("--eval-cache", default=None)
    p.add_argument("--disp", nargs="*", default=[], help="DisplacementSet .npz files")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--probe-every", type=int, default=3, help="use every k-th training frame for the ridge fit")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)

    train, val = load_frames(args.data, cache=args.frames_cache).split(args.val_fraction, args.split_seed)
    train = sub(train, args.probe_every)
    evalset = load_frames(args.eval_data, cache=args.eval_cache) if args.eval_data else None
    disps = {Path(f).stem: DisplacementSet.load(f) for f in args.disp}
    results = []
    for spec in args.encoder:
        t0 = time.perf_counter()
        vit = build(spec, args)
        tests = {"val": (features(vit, val), val.states, val.episode)}
        if evalset is not None:
            tests["eval_labs"] = (features(vit, evalset), evalset.states, evalset.episode)
        res = {"encoder": spec, "img_size": vit.cfg.img_size,
               "probe": state_probe(features(vit, train), train.states, train.episode, tests)}
        if evalset is not None:  # how much state the features hold in the new labs: fit on half of them
            a, b = evalset.split(0.5, args.split_seed)
            res["probe_eval_labs_half"] = state_probe(features(vit, a), a.states, a.episode,
                                                      {"other_half": (features(vit, b), b.states, b.episode)})
        for name, ds in disps.items():
            zr, zc = disp_features(vit, ds)
            res[name] = displacement_metrics(zr, zc, ds.disp_cm, ds.lab)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results.append(res)
        print(json.dumps(res), flush=True)
    if len(results) > 1:  # paired comparisons with the first encoder (the baseline)
        base = results[0]
        for res in results[1:]:
            res["vs_first"] = compare(base, res)
            print(json.dumps({"encoder": res["encoder"], "vs": base["encoder"], **res["vs_first"]}), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
