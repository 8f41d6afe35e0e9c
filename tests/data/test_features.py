"""Feature cache (``data/features.py``) and the job that writes it (``encode.py``): cached
training inputs equal encoding on the fly; interrupted runs resume."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from vjepa_ac.config import ConfigError
from vjepa_ac import encode as E
from vjepa_ac.data.clips import ClipConfig, ClipDataset
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.features import FeatureCache, FeatureClipDataset
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.encode import EncodeConfig, encode_dataset, encode_frames
from vjepa_ac.models.encoder import EncoderConfig, build_encoder

RES = 32  # 2x2 tokens per frame with a tiny encoder: fast on CPU


def tiny_encoder():
    torch.manual_seed(0)
    cfg = EncoderConfig(img_size=RES, embed_dim=48, depth=2, num_heads=2)
    return build_encoder(cfg).eval()


def encode_cfg(root, out, sampling="timestamps", dtype="float16"):
    return EncodeConfig(
        output=out,
        data=DataConfig(droid=DroidConfig(root=root)),
        clips=ClipConfig(frames_per_clip=3, fps=4.0, sampling=sampling, starts="grid", resolution=RES),
        checkpoint="random",
        dtype=dtype,
        num_workers=0,
        batch_frames=7,
    )


@pytest.mark.parametrize("sampling,dtype", [("timestamps", "float16"), ("container_stride", "bfloat16")])
def test_cached_clips_equal_encoding_on_the_fly(droid_root, tmp_path, sampling, dtype):
    enc = tiny_encoder()
    cfg = encode_cfg(droid_root, tmp_path / "cache", sampling, dtype)
    summary = encode_dataset(cfg, encoder=enc)
    assert summary["encoded"] == 6 and summary["reused"] == 0 and summary["bytes_per_frame"] == 4 * 48 * 2
    cache = FeatureCache(tmp_path / "cache")
    m = cache.manifest
    assert m["complete"] and m["sampling"] == sampling and m["crop"] == "released" and m["fps"] == 4.0
    assert len(m["encoder"]["weights_sha256"]) == 64 and m["dtype"] == dtype
    arr = np.load(cache.entries[0].path, mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape[1:] == (4, 48)

    clip_cfg = ClipConfig(
        frames_per_clip=3, fps=4.0, sampling=sampling, starts="grid", resolution=RES, seed=9
    )
    index = build_index(DataConfig(droid=DroidConfig(root=droid_root)), clip_cfg)
    raw, cached = ClipDataset(index.episodes, clip_cfg), FeatureClipDataset(cache, clip_cfg)
    assert len(raw) == len(cached)
    tol = 2e-3 if dtype == "float16" else 1e-2
    for epoch in (0, 1):
        for i in range(len(raw)):
            a, b = raw[(epoch, i)], cached[(epoch, i)]
            assert torch.equal(a["rows"], b["rows"]) and a["episode_id"] == b["episode_id"]
            for k in ("states", "actions", "timestamps"):
                torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
            z = encode_frames(enc, a["frames"]).float()  # [T, N, D], on the fly
            assert b["z"].shape == z.shape == (3, 4, 48) and b["z"].dtype == torch.float32
            torch.testing.assert_close(b["z"], z, rtol=tol, atol=tol)


def test_interrupted_run_resumes_to_the_same_cache(droid_root, tmp_path, monkeypatch):
    enc = tiny_encoder()
    full = encode_dataset(encode_cfg(droid_root, tmp_path / "full"), encoder=enc)
    calls = {"n": 0}
    real = E.write_episode_meta

    def crash_after_two(*args, **kwargs):
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "write_episode_meta", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        encode_dataset(encode_cfg(droid_root, tmp_path / "resumed"), encoder=enc)
    assert not json.loads((tmp_path / "resumed" / "manifest.json").read_text())["complete"]
    with pytest.raises(ValueError, match="incomplete"):
        FeatureCache(tmp_path / "resumed")
    monkeypatch.setattr(E, "write_episode_meta", real)
    again = encode_dataset(encode_cfg(droid_root, tmp_path / "resumed"), encoder=enc)
    assert again["reused"] == 2 and again["encoded"] == 4 and again["frames_total"] == full["frames_total"]
    a, b = FeatureCache(tmp_path / "full"), FeatureCache(tmp_path / "resumed")
    for x, y in zip(a.entries, b.entries):
        assert torch.equal(a.features(x), b.features(y))
    # other settings must not be mixed into an existing cache
    other = encode_cfg(droid_root, tmp_path / "resumed", sampling="container_stride")
    with pytest.raises(ConfigError, match="sampling"):
        encode_dataset(other, encoder=enc)
    # the same weights read from another path (a copied work folder) reuse the cache; other weights do not
    moved = dataclasses.replace(encode_cfg(droid_root, tmp_path / "resumed"), checkpoint="copied/encoder.pt")
    assert encode_dataset(moved, encoder=enc)["reused"] == 6
    with torch.no_grad():
        enc.blocks[0].mlp.fc1.bias.add_(1.0)
    with pytest.raises(ConfigError, match="encoder"):
        encode_dataset(moved, encoder=enc)


def test_feature_dataset_checks_settings_and_splits_like_the_index(droid_root, tmp_path):
    encode_dataset(encode_cfg(droid_root, tmp_path / "c"), encoder=tiny_encoder())
    cache = FeatureCache(tmp_path / "c")
    with pytest.raises(ConfigError, match="fps"):
        FeatureClipDataset(cache, ClipConfig(frames_per_clip=3, fps=2.0, starts="grid"))
    with pytest.raises(ConfigError, match="starts"):
        FeatureClipDataset(cache, ClipConfig(frames_per_clip=3, fps=4.0))
    index = build_index(
        DataConfig(droid=DroidConfig(root=droid_root)), ClipConfig(frames_per_clip=3, starts="grid")
    )
    train, val = cache.split(0.34, seed=1)
    itrain, ival = index.split(0.34, seed=1)
    assert [c.episode.episode_id for c in val] == [e.episode_id for e in ival.episodes]
    ds = FeatureClipDataset(cache, ClipConfig(frames_per_clip=5, fps=4.0, starts="grid"), entries=train)
    assert len(ds) == len(train) and ds[0]["z"].shape == (5, 4, 48) and ds[0]["actions"].shape == (4, 7)
    half = FeatureClipDataset(
        cache, ClipConfig(frames_per_clip=5, fps=4.0, starts="grid"), entries=train, z_dtype=None
    )
    assert half[0]["z"].dtype == torch.float16 and torch.equal(half[0]["z"].float(), ds[0]["z"])
