"""Ours vs the public implementation, side by side in one process: planning and training steps.

    VJEPA2_PUBLIC_SRC=/path/to/facebookresearch/vjepa2 python benchmarks/bench_public.py
    python benchmarks/bench_public.py --public-src ../vjepa2 --what plan --horizons 1 2 3
    python benchmarks/bench_public.py --public-src ../vjepa2 --what train --predictor main

Both sides get the same weights (the public ``VisionTransformerPredictorAC`` loads our state dict:
the parameter names are the released ones) and the outputs are checked equal first (predictor
forward, and the training losses) and printed as ``max_abs_diff``. Timing: ``--pairs`` pairs of
(ours, public) runs, the order alternating from pair to pair, one process, ``--threads`` torch
threads (default 1); the figure is the median over pairs of ours / public time (< 1: ours is
faster), so machine load that drifts slowly cancels out. Time is the process's CPU time by default
(``--clock cpu``: at one thread it is the compute time, and time spent descheduled on a busy machine
does not count); ``--clock wall`` measures elapsed time. Medians of absolute seconds are printed too.

- ``plan``: one plan of our ``cem`` (the ``paper`` preset at ``--samples`` x ``--iterations``, our
  default chunking) vs the public notebook's ``WorldModel.infer_next_action`` (``cem`` of
  ``notebooks/utils/mpc_utils.py``: full recompute of the sequence at every horizon step and
  SciPy pose integration) at the same budget, per horizon; also each side's per-rollout cost
  relative to its own H = 1 (``growth``: our KV cache keeps it linear).
- ``train``: forward + backward of the objective (teacher forcing + a 2-step rollout) on one
  batch: ``train.losses.world_model_losses`` vs the public ``app/vjepa_droid/train.py`` step
  (its ``forward_predictions`` / ``loss_fn`` calls, rewritten here from their description).
  ``--amp bf16`` runs ours under bfloat16 autocast (the public side stays fp32).

The public code needs ``timm`` (one function) and ``decord`` only at import: without them small
stand-ins are put on ``sys.path`` (they are never called here). Prints one JSON line per part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import device_name  # noqa: E402

from vjepa_ac.models.predictor import RELEASED_NORM_EPS, ACPredictor, PredictorConfig, normalize_reps  # noqa: E402
from vjepa_ac.plan.cem import cem  # noqa: E402
from vjepa_ac.plan.config import cem_preset  # noqa: E402
from vjepa_ac.plan.interface import Context  # noqa: E402
from vjepa_ac.plan.world_model import LatentWorldModel  # noqa: E402
from vjepa_ac.train.losses import world_model_losses  # noqa: E402

PREDICTORS = {
    # the main job's predictor (pipeline.py: 64 px frames of the shipped encoder, 4 x 4 tokens)
    "main": dict(img_size=(64, 64), patch_size=16, embed_dim=192, width=192, depth=4, num_heads=3),
    # configs/sim.yaml's predictor (128 px, 8 x 8 tokens)
    "sim": dict(img_size=(128, 128), patch_size=16, embed_dim=192, width=192, depth=4, num_heads=3),
    "small": dict(img_size=(128, 128), patch_size=16, embed_dim=192, width=384, depth=6, num_heads=6),
}


def _stubs(folder: Path) -> None:
    """Import-time stand-ins for ``timm`` (drop_path, identity at rate 0) and ``decord``."""
    (folder / "timm/models").mkdir(parents=True, exist_ok=True)
    (folder / "timm/__init__.py").write_text("")
    (folder / "timm/models/__init__.py").write_text("")
    (folder / "timm/models/layers.py").write_text("def drop_path(x, drop_prob=0.0, training=False):\n    return x\n")
    (folder / "decord").mkdir(exist_ok=True)
    (folder / "decord/__init__.py").write_text("VideoReader = None\ncpu = None\n")


def import_public(src: str):
    """(public predictor factory, public notebook WorldModel) from a facebookresearch/vjepa2 checkout."""
    root = Path(src)
    if not (root / "src" / "models" / "ac_predictor.py").is_file():
        sys.exit(f"--public-src {src}: not a facebookresearch/vjepa2 checkout (no src/models/ac_predictor.py)")
    sys.path.insert(0, str(root))
    for mod in ("timm", "decord"):
        try:
            __import__(mod)
        except ImportError:
            stubs = Path(tempfile.mkdtemp())
            _stubs(stubs)
            sys.path.append(str(stubs))
            break
    from notebooks.utils.world_model_wrapper import WorldModel  # noqa: E402
    from src.models.ac_predictor import vit_ac_predictor  # noqa: E402

    logging.getLogger("notebooks.utils.mpc_utils").setLevel(logging.WARNING)  # its per-iteration log lines
    return vit_ac_predictor, WorldModel


def build_pair(name: str, public_factory):
    """Our predictor (seeded random init) and the public one with the same weights."""
    spec = PREDICTORS[name]
    torch.manual_seed(0)
    ours = ACPredictor(PredictorConfig(**spec, norm_eps=RELEASED_NORM_EPS)).eval()  # the public factory's eps
    theirs = public_factory(img_size=spec["img_size"], patch_size=spec["patch_size"], num_frames=64, tubelet_size=2,
                            embed_dim=spec["embed_dim"], predictor_embed_dim=spec["width"], depth=spec["depth"],
                            num_heads=spec["num_heads"], action_embed_dim=7, use_rope=True, is_frame_causal=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours, theirs.eval()


def forward_diff(ours, theirs, steps: int = 3) -> float:
    cfg = ours.cfg
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, steps * cfg.tokens_per_frame, cfg.embed_dim, generator=g)
    a, s = torch.randn(2, steps, 7, generator=g) * 0.05, torch.randn(2, steps, 7, generator=g)
    with torch.no_grad():
        return float((ours(z, a, s) - theirs(z, a, s)).abs().max())


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def paired(fn_ours, fn_public, pairs: int, clock: str = "cpu") -> dict:
    """Alternate ours/public (order flipped each pair); median ratio and median seconds."""
    now = CLOCKS[clock]
    fn_ours(), fn_public()  # warm-up both
    ratios, t_ours, t_pub = [], [], []
    for i in range(pairs):
        order = [(fn_ours, t_ours), (fn_public, t_pub)]
        for fn, bucket in (order if i % 2 == 0 else order[::-1]):
            t = now()
            fn()
            bucket.append(now() - t)
        ratios.append(t_ours[-1] / t_pub[-1])
    return dict(ratio=round(statistics.median(ratios), 3), ratios=[round(r, 3) for r in ratios],
                ours_s=round(statistics.median(t_ours), 4), public_s=round(statistics.median(t_pub), 4))


def bench_plan(args, ours, theirs, PublicWorldModel) -> dict:
    cfg_p = ours.cfg
    n, d = cfg_p.tokens_per_frame, cfg_p.embed_dim
    g = torch.Generator().manual_seed(0)
    z0, goal = normalize_reps(torch.randn(2, n, d, generator=g))
    start = torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.0])
    latent = LatentWorldModel(None, ours, device="cpu")
    context = Context.single(z0, start)
    out = {}
    for h in args.horizons:
        cfg = cem_preset("paper", horizon=h, num_samples=args.samples, iterations=args.iterations,
                         precision=args.plan_precision)
        mpc_args = dict(rollout=h, samples=args.samples, topk=cfg.num_elites, cem_steps=args.iterations,
                        momentum_mean=0.0, momentum_std=0.0, momentum_mean_gripper=0.0,
                        momentum_std_gripper=0.0, maxnorm=cfg.xyz_radius, verbose=False)
        public = PublicWorldModel(None, theirs, n, None, mpc_args=mpc_args, normalize_reps=True, device="cpu")

        def run_ours(cfg=cfg):
            cem(latent, context, goal, cfg, torch.Generator().manual_seed(0))

        def run_public(public=public):
            with torch.no_grad():
                public.infer_next_action(z0[None, None], start[None, None], goal[None, None])

        out[f"H{h}"] = paired(run_ours, run_public, args.pairs, args.clock)
    base = out[f"H{args.horizons[0]}"]
    for h in args.horizons:  # seconds per rollout step relative to the first horizon
        r = out[f"H{h}"]
        r["growth_ours"] = round(r["ours_s"] / base["ours_s"], 2)
        r["growth_public"] = round(r["public_s"] / base["public_s"], 2)
    return out


def public_losses(predictor, h_raw, actions, states, rollout_steps: int = 2):
    """The public training step's objective (app/vjepa_droid/train.py, after PR #25): teacher
    forcing, then ``rollout_steps - 1`` autoregressive steps that rerun the whole sequence."""
    n = h_raw.shape[1] // states.shape[1]
    h = F.layer_norm(h_raw, (h_raw.shape[-1],))
    z_tf = F.layer_norm(predictor(h[:, :-n], actions, states[:, :-1]), (h.shape[-1],))
    z = torch.cat([h[:, :n], z_tf[:, :n]], dim=1)
    for k in range(1, rollout_steps):
        nxt = F.layer_norm(predictor(z, actions[:, : k + 1], states[:, : k + 1]), (h.shape[-1],))[:, -n:]
        z = torch.cat([z, nxt], dim=1)
    z_ar = z[:, n:]
    tf = (z_tf - h[:, n : n + z_tf.shape[1]]).abs().mean()
    ro = (z_ar - h[:, n : n + z_ar.shape[1]]).abs().mean()
    return tf, ro


def bench_train(args, ours, theirs) -> dict:
    cfg_p = ours.cfg
    n, d, T, B = cfg_p.tokens_per_frame, cfg_p.embed_dim, args.frames, args.batch
    g = torch.Generator().manual_seed(2)
    h_raw = torch.randn(B, T * n, d, generator=g)
    states = torch.randn(B, T, 7, generator=g)
    actions = torch.randn(B, T - 1, 7, generator=g) * 0.05
    ours.train(), theirs.train()
    for p in (*ours.parameters(), *theirs.parameters()):  # the planner's world model froze them
        p.requires_grad_(True)
    amp = contextlib.nullcontext if args.amp == "fp32" else (
        lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    with torch.no_grad():
        a, b = world_model_losses(ours, h_raw, actions, states, rollout_steps=2), public_losses(theirs, h_raw, actions, states)
    diff = max(abs(float(a[0] - b[0])), abs(float(a[1] - b[1])))

    def run_ours():
        with amp():
            tf, ro = world_model_losses(ours, h_raw, actions, states, rollout_steps=2)
        (tf + ro).backward()
        ours.zero_grad(set_to_none=True)

    def run_public():
        tf, ro = public_losses(theirs, h_raw, actions, states)
        (tf + ro).backward()
        theirs.zero_grad(set_to_none=True)

    r = paired(run_ours, run_public, args.pairs, args.clock)
    r["speedup"] = round(1.0 / r["ratio"], 3)
    return dict(batch=B, frames=T, amp=args.amp, loss_max_abs_diff=diff, **r)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--public-src", default=os.environ.get("VJEPA2_PUBLIC_SRC"),
                   help="a facebookresearch/vjepa2 checkout (default: $VJEPA2_PUBLIC_SRC)")
    p.add_argument("--what", nargs="+", choices=["plan", "train"], default=["plan", "train"])
    p.add_argument("--predictor", choices=sorted(PREDICTORS), default="main")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--samples", type=int, default=300, help="plan: candidates per iteration (main job: 300)")
    p.add_argument("--iterations", type=int, default=5, help="plan: CEM iterations (main job: 5)")
    p.add_argument("--batch", type=int, default=32, help="train: clips per step (main job: 32)")
    p.add_argument("--frames", type=int, default=8, help="train: frames per clip (main job: 8)")
    p.add_argument("--amp", choices=["fp32", "bf16"], default="fp32", help="train: our side's precision")
    p.add_argument("--plan-precision", choices=["fp32", "bf16"], default="fp32",
                   help="plan: our CEM's scoring precision (the public side stays fp32)")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--allocator", choices=["default", "tuned"], default="default",
                   help="tuned: vjepa_ac.threads.tune_allocator for this process (both sides; vjepa-ac sets it)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="cpu: this process's CPU time (robust on a shared machine at 1 thread); wall: elapsed")
    args = p.parse_args(argv)
    if not args.public_src:
        sys.exit("set --public-src or VJEPA2_PUBLIC_SRC to a facebookresearch/vjepa2 checkout")
    torch.set_num_threads(args.threads)
    if args.allocator == "tuned":
        from vjepa_ac.threads import tune_allocator

        tune_allocator()
    factory, PublicWorldModel = import_public(args.public_src)
    ours, theirs = build_pair(args.predictor, factory)
    head = dict(bench="public", device=device_name(torch.device("cpu")), predictor=args.predictor, clock=args.clock,
                allocator=args.allocator,
                torch=torch.__version__, pairs=args.pairs, forward_max_abs_diff=forward_diff(ours, theirs))
    if "plan" in args.what:
        print(json.dumps(dict(head, part="plan", samples=args.samples, iterations=args.iterations,
                              precision=args.plan_precision,
                              results=bench_plan(args, ours, theirs, PublicWorldModel))), flush=True)
    if "train" in args.what:
        print(json.dumps(dict(head, part="train", results=bench_train(args, ours, theirs))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
