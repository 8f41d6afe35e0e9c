"""The index: reason codes, implausible states, the minimum episode duration."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vjepa_ac.config import ConfigError, load_config
from vjepa_ac.data.clips import ClipConfig
from vjepa_ac.data.episode import EpisodeError, EpisodeFault
from vjepa_ac.data.index import DataConfig, StateBounds, build_index
from vjepa_ac.data.lerobot import LeRobotConfig
from vjepa_ac.data.synthetic_datasets import make_lerobot_dataset


def _glitch(root, episode, row, column=0, value=1e30):
    """Write ``value`` into state entry ``column`` of ``episode`` from ``row`` on (all state features)."""
    for path in sorted((root / "data" / "chunk-000").glob("*.parquet")):
        t = pq.read_table(path)
        ep = np.asarray(t.column("episode_index"))
        fi = np.asarray(t.column("frame_index"))
        hit = (ep == episode) & (fi >= row)
        for key in ("observation.state", "observation.ee_pose"):
            s = np.array(t.column(key).to_pylist(), dtype=np.float64)
            s[hit, column] = value
            i = t.schema.get_field_index(key)
            t = t.set_column(i, key, pa.array(s.astype(np.float32).tolist(), type=t.schema.field(key).type))
        pq.write_table(t, path)


def _lerobot(root, **kw):
    return DataConfig(format="lerobot", lerobot=LeRobotConfig(root=root, state_key="observation.ee_pose"), **kw)


CLIPS = ClipConfig(frames_per_clip=4, fps=4.0)


def test_implausible_states_are_skipped_with_a_reason(tmp_path):
    root = make_lerobot_dataset(tmp_path / "d", 3, length=30, fps=10)
    _glitch(root, 1, 5)  # x = 1e30 m from row 5 of episode 1 (float32: finite)
    index = build_index(_lerobot(root), CLIPS)
    assert [s.code for s in index.skipped] == ["implausible_state"]
    (skipped,) = index.skipped
    assert "episode_000001" in skipped.source and "position 1e+30 m at row 5" in skipped.reason
    assert index.summary()["skip_reasons"] == {"implausible_state": 1}
    # the bounds are configurable, and the check can be switched off
    kept = build_index(_lerobot(root, plausible=StateBounds(check=False)), CLIPS)
    assert len(kept.episodes) == 3


def test_state_bounds_name_the_first_violation():
    ok = np.array([[0.5, -0.2, 0.3, 3.1, -0.1, 1.0, 0.0], [0.6, -0.2, 0.3, -3.1, 0.1, 1.0, 1.0]])
    bounds = StateBounds()
    assert bounds.violation(ok) is None
    bad = ok.copy()
    bad[1, 6] = 85.0  # a gripper reported in mm
    assert "implausible gripper 85 at row 1" in bounds.violation(bad)
    bad = ok.copy()
    bad[0, 4] = 12.0
    assert "implausible angle 12 rad at row 0" in bounds.violation(bad)
    ext = np.zeros((2, 6))
    ext[1, 2] = 50.0
    assert "camera position 50 m at row 1" in bounds.violation(ok, ext)
    assert StateBounds(max_abs_angle=20.0).violation(np.r_[ok[:1], ok[:1]] + [0, 0, 0, 0, 11.0, 0, 0]) is None
    with pytest.raises(ConfigError, match="gripper_max"):
        StateBounds(gripper_min=1.0, gripper_max=0.5)


def test_plausible_bounds_from_yaml_name_the_dotted_key(tmp_path):
    from vjepa_ac.train.config import TrainConfig

    with pytest.raises(ConfigError, match="data.dataset.plausible.max_abs_position must be > 0"):
        load_config(TrainConfig, None, ["data.dataset.plausible.max_abs_position=0"])
    with pytest.raises(ConfigError, match="data.dataset.min_episode_seconds must be >= 0"):
        load_config(TrainConfig, None, ["data.dataset.min_episode_seconds=-4"])


def test_min_episode_seconds_skips_short_episodes(tmp_path):
    root = make_lerobot_dataset(tmp_path / "d", 3, length=(20, 45), fps=10, seed=3)
    full = build_index(_lerobot(root), CLIPS)
    durations = {e.episode_id: float(e.timestamps[-1]) for e in full.episodes}
    limit = sorted(durations.values())[1]  # keeps the longer two (or one on ties)
    index = build_index(_lerobot(root, min_episode_seconds=limit), CLIPS)
    assert {e.episode_id for e in index.episodes} == {k for k, d in durations.items() if d >= limit}
    assert index.skipped and all(s.code == "too_short" for s in index.skipped)
    assert f"< data.min_episode_seconds = {limit} s" in index.skipped[0].reason


def test_episode_errors_carry_a_code():
    err = EpisodeError("/data/ep1", "missing video recordings/MP4/1.mp4", EpisodeFault.MISSING_VIDEO)
    assert err.code is EpisodeFault.MISSING_VIDEO and err.code == "missing_video"
    assert str(err) == "/data/ep1: missing video recordings/MP4/1.mp4"
    with pytest.raises(ValueError):
        EpisodeError("/data/ep1", "?", "not_a_code")
