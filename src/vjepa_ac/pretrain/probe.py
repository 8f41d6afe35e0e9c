"""Cheap proxies of how useful a frozen encoder's features are for planning.

1. ``state_probe``: ridge regression (closed form) from the flattened layer-normed per-frame
   features ``[N*D]`` to the end-effector xyz and the gripper, fit on training episodes
   (ridge strength chosen on held-out training episodes), scored on other episodes: R^2 per
   target and the mean xyz error in cm.
2. ``displacement_metrics``: within one scene, the planner's L1 energy between the features of
   a reference frame and of frames whose only change is an end-effector displacement of known
   size (``displacement.py`` renders them): the energy per displacement bin, how well it ranks
   the displacements (pairwise concordance), its linearity (Pearson r), and the AUC of
   "within 4 cm" (the Reach criterion).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.encode import encode_frames
from vjepa_ac.models.encoder import VisionTransformer
from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.pretrain.frames import resize

DISPLACEMENT_BINS_CM = (0.0, 1.5, 2.5, 3.5, 4.5, 5.5, 7.0, 9.0, 12.5, 17.5, 30.0)
REACH_RADIUS_CM = 4.0


@torch.no_grad()
def extract_features(vit: VisionTransformer, frames: Tensor, batch: int = 256) -> Tensor:
    """Layer-normed per-frame features (the AC encoding): uint8 ``[K, 3, S, S]`` -> float32 ``[K, N, D]``."""
    vit.eval()
    # resized a batch at a time: all frames at once as float would not fit in memory
    chunks = (resize(frames[i : i + batch], vit.cfg.img_size) for i in range(0, len(frames), batch))
    return torch.cat([normalize_reps(encode_frames(vit, x, batch_frames=batch)) for x in chunks])


# ----------------------------------------------------------------------------- ridge probe


class Ridge:
    """Closed-form ridge over centred features, solved for many strengths from one eigendecomposition.

    ``X [n, F]`` float32 features, ``Y [n, k]`` targets; computations in float64.
    """

    def __init__(self, X: Tensor, Y: Tensor):
        self.x_mean, self.y_mean = X.mean(0), Y.mean(0)
        Xc = (X - self.x_mean).double()
        G = Xc.T @ Xc  # [F, F]
        self.scale = float(G.diagonal().mean())  # strengths are relative to the mean feature energy
        self.evals, self.evecs = torch.linalg.eigh(G)
        self.proj = self.evecs.T @ (Xc.T @ (Y - self.y_mean).double())  # [F, k]

    def weights(self, lam: float) -> Tensor:
        """W [F, k] for strength ``lam`` (relative)."""
        return self.evecs @ (self.proj / (self.evals + lam * self.scale)[:, None])

    def predict(self, X: Tensor, lam: float) -> Tensor:
        return ((X - self.x_mean).double() @ self.weights(lam) + self.y_mean.double()).float()


def r2(pred: Tensor, y: Tensor) -> Tensor:
    """Coefficient of determination per column: [n, k] -> [k]."""
    ss_res = (pred - y).square().sum(0)
    ss_tot = (y - y.mean(0)).square().sum(0)
    return 1.0 - ss_res / ss_tot


def probe_targets(states: np.ndarray) -> Tensor:
    """EE xyz (cm) and gripper (0..1): [n, 7] -> [n, 4]."""
    s = torch.as_tensor(np.asarray(states), dtype=torch.float32)
    return torch.cat([s[:, :3] * 100.0, s[:, 6:7]], dim=1)


def _scores(pred: Tensor, y: Tensor, episode: np.ndarray | None = None) -> dict:
    r = r2(pred, y)
    err = (pred[:, :3] - y[:, :3]).norm(dim=1).numpy()  # [n] cm
    per_episode = {}
    if episode is not None:  # for paired comparisons of encoders over the same episodes
        per_episode = {"episode_err_cm": [round(float(err[episode == e].mean()), 3) for e in np.unique(episode)]}
    return {
        **per_episode,
        "xyz_err_cm": float((pred[:, :3] - y[:, :3]).norm(dim=1).mean()),
        "xyz_r2": float(r[:3].mean()),
        "x_r2": float(r[0]), "y_r2": float(r[1]), "z_r2": float(r[2]),
        "gripper_r2": float(r[3]),
        "gripper_mae": float((pred[:, 3] - y[:, 3]).abs().mean()),
    }


def state_probe(train_x: Tensor, train_states: np.ndarray, train_episode: np.ndarray,
                tests: dict[str, tuple[Tensor, np.ndarray] | tuple[Tensor, np.ndarray, np.ndarray]],
                lambdas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0),
                inner_val: float = 0.2, seed: int = 0) -> dict:
    """Ridge from flattened features to (xyz cm, gripper), strength picked on ``inner_val`` of the
    training episodes (by mean R^2), refit on all of them, scored on each of ``tests``.

    train_x: [n, N, D]; tests: name -> (features [m, N, D], states [m, 7]).
    """
    X = train_x.flatten(1)  # [n, N*D]
    Y = probe_targets(train_states)
    eps = np.unique(train_episode)
    rng = np.random.default_rng(seed)
    held = rng.choice(eps, size=max(1, round(inner_val * len(eps))), replace=False)
    is_held = torch.as_tensor(np.isin(train_episode, held))
    inner = Ridge(X[~is_held], Y[~is_held])
    val_r2 = {lam: float(r2(inner.predict(X[is_held], lam), Y[is_held]).mean()) for lam in lambdas}
    best = max(val_r2, key=val_r2.get)
    full = Ridge(X, Y)
    out = {"lambda": best, "inner_val_r2": {f"{k:g}": round(v, 4) for k, v in val_r2.items()},
           "train": _scores(full.predict(X, best), Y)}
    for name, (x, states, *episode) in tests.items():
        out[name] = _scores(full.predict(x.flatten(1), best), probe_targets(states), *episode)
    return out


# ----------------------------------------------------------------------------- displacements


def l1_distance(a: Tensor, b: Tensor) -> Tensor:
    """The planner's L1 energy: mean |a - b| over tokens and channels. [..., N, D] x [..., N, D] -> [...]."""
    return (a - b).abs().flatten(-2).mean(-1)


