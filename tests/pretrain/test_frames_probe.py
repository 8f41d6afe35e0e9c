import numpy as np
import torch

from vjepa_ac.data.transforms import crop_and_resize, normalize
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer, encode_per_frame
from vjepa_ac.pretrain.frames import FrameSet, load_frames, random_resized_crop, resize
from vjepa_ac.pretrain.model import JEPAPredictorConfig
from vjepa_ac.pretrain.probe import (
    Ridge,
    auc,
    concordance,
    displacement_metrics,
    extract_features,
    r2,
    state_probe,
)
from vjepa_ac.pretrain.train import PretrainConfig, batch_frames, lr_at, momentum_at


def test_resize_equals_the_encode_pipeline():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    want = crop_and_resize(raw, "square", 32)
    got = resize(torch.from_numpy(raw).permute(0, 3, 1, 2), 32)
    assert torch.equal(got, want)


def test_random_resized_crop_shapes_and_full_crop_is_resize():
    frames = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    out = random_resized_crop(frames, 16, (0.3, 1.0), (0.75, 1.35), g)
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.uint8
    full = random_resized_crop(frames, 16, (1.0, 1.0), (1.0, 1.0), g)
    assert torch.equal(full, resize(frames, 16))


def test_load_frames_split_and_cache(droid_root_small, tmp_path):
    fs = load_frames(droid_root_small, cache=tmp_path / "cache")
    assert fs.store.dtype == np.uint8 and fs.store.shape[1:] == (3, 72, 72)  # square crop, native size
    assert len(fs) == len(fs.states) == len(fs.episode) and len(fs.episode_ids) == 4
    again = load_frames(droid_root_small, cache=tmp_path / "cache")
    assert isinstance(again.store, np.memmap)
    assert np.array_equal(np.asarray(again.store), fs.store) and again.episode_ids == fs.episode_ids
    train, val = fs.split(0.25, 0)
    assert len(train.episode_ids) == 3 and len(val.episode_ids) == 1
    assert not set(train.episode_ids) & set(val.episode_ids)
    assert len(train) + len(val) == len(fs)
    assert val.frames().shape == (len(val), 3, 72, 72)
    cfg = PretrainConfig(encoder=EncoderConfig(img_size=32, patch_size=8, embed_dim=48, depth=1, num_heads=2),
                         predictor=JEPAPredictorConfig(embed_dim=48, width=24, depth=1, num_heads=2), batch_size=5)
    b = batch_frames(train, cfg, torch.Generator().manual_seed(0))
    assert b.shape == (5, 3, 32, 32)


def test_extract_features_is_the_layer_normed_ac_encoding():
    torch.manual_seed(0)
    vit = VisionTransformer(EncoderConfig(img_size=32, patch_size=8, embed_dim=48, depth=1, num_heads=2))
    frames = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    z = extract_features(vit, frames, batch=2)
    clip = normalize(frames).transpose(0, 1).unsqueeze(0)  # [1, 3, T=3, 32, 32]
    ref = encode_per_frame(vit.eval(), clip)  # [1, 3*16, 48]
    ref = torch.nn.functional.layer_norm(ref, (48,)).reshape(3, 16, 48)
    torch.testing.assert_close(z, ref)


def test_ridge_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(500, 20, generator=g)
    W = torch.randn(20, 3, generator=g)
    Y = X @ W + 1.0
    ridge = Ridge(X, Y)
    torch.testing.assert_close(ridge.predict(X, 1e-8), Y, rtol=1e-4, atol=1e-4)
    assert torch.all(r2(ridge.predict(X, 1e-8), Y) > 0.9999)


def test_state_probe_scores_a_feature_that_holds_the_state():
    rng = np.random.default_rng(0)
    states = rng.uniform(0, 1, (400, 7)).astype(np.float32)
    episode = np.repeat(np.arange(20), 20)
    feats = torch.from_numpy(np.concatenate([states[:, :3], states[:, 6:], rng.normal(size=(400, 4))], 1))
    feats = feats.float().reshape(400, 2, 4)
    out = state_probe(feats[:300], states[:300], episode[:300], {"test": (feats[300:], states[300:])})
    assert out["test"]["xyz_r2"] > 0.99 and out["test"]["xyz_err_cm"] < 1.0


def test_displacement_metrics_on_a_monotone_energy():
    assert concordance(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3])) == 1.0
    assert concordance(np.array([1.0, 2.0, 3.0]), np.array([0.3, 0.2, 0.1])) == 0.0
    assert auc(np.array([0.1]), np.array([0.2, 0.3])) == 1.0
    S, K = 3, 8
    disp = np.tile(np.linspace(1, 20, K), (S, 1))
    ref = torch.zeros(S, 2, 4)
    cand = torch.from_numpy(disp).float()[:, :, None, None].expand(S, K, 2, 4) / 10.0
    out = displacement_metrics(ref, cand, disp, np.array(["a", "a", "b"]))
    assert out["all"]["concordance"] == 1.0 and out["all"]["reach_auc"] == 1.0
    assert out["b"]["scenes"] == 1
    finite = [e for e in out["all"]["energy"] if np.isfinite(e)]
    assert finite == sorted(finite)


def test_schedules():
    cfg = PretrainConfig(steps=100, warmup=10, start_lr=1e-4, lr=1e-3, final_lr=0.0, ema=(0.99, 1.0))
    assert lr_at(0, cfg) == 1e-4 and abs(lr_at(10, cfg) - 1e-3) < 1e-12
    assert abs(lr_at(100, cfg)) < 1e-12 and lr_at(50, cfg) < lr_at(20, cfg)
    assert momentum_at(0, cfg) == 0.99 and momentum_at(100, cfg) == 1.0


def test_frameset_subset_keeps_rows():
    store = np.arange(6 * 3 * 2 * 2, dtype=np.uint8).reshape(6, 3, 2, 2)
    fs = FrameSet(store, np.arange(6), np.zeros((6, 7), np.float32), np.array([0, 0, 1, 1, 2, 2]), ["a", "b", "c"])
    sub = fs.subset({"c", "a"})
    assert sub.episode_ids == ["a", "c"] and list(sub.episode) == [0, 0, 1, 1]
    assert torch.equal(sub.frames(), torch.from_numpy(store[[0, 1, 4, 5]]))


def test_paired_difference_and_per_episode_errors():
    from vjepa_ac.pretrain.probe import paired_difference

    out = paired_difference([1.0, 2.0, 3.0, 4.0], [0.5, 1.5, 2.5, 3.5])
    assert out["mean"] == -0.5 and out["ci90"] == [-0.5, -0.5] and out["share_b_greater"] == 0.0
    rng = np.random.default_rng(0)
    states = rng.uniform(0, 1, (200, 7)).astype(np.float32)
    feats = torch.from_numpy(states).reshape(200, 1, 7)
    episode = np.repeat(np.arange(10), 20)
    res = state_probe(feats[:100], states[:100], episode[:100],
                      {"t": (feats[100:], states[100:], episode[100:])})
    assert len(res["t"]["episode_err_cm"]) == 5
