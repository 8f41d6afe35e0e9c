"""Raw DROID: the generator's timing quirks, discovery (folder, list, both), reading, faults."""

import json

import h5py
import numpy as np
import pytest

from vjepa_ac.config import ConfigError
from vjepa_ac.data import droid_layout as L
from vjepa_ac.data.clips import ClipConfig
from vjepa_ac.data.droid import DroidConfig, discover_episodes, read_episode
from vjepa_ac.data.episode import EpisodeError
from vjepa_ac.data.index import DataConfig, NoUsableEpisodesError, build_index
from vjepa_ac.data.synthetic_datasets import DROID_FAULTS, make_droid_episode, render_frames, synthetic_states
from vjepa_ac.data.video import probe_video


def test_generator_has_droid_timing(tmp_path):
    folder = make_droid_episode(tmp_path, length=30, seed=7)
    meta = json.loads(next(folder.glob(L.METADATA_GLOB)).read_text())
    mp4 = folder / L.MP4_DIR / meta["left_mp4_path"].split(L.MP4_DIR + "/")[-1]
    info = probe_video(mp4)
    assert info.fps == 60.0 and info.n_frames == 29  # container 60 fps; one frame fewer than rows
    with h5py.File(folder / L.TRAJECTORY_FILE) as f:
        assert len(f[L.CARTESIAN_KEY]) == 30
        serial = mp4.stem
        stamps = np.asarray(f[f"{L.CAMERA_TIMESTAMP_GROUP}/{serial}_estimated_capture"])
    rate = 1000.0 / np.diff(stamps).mean()
    assert 14.0 < rate < 16.0  # rows at ~15 Hz
    assert meta["trajectory_length"] == 30 and meta["uuid"] == "SYN+000007"


def test_read_episode_matches_what_was_written(tmp_path):
    folder = make_droid_episode(tmp_path, length=30, seed=3, crf=0)
    ep = read_episode(folder, "left_mp4_path", DroidConfig(extrinsics=True))
    assert ep.n_frames == 29 and ep.container_fps == 60.0 and ep.episode_id == "SYN+000003"
    states = synthetic_states(30, np.random.default_rng(3))
    np.testing.assert_array_equal(ep.states, states[:29])
    assert ep.timestamps[0] == 0.0 and 1.7 < ep.timestamps[-1] < 2.0
    assert ep.extrinsics.shape == (29, 6)
    frames = ep.read_frames([0, 13, 28])
    ref = render_frames(states, (72, 128), seed=3)
    for got, row in zip(frames, [0, 13, 28]):
        errs = [np.abs(got.astype(int) - ref[r]).mean() for r in range(29)]
        assert int(np.argmin(errs)) == row and errs[row] < 3.0  # right frame, lossless-ish
    right = read_episode(folder, "right_mp4_path", DroidConfig(extrinsics=True))
    assert (
        right.video_path != ep.video_path and right.extrinsics[0, 1] < ep.extrinsics[0, 1]
    )  # left has larger y


def test_discovery_from_folder_list_and_both(droid_root, tmp_path):
    by_scan = discover_episodes(DroidConfig(root=droid_root))
    by_list = discover_episodes(DroidConfig(episode_list=droid_root / "episodes.txt"))
    both = discover_episodes(DroidConfig(root=droid_root, episode_list=droid_root / "episodes.txt"))
    assert len(by_scan) == 6 and sorted(map(str, by_list)) == sorted(str(p.resolve()) for p in by_scan)
    assert len(both) == 6
    # relative CSV lines with extra columns and comments
    csv = tmp_path / "list.csv"
    csv.write_text("# folder,success\n" + "".join(f"{p},1\n" for p in by_list[:2]))
    assert discover_episodes(DroidConfig(episode_list=csv)) == by_list[:2]
    with pytest.raises(ConfigError, match="root"):
        discover_episodes(DroidConfig())


