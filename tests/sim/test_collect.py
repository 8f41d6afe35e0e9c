"""Collection writes valid raw DROID episodes, resumably, through the CLI."""

import json

import av
import h5py
import numpy as np
import pytest

from vjepa_ac.cli import main
from vjepa_ac.data import droid_layout as L
from vjepa_ac.sim.labs import TRAIN_LABS

pytestmark = pytest.mark.sim

ARGS = ["sim.image_size=64", "min_seconds=2.5", "max_seconds=2.5", "progress=false"]


def _collect(out, *extra):
    return main(["sim", "collect", "configs/sim_collect.yaml", f"out_dir={out}", *ARGS, *extra])


def test_collect_writes_raw_droid_and_resumes(tmp_path, capsys):
    assert _collect(tmp_path, "episodes=2", "workers=1") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["errors"] == 0
    assert summary["per_lab"][TRAIN_LABS[0]] == 1 and summary["per_lab"][TRAIN_LABS[1]] == 1
    folders = (tmp_path / "episodes.txt").read_text().split()
    assert len(folders) == 2

    for folder in map(__import__("pathlib").Path, folders):
        assert folder.parts[-4] in TRAIN_LABS and folder.parts[-3] in ("success", "failure")
        (meta_path,) = folder.glob(L.METADATA_GLOB)
        meta = json.loads(meta_path.read_text())
        with h5py.File(folder / L.TRAJECTORY_FILE) as f:
            cart = f[L.CARTESIAN_KEY][:]
            grip = f[L.GRIPPER_KEY][:]
            serial = meta["ext1_cam_serial"]
            ts = f[f"{L.CAMERA_TIMESTAMP_GROUP}/{serial}_estimated_capture"][:]
            ext = f[f"{L.EXTRINSICS_GROUP}/{serial}_left"][:]
            ctrl = f[f"{L.CONTROL_TIMESTAMP_GROUP}/step_start"][:]
            assert f[L.ACTION_CARTESIAN_KEY].shape == cart.shape
        t = 11  # 2.5 s at 4 Hz = 10 steps + the start
        assert cart.shape == (t, 6) and grip.shape == (t,) and ext.shape == (t, 6)
        assert ts.dtype == np.int64 and np.all(np.diff(ts) == 250) and np.array_equal(ts, ctrl)
        assert np.all((grip >= 0) & (grip <= 1))
        assert meta["trajectory_length"] == t and meta["lab"] == folder.parts[-4]
        assert meta["success"] == (folder.parts[-3] == "success") and meta["current_task"]
        assert meta["left_mp4_path"].endswith(f"{L.MP4_DIR}/{serial}.mp4")
        with av.open(str(folder / L.MP4_DIR / f"{serial}.mp4")) as container:
            frames = [fr.to_ndarray(format="rgb24") for fr in container.decode(video=0)]
            assert round(float(container.streams.video[0].average_rate)) == L.CONTAINER_FPS
        assert len(frames) == t - 1 and frames[0].shape == (64, 64, 3)  # DROID drops the last frame

    # resume: nothing to do; a lost done-marker redoes exactly that episode, identically
    with h5py.File(f"{folders[0]}/{L.TRAJECTORY_FILE}") as f:
        before = f[L.CARTESIAN_KEY][:]
    capsys.readouterr()
    assert _collect(tmp_path, "episodes=2", "workers=1") == 0
    assert json.loads(capsys.readouterr().out)["new_episodes"] == 0
    (tmp_path / ".collect/done/0000000.json").unlink()
    assert _collect(tmp_path, "episodes=2", "workers=1") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["new_episodes"] == 1 and summary["episodes"] == 2
    with h5py.File(f"{folders[0]}/{L.TRAJECTORY_FILE}") as f:
        np.testing.assert_array_equal(f[L.CARTESIAN_KEY][:], before)


def test_collect_in_two_processes(tmp_path):
    assert _collect(tmp_path, "episodes=2", "workers=2") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["workers"] == 2 and summary["errors"] == 0


def test_two_collections_write_the_same_episodes(tmp_path):
    """Episode ids (the metadata uuid) come from (seed, index), not from chance: the validation
    split, and so the trained model, are the same in every run of the main job."""
    files = []
    for name, workers in (("a", "1"), ("b", "2")):
        assert _collect(tmp_path / name, "episodes=2", f"workers={workers}") == 0
        files.append(sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*")
                            if p.is_file() and ".collect" not in p.parts and p.suffix in (".json", ".h5", ".mp4")
                            and p.name != "summary.json"))
    assert files[0] == files[1] and len(files[0]) == 6  # metadata, trajectory, MP4 of each episode
    for rel in files[0]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_episode_start_names_the_scene_collect_episode_resets(sim, tmp_path):
    """``episode_start``'s scene seed is the one the written episode starts from: a study can check
    collected scenes against evaluation seeds (benchmarks/finetune_new_lab.py)."""
    from vjepa_ac.sim.collect import CollectConfig, collect_episode, episode_start

    cfg = CollectConfig(out_dir=str(tmp_path), seed=3, min_seconds=0.5, max_seconds=0.5, sim=sim.cfg)
    written = collect_episode(sim, cfg, 1)
    rng, n_steps, scene_seed = episode_start(cfg, 1)
    assert n_steps == written["steps"] == 2 and 0 <= scene_seed < 2**31
    assert episode_start(cfg, 1)[2] == scene_seed != episode_start(cfg, 2)[2]
    with h5py.File(tmp_path / written["folder"] / L.TRAJECTORY_FILE) as f:
        first = f[L.CARTESIAN_KEY][0]
    np.testing.assert_allclose(sim.reset(scene_seed).state[:6], first, atol=1e-6)
    assert not np.allclose(sim.reset(scene_seed + 1).state[:6], first, atol=1e-6)
