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
    with pytest.raises(ConfigError, match=r"state_key.*give 8 values, expected \[7\]"):
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


POSE, GRIP = "observation.state.cartesian_position", "observation.state.gripper_position"


def test_state_assembled_from_several_features_scalar_included(lerobot_root, tmp_path):
    """The DROID port's layout: pose [6] + gripper (a scalar column) -> the 7-D state."""
    from vjepa_ac.config import load_config
    from vjepa_ac.encode import EncodeConfig

    whole, _ = read_dataset(LeRobotConfig(root=lerobot_root, state_key="observation.ee_pose"))
    split, bad = read_dataset(LeRobotConfig(root=lerobot_root, state_key=(POSE, GRIP)))
    assert not bad and len(split) == 3
    for a, b in zip(whole, split):
        np.testing.assert_array_equal(a.states, b.states)
    # the documented YAML form (docs/data.md), through the config loader
    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  format: lerobot\n  lerobot:\n    root: {lerobot_root}\n    state_key: [{POSE}, {GRIP}]\n")
    cfg = load_config(EncodeConfig, path)
    assert cfg.data.lerobot.state_keys == (POSE, GRIP)
    assert len(build_index(cfg.data, ClipConfig(frames_per_clip=4, fps=4.0)).episodes) == 3
    # state_indices pick from the concatenation: [gripper, pose] reordered back
    picked, _ = read_dataset(LeRobotConfig(root=lerobot_root, state_key=(GRIP, POSE), state_indices=(1, 2, 3, 4, 5, 6, 0)))
    np.testing.assert_array_equal(picked[0].states, whole[0].states)


def test_a_scalar_feature_never_surfaces_as_a_pyarrow_error(lerobot_root):
    with pytest.raises(ConfigError, match=r"lerobot.state_key: .*gripper_position.*give 1 values, expected \[7\]"):
        read_dataset(LeRobotConfig(root=lerobot_root, state_key=GRIP))
    with pytest.raises(ConfigError, match=r"lerobot.state_indices: .* outside the 1 values"):
        read_dataset(LeRobotConfig(root=lerobot_root, state_key=GRIP, state_indices=(0, 1, 2, 3, 4, 5, 6)))
    with pytest.raises(ConfigError, match="state_key.*'observation.nope' is not a feature"):
        read_dataset(LeRobotConfig(root=lerobot_root, state_key=(POSE, "observation.nope")))


def test_a_short_video_slice_is_skipped_never_padded_with_the_next_episode(tmp_path):
    from vjepa_ac.data.episode import EpisodeFault
    from vjepa_ac.data.synthetic_datasets import make_lerobot_dataset

    root = make_lerobot_dataset(tmp_path / "lost", 3, length=30, fps=10, lost_frames={0: 6})
    cfg = LeRobotConfig(root=root, state_key="observation.ee_pose")
    episodes, bad = read_dataset(cfg)
    assert [e.episode_id[-1] for e in episodes] == ["1", "2"]
    assert len(bad) == 1 and bad[0].code == EpisodeFault.SHORT_VIDEO
    assert "24 frames in its slice [0.000, 2.400)" in bad[0].reason and "30 rows" in bad[0].reason
    # episode 1 starts right after episode 0's 24 frames, and shows its own frames
    ep1 = episodes[0]
    assert ep1.frame_offset == 24
    ref = render_frames(synthetic_states(30, np.random.default_rng(1)), (64, 96), seed=1)
    got = ep1.read_frames([0])[0]
    assert int(np.argmin([np.abs(got.astype(int) - ref[r]).mean() for r in range(30)])) == 0
    # allowed to lack 6 frames: episode 0 is cut to its slice, its rows show only its own frames
    cut, bad = read_dataset(LeRobotConfig(root=root, state_key="observation.ee_pose", max_missing_video_frames=6))
    assert not bad and cut[0].n_frames == 24
    own = render_frames(synthetic_states(30, np.random.default_rng(0)), (64, 96), seed=0)
    last = cut[0].read_frames([23])[0]
    assert int(np.argmin([np.abs(last.astype(int) - own[r]).mean() for r in range(30)])) == 23
    # the index names it with its reason code
    index = build_index(DataConfig(format="lerobot", lerobot=cfg), ClipConfig(frames_per_clip=4, fps=4.0))
    assert index.summary()["skip_reasons"] == {"short_video": 1}
