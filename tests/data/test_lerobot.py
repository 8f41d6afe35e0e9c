"""LeRobot v3: a small dataset in that layout (episodes packed into shared parquet and MP4 files)."""

import json

import numpy as np
import pytest

from vjepa_ac.config import ConfigError
from vjepa_ac.data.clips import ClipConfig, ClipDataset
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.data.lerobot import LeRobotConfig, read_dataset
from vjepa_ac.data.synthetic_datasets import render_frames, synthetic_states


def test_reads_states_timestamps_and_the_right_frames(lerobot_root):
    episodes, bad = read_dataset(LeRobotConfig(root=lerobot_root, state_indices=(0, 1, 2, 3, 4, 5, 6)))
    assert not bad and [e.episode_id for e in episodes] == [f"my_robot/episode_{k:06d}" for k in range(3)]
    assert (
        episodes[0].frame_offset == 0 and episodes[1].frame_offset == episodes[0].n_frames
    )  # shared video file
    assert episodes[2].frame_offset == 0 and episodes[2].video_path != episodes[0].video_path
    for k, ep in enumerate(episodes):
        states = synthetic_states(ep.n_frames, np.random.default_rng(k))
        np.testing.assert_allclose(ep.states, states, atol=1e-6)  # stored as float32
        np.testing.assert_allclose(np.diff(ep.timestamps), 0.1, atol=1e-5)
        assert ep.container_fps == 10.0 and ep.camera == "observation.images.front"
        ref = render_frames(states, (64, 96), seed=k)
        rows = [0, ep.n_frames // 2, ep.n_frames - 1]
        for got, row in zip(ep.read_frames(rows), rows):
            errs = [np.abs(got.astype(int) - ref[r]).mean() for r in range(ep.n_frames)]
            assert int(np.argmin(errs)) == row
    same, _ = read_dataset(LeRobotConfig(root=lerobot_root, state_key="observation.ee_pose"))
    np.testing.assert_array_equal(same[1].states, episodes[1].states)


def test_config_errors_name_the_field(lerobot_root):
    with pytest.raises(ConfigError, match="state_key.*shape"):
        read_dataset(LeRobotConfig(root=lerobot_root))  # observation.state is 8-D: pick 7 entries
    with pytest.raises(ConfigError, match="camera_key.*observation.images.front"):
        read_dataset(LeRobotConfig(root=lerobot_root, camera_key="wrist", state_key="observation.ee_pose"))
    with pytest.raises(ConfigError, match="state_indices"):
        LeRobotConfig(state_indices=(0, 1))


def test_clip_dataset_on_lerobot(lerobot_root, tmp_path):
    cfg = DataConfig(
        format="lerobot", lerobot=LeRobotConfig(root=lerobot_root, state_key="observation.ee_pose")
    )
    index = build_index(cfg, ClipConfig(frames_per_clip=4, fps=4.0))
    assert index.summary()["usable"] == 3
    item = ClipDataset(index.episodes, ClipConfig(frames_per_clip=4, fps=4.0, resolution=32))[1]
    assert item["frames"].shape == (4, 3, 32, 32) and item["actions"].shape == (3, 7)
    assert np.allclose(np.diff(item["timestamps"].numpy()), 0.25, atol=0.051)  # 10 Hz rows at 4 fps


def test_a_bad_episode_is_skipped(lerobot_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(lerobot_root, root)
    (root / "videos/observation.images.front/chunk-000/file-001.mp4").write_bytes(b"broken")
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    index = build_index(
        DataConfig(format="lerobot", lerobot=LeRobotConfig(root=root, state_key="observation.ee_pose")),
        ClipConfig(frames_per_clip=4),
    )
    assert index.summary()["usable"] == 2 and "episode_000002" in index.skipped[0].source
