"""Write tests/artifacts/golden/encoder_nonsquare.pt from the public V-JEPA 2 implementation.

Needs a checkout of github.com/facebookresearch/vjepa2 (read, never copied into the project):

    VJEPA2_PUBLIC_SRC=/path/to/vjepa2 .venv/bin/python scripts/make_golden_nonsquare.py

The public modules import timm / einops / decord at import time for code this case does not
run; tiny stand-ins are put on the path. The case: a V-JEPA 2 ViT with RoPE built with a
non-square ``img_size=(48, 80)`` (3 x 5 patches), LayerNorm eps 1e-6 (as the public factories
build it), random weights (seed 0), on a ``[2, 3, 4, 48, 80]`` clip: ``out`` is the encoder's
output, ``per_frame_out`` the AC per-frame encoding (each frame repeated to a 2-frame tubelet).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from functools import partial
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "artifacts" / "golden"
CONFIG = dict(img_size=[48, 80], patch_size=16, num_frames=4, tubelet_size=2, embed_dim=48, depth=2, num_heads=2,
              mlp_ratio=4.0, qkv_bias=True, use_rope=True)


def _stubs(folder: Path) -> None:
    for sub in ("timm/models", "einops", "decord"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "timm/__init__.py").write_text("")
    (folder / "timm/models/__init__.py").write_text("")
    (folder / "timm/models/layers.py").write_text("def drop_path(x, drop_prob=0.0, training=False):\n    return x\n")
    (folder / "einops/__init__.py").write_text(
        "def rearrange(*a, **k):\n    raise NotImplementedError('not used by the 3D patch embedding')\n"
    )
    (folder / "decord/__init__.py").write_text("VideoReader = None\ncpu = None\n")


def main() -> None:
    src = os.environ.get("VJEPA2_PUBLIC_SRC")
    if not src or not (Path(src) / "src" / "models" / "vision_transformer.py").is_file():
        sys.exit("set VJEPA2_PUBLIC_SRC to a checkout of facebookresearch/vjepa2")
    stubs = Path(tempfile.mkdtemp())
    _stubs(stubs)
    sys.path[:0] = [src, str(stubs)]
    from src.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(**CONFIG, norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()
    clip = torch.randn(2, 3, 4, 48, 80)
    with torch.no_grad():
        out = model(clip)  # [2, 2 * 3 * 5, 48]
        frames = clip.permute(0, 2, 1, 3, 4).flatten(0, 1)  # [B*T, 3, H, W]
        per_frame = model(frames.unsqueeze(2).expand(-1, -1, 2, -1, -1))  # [B*T, 15, 48]
        per_frame = per_frame.reshape(2, 4 * per_frame.shape[1], 48)  # [B, T*N, D]
    case = {"config": {**CONFIG, "norm_eps": 1e-6}, "clip": clip, "out": out, "per_frame_out": per_frame}
    case.update({f"sd.{k}": v for k, v in model.state_dict().items()})
    torch.save(case, OUT / "encoder_nonsquare.pt")
    index = json.loads((OUT / "index.json").read_text())
    index["encoder_nonsquare"] = {
        "doc": "official VisionTransformer (RoPE) with non-square img_size (48, 80), eps 1e-6, seed-0 weights; "
        "out = encoder(clip); per_frame_out = AC per-frame encoding (frame repeated to a 2-frame tubelet)",
        "config": case["config"],
        "tensors": {k: list(v.shape) for k, v in case.items() if torch.is_tensor(v) and not k.startswith("sd.")},
    }
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {OUT / 'encoder_nonsquare.pt'}: out {tuple(out.shape)}, per_frame_out {tuple(per_frame.shape)}")


if __name__ == "__main__":
    main()
