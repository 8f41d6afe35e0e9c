"""Clip sampling modes, the clip dataset (items, determinism, DataLoader workers), the split."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, SequentialSampler

from vjepa_ac.config import ConfigError
from vjepa_ac.data.clips import (
    ClipConfig,
    ClipDataset,
    EpochSampler,
    clip_indices,
    container_stride,
    frame_grid,
    grid_windows,
    seconds_per_step,
    stride_windows,
    timestamp_windows,
)
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.data.poses import states_to_actions

HZ = 15.0


def droid_like_clock(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([[0.0], np.cumsum(1 / HZ + rng.uniform(-0.003, 0.003, n - 1))])


def test_container_stride_is_the_released_one_second_step():
    cfg = ClipConfig(frames_per_clip=8, fps=4.0, sampling="container_stride")
    assert container_stride(60.0, 4.0) == 15
    assert seconds_per_step(cfg, recording_hz=HZ, container_fps=60.0) == pytest.approx(1.0)
    ts = droid_like_clock(200)
    w = clip_indices(ts, 60.0, cfg)
    assert w.shape == (200 - 7 * 15, 8) and (np.diff(w, axis=1) == 15).all()
    steps = np.diff(ts[w], axis=1)
    assert abs(steps.mean() - 1.0) < 0.01  # ~1 s of real time per predictor step; a clip spans ~7 s
    assert stride_windows(10, 4, 3).tolist() == [[0, 3, 6, 9]]
    assert stride_windows(9, 4, 3).shape == (0, 4)


def test_timestamps_mode_gives_the_true_rate():
    cfg = ClipConfig(frames_per_clip=16, fps=4.0, sampling="timestamps")
    assert seconds_per_step(cfg, recording_hz=HZ, container_fps=60.0) == 0.25
    ts = droid_like_clock(200, seed=1)
    w = clip_indices(ts, 60.0, cfg)
    assert len(w) > 100
    steps = np.diff(ts[w], axis=1)
    assert (
        abs(steps.mean() - 0.25) < 0.005 and np.abs(steps - 0.25).max() < 0.075
    )  # 0.25 s steps, 3.75 s per clip
    assert (np.abs(ts[w] - (ts[w[:, :1]] + np.arange(16) / 4.0)) <= 0.75 / HZ).all()


def test_timestamps_mode_rejects_windows_across_a_gap():
    ts = droid_like_clock(100)
    ts[50:] += 1.0  # one second of dropped frames
    w = timestamp_windows(ts, 4, 4.0, max_error=0.05)
    spans_gap = (ts[w[:, 0]] < ts[49]) & (ts[w[:, -1]] > ts[50])
    assert len(w) > 0
    assert np.all(np.abs(ts[w] - (ts[w[:, :1]] + np.arange(4) / 4.0)) <= 0.05)
    assert not spans_gap.any() or np.all(np.abs(np.diff(ts[w[spans_gap]], axis=1) - 0.25) <= 0.1)


def test_grid_windows_are_a_fixed_grid():
    ts = droid_like_clock(120)
    for sampling in ("timestamps", "container_stride"):
        cfg = ClipConfig(frames_per_clip=4, fps=4.0, sampling=sampling, starts="grid")
        rows, valid = frame_grid(ts, 60.0, cfg)
        w = clip_indices(ts, 60.0, cfg)
        assert valid.all() and len(w) == len(rows) - 3
        assert set(w.ravel()) <= set(rows.tolist())
        np.testing.assert_array_equal(w, rows[grid_windows(valid, 4)])
    valid = np.array([True, True, True, False, True, True, True, True])
    assert grid_windows(valid, 3).tolist() == [[0, 1, 2], [4, 5, 6], [5, 6, 7]]


def test_config_validation_names_fields():
    with pytest.raises(ConfigError, match="frames_per_clip"):
        ClipConfig(frames_per_clip=1)
    with pytest.raises(ConfigError, match="max_time_error"):
        ClipConfig(sampling="container_stride", max_time_error=0.1)


@pytest.fixture(scope="module")
def index(droid_root):
    return build_index(
        DataConfig(
            droid=DroidConfig(
                root=droid_root, camera_views=("left_mp4_path", "right_mp4_path"), extrinsics=True
            )
        ),
        ClipConfig(frames_per_clip=4),
    )


def test_items_have_named_keys_and_shapes(index):
    ds = ClipDataset(index.episodes, ClipConfig(frames_per_clip=4, fps=4.0, resolution=64, seed=3))
    item = ds[5]
    assert item["frames"].shape == (4, 3, 64, 64) and item["frames"].dtype == torch.uint8
    assert item["states"].shape == (4, 7) and item["states"].dtype == torch.float32
    assert item["actions"].shape == (3, 7) and item["extrinsics"].shape == (4, 6)
    ep = next(e for e in index.episodes if e.episode_id == item["episode_id"] and e.camera == item["camera"])
    np.testing.assert_allclose(item["states"].numpy(), ep.states[item["rows"].numpy()], rtol=1e-6)
    np.testing.assert_allclose(
        item["actions"].numpy(), states_to_actions(ep.states[item["rows"].numpy()]), atol=1e-6
    )
    assert np.allclose(np.diff(item["timestamps"].numpy()), 0.25, atol=0.05)
    cam = ClipDataset(
        index.episodes, ClipConfig(frames_per_clip=4, resolution=64, seed=3, camera_frame=True)
    )[5]
    assert not torch.allclose(cam["states"][:, :3], item["states"][:, :3])


def test_items_are_deterministic_per_seed_epoch_index(index):
    cfg = ClipConfig(frames_per_clip=4, resolution=32, seed=11)
    a, b = ClipDataset(index.episodes, cfg), ClipDataset(index.episodes, cfg)
    assert torch.equal(a[3]["rows"], b[3]["rows"]) and torch.equal(a[3]["frames"], b[3]["frames"])
    rows_by_epoch = []
    for epoch in range(4):
        a.set_epoch(epoch)
        rows_by_epoch.append(a[3]["rows"].tolist())
        assert a[3]["rows"].tolist() == b[(epoch, 3)]["rows"].tolist()  # (epoch, index) keys agree
    assert len({tuple(r) for r in rows_by_epoch}) > 1  # epochs draw different windows


def test_dataloader_with_two_workers_matches_in_process(index):
    cfg = ClipConfig(frames_per_clip=4, resolution=32, seed=5, clips_per_episode=2)
    ds = ClipDataset(index.episodes, cfg)
    sampler = EpochSampler(SequentialSampler(ds))
    sampler.set_epoch(2)
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2, persistent_workers=True)
    batches = list(loader)
    assert sum(len(b["episode_id"]) for b in batches) == len(ds) == 2 * len(index.episodes)
    assert batches[0]["frames"].shape == (4, 4, 3, 32, 32) and batches[0]["actions"].shape == (4, 3, 7)
    rows = torch.cat([b["rows"] for b in batches])
    expected = torch.stack([ds[(2, i)]["rows"] for i in range(len(ds))])
    assert torch.equal(rows, expected)


def test_split_is_deterministic_by_episode_without_leakage(index):
    train, val = index.split(0.34, seed=0)
    train2, val2 = index.split(0.34, seed=0)
    shuffled = type(index)(index.episodes[::-1], index.skipped, index.source)
    train3, val3 = shuffled.split(0.34, seed=0)
    ids = lambda ix: {e.episode_id for e in ix.episodes}  # noqa: E731
    assert ids(val) == ids(val2) == ids(val3) and len(ids(val)) == 2
    assert not ids(train) & ids(val) and ids(train) | ids(val) == ids(index)
    for e in val.episodes:  # both cameras of an episode are on the same side
        assert sum(x.episode_id == e.episode_id for x in val.episodes) == 2
    other = {frozenset(ids(index.split(0.34, seed=s)[1])) for s in range(6)}
    assert len(other) > 1  # the seed matters
    assert len(index.split(0.0, seed=0)[1].episodes) == 0


def test_decode_errors_raise_or_are_replaced(index, tmp_path):
    import copy

    broken = copy.copy(index.episodes[0])
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    broken.video_path = bad
    from vjepa_ac.data.video import VideoDecodeError

    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        ClipDataset([broken], ClipConfig(frames_per_clip=4, resolution=32, on_decode_error="raise"))[0]
    with pytest.raises(VideoDecodeError, match="bad.mp4"):  # replace: 3 tries, then it raises
        ClipDataset([broken], ClipConfig(frames_per_clip=4, resolution=32))[0]
    assert ClipConfig().on_decode_error == "replace"  # the default: a bad clip does not stop a run
    ds = ClipDataset([broken, *index.episodes[1:]], ClipConfig(frames_per_clip=4, resolution=32))
    item = ds[0]
    assert item["frames"].shape == (4, 3, 32, 32) and len(ds.decode_failures) >= 1
    assert item["decode_failures"] == len(ds.decode_failures)  # counted in the item for the loop