def test_faults_are_skipped_counted_and_named(droid_faulty_root, tmp_path, caplog):
    cfg = DataConfig(droid=DroidConfig(root=droid_faulty_root))
    with caplog.at_level("WARNING"):
        index = build_index(cfg, ClipConfig(frames_per_clip=4, fps=4.0))
    summary = index.summary()
    assert summary["usable"] == 2 and summary["skipped"] == len(DROID_FAULTS)
    assert sum(summary["skip_reasons"].values()) == len(DROID_FAULTS)
    for skipped in index.skipped:  # each is named in the one summary log record
        assert skipped.source in caplog.text
    report = json.loads(index.write_report(tmp_path / "index.json").read_text())
    assert len(report["skipped_episodes"]) == len(DROID_FAULTS) and report["usable"] == 2
    # each fault is counted by its reason code (EpisodeFault), never by matching message text
    expected = {
        "truncated_mp4": "unreadable_video",
        "missing_mp4": "missing_video",
        "missing_recordings": "no_recordings",
        "missing_key": "missing_key",
        "corrupt_h5": "unreadable_data",
        "no_metadata": "no_metadata",
        "nan_states": "nonfinite",
        "short_video": "short_video",
    }
    assert set(expected) == set(DROID_FAULTS)
    assert summary["skip_reasons"] == {code: 1 for code in expected.values()}
    assert {s["code"] for s in report["skipped_episodes"]} == set(expected.values())
    reasons = " | ".join(s.reason for s in index.skipped)
    assert "frames for 40 rows" in reasons and "lacks key" in reasons  # the words name the detail


def test_truncated_mp4_with_its_index_in_front_is_skipped(tmp_path):
    """A download cut short keeps a "faststart" MP4's index, which still lists every frame:
    indexing counts the frames the file holds, not the header's claim."""
    from tests.data.test_video import truncate_faststart

    good = make_droid_episode(tmp_path, length=40, seed=0)
    bad = make_droid_episode(tmp_path, length=40, seed=1)
    meta = json.loads(next(bad.glob(L.METADATA_GLOB)).read_text())
    truncate_faststart(bad / L.MP4_DIR / meta["left_mp4_path"].split(L.MP4_DIR + "/")[-1], keep=0.6)
    index = build_index(DataConfig(droid=DroidConfig(root=tmp_path)), ClipConfig(frames_per_clip=4, fps=4.0))
    assert [e.source for e in index.episodes] == [str(good)]
    (skipped,) = index.skipped
    assert skipped.source == str(bad) and skipped.code == "unreadable_video"
    assert "truncated video" in skipped.reason and "header claims 39 frames" in skipped.reason


def test_too_short_episodes_are_skipped_and_nothing_usable_fails_at_once(droid_root):
    cfg = DataConfig(droid=DroidConfig(root=droid_root))
    with pytest.raises(NoUsableEpisodesError, match=r"no usable episode .*too short"):
        build_index(
            cfg, ClipConfig(frames_per_clip=16, fps=4.0, sampling="container_stride")
        )  # needs 226 rows
    empty = droid_root.parent / "empty_dataset"
    empty.mkdir(exist_ok=True)
    with pytest.raises(NoUsableEpisodesError, match="empty_dataset"):
        build_index(DataConfig(droid=DroidConfig(root=empty)), ClipConfig())


def test_missing_view_and_bad_video_length(tmp_path):
    folder = make_droid_episode(tmp_path, length=20, seed=5, two_cameras=False)
    with pytest.raises(EpisodeError, match="right_mp4_path"):
        read_episode(folder, "right_mp4_path", DroidConfig())
    with pytest.raises(EpisodeError, match="extrinsics|lacks key"):
        h5 = folder / L.TRAJECTORY_FILE
        with h5py.File(h5, "a") as f:
            del f[L.EXTRINSICS_GROUP]
        read_episode(folder, "left_mp4_path", DroidConfig(extrinsics=True))


def test_index_workers_give_the_same_index(droid_faulty_root):
    clips = ClipConfig(frames_per_clip=4)
    one = build_index(DataConfig(droid=DroidConfig(root=droid_faulty_root)), clips)
    two = build_index(DataConfig(droid=DroidConfig(root=droid_faulty_root), index_workers=2), clips)
    assert [e.key for e in one.episodes] == [e.key for e in two.episodes]
    assert [vars(s) for s in one.skipped] == [vars(s) for s in two.skipped]
    np.testing.assert_array_equal(one.episodes[0].states, two.episodes[0].states)