def concordance(d: np.ndarray, e: np.ndarray, min_gap: float = 0.5) -> float:
    """Share of pairs (i, j) with ``d_i + min_gap < d_j`` whose energies are ordered alike (e_i < e_j)."""
    i, j = np.nonzero(d[:, None] + min_gap < d[None, :])
    return float(np.mean(e[i] < e[j])) if len(i) else float("nan")


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(energy of a random 'positive' < energy of a random 'negative'), ties counted half."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = neg[None, :] - pos[:, None]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def displacement_metrics(ref: Tensor, cand: Tensor, disp_cm: np.ndarray, scene_group: np.ndarray | None = None,
                         bins: tuple[float, ...] = DISPLACEMENT_BINS_CM) -> dict:
    """ref: [S, N, D] features of each scene's reference frame; cand: [S, K, N, D] features of
    K frames of the same scene with the end effector moved by ``disp_cm [S, K]``.

    Returns the mean energy per displacement bin (raw and relative to the largest bin), the
    within-scene concordance (all pairs, and pairs both <= 6 cm), and the Reach AUC (< 4 cm vs
    >= 4 cm), averaged over scenes; per ``scene_group`` value as well when given.
    """
    e = l1_distance(cand, ref[:, None]).numpy()  # [S, K]
    groups = {"all": np.ones(len(e), bool)}
    if scene_group is not None:
        groups.update({str(gname): scene_group == gname for gname in np.unique(scene_group)})
    out = {}
    for gname, sel in groups.items():
        es, ds = e[sel], disp_cm[sel]
        curve = []
        for lo, hi in pairwise(bins):
            m = (ds >= lo) & (ds < hi)
            curve.append(float(es[m].mean()) if m.any() else float("nan"))
        far = curve[-1] if np.isfinite(curve[-1]) else np.nanmax(curve)
        near = [concordance(d[d <= 6.0], x[d <= 6.0]) for d, x in zip(ds, es)]
        per_scene = [concordance(d, x) for d, x in zip(ds, es)]
        out[gname] = {
            "bins_cm": [f"{lo:g}-{hi:g}" for lo, hi in pairwise(bins)],
            "energy": [round(c, 5) for c in curve],
            "energy_rel": [round(c / far, 4) for c in curve],
            "concordance": float(np.nanmean(per_scene)),
            "scene_concordance": [round(c, 4) for c in per_scene],
            "concordance_le6cm": float(np.nanmean(near)),
            # linearity of the energy in the distance (1 = energy proportional to the displacement)
            "pearson": float(np.mean([np.corrcoef(d, x)[0, 1] for d, x in zip(ds, es)])),
            "reach_auc": float(np.nanmean([auc(x[d < REACH_RADIUS_CM], x[d >= REACH_RADIUS_CM])
                                           for d, x in zip(ds, es)])),
            "scenes": int(sel.sum()),
        }
    return out


def paired_difference(a: list[float], b: list[float], n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired comparison of per-unit scores (episodes, scenes): mean of ``b - a``, its 90 %
    bootstrap interval over units, and the share of units where ``b > a``."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
    return {"mean": round(float(d.mean()), 4), "ci90": [round(float(np.quantile(boots, q)), 4) for q in (0.05, 0.95)],
            "share_b_greater": round(float(np.mean(d > 0)), 3), "units": len(d)}
