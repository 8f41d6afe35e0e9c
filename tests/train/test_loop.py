"""The training loop: exact resume, encoder-in-the-loop equals cached features, NaN stop, export,
and the ``vjepa-ac train`` command end to end (all on tiny synthetic clips, CPU)."""

import copy
import json
import shutil

import pytest
import torch
import yaml
from torch.utils.data import Dataset

from vjepa_ac import cli
from vjepa_ac.config import load_config
from vjepa_ac.data.transforms import normalize
from vjepa_ac.train import checkpoint as ckpt
from vjepa_ac.train import loop
from vjepa_ac.train.build import build_encoder
from vjepa_ac.train.config import TrainConfig
from vjepa_ac.train.datasets import build_datasets
from vjepa_ac.train.export import load_exported_predictor, predictor_from_checkpoint
from vjepa_ac.train.logging import read_csv
from vjepa_ac.train.step import NonFiniteLossError

from .conftest import ROOT, tiny_overrides


def _losses(run_dir):
    return {
        int(r["step"]): (float(r["loss_tf"]), float(r["loss_rollout"]))
        for r in read_csv(run_dir / "metrics.csv")
    }


def _final_model(run_dir, step=6):
    return ckpt.load_checkpoint(ckpt.checkpoint_path(run_dir / "checkpoints", step))["model"]


def test_resume_continues_exactly(tiny):
    full = loop.train(tiny(name="full"))
    assert full.step == 6 and full.stopped == "finished"
    # a second run that starts from the first one's step-3 checkpoint (mid-epoch: 4 steps per epoch)
    cfg = tiny(name="resumed")
    (cfg.run_dir / "checkpoints").mkdir(parents=True)
    shutil.copy(ckpt.checkpoint_path(full.run_dir / "checkpoints", 3), cfg.run_dir / "checkpoints")
    resumed = loop.train(cfg, resume=True)
    assert resumed.step == 6
    a, b = _losses(full.run_dir), _losses(resumed.run_dir)
    assert sorted(b) == [4, 5, 6]
    for step in (4, 5, 6):
        assert a[step] == b[step], step
    for k, v in _final_model(full.run_dir).items():
        assert torch.equal(v, _final_model(resumed.run_dir)[k]), k


def test_existing_checkpoints_need_resume(tiny):
    cfg = tiny("optim.constant=0", "optim.anneal=0")
    loop.train(cfg)
    with pytest.raises(FileExistsError, match="--resume"):
        loop.train(cfg)


class Encoded(Dataset):
    """The same clips as a frames dataset, with the frozen encoder's features as ``z [T, N, D]``."""

    def __init__(self, base, encoder):
        self.base, self.encoder = base, encoder

    def __len__(self):
        return len(self.base)

    def set_epoch(self, epoch):
        self.base.set_epoch(epoch)

    def __getitem__(self, i):
        item = dict(self.base[i])
        frames = item.pop("frames")  # [T, 3, H, W]
        z = self.encoder.encode_frames(normalize(frames[None]))[0]  # [T*N, D]
        item["z"] = z.view(frames.shape[0], -1, z.shape[-1])  # [T, N, D]
        return item


def test_encoder_in_the_loop_equals_cached_features(tiny, monkeypatch):
    video = loop.train(tiny("val_every=6", name="video"))
    cfg = tiny(
        "val_every=6",
        "data.source=features",
        "data.feature_cache=unused",
        "data.clips.starts=grid",
        name="features",
    )
    encoder = build_encoder(cfg.model, torch.device("cpu"))
    monkeypatch.setattr(
        loop,
        "build_datasets",
        lambda c, report_dir: tuple(Encoded(ds, encoder) for ds in build_datasets(tiny())),
    )
    cached = loop.train(cfg)
    a, b = _losses(video.run_dir), _losses(cached.run_dir)
    for step in range(1, 7):
        assert a[step] == pytest.approx(b[step], abs=1e-6)
    va, vb = read_csv(video.run_dir / "val.csv")[-1], read_csv(cached.run_dir / "val.csv")[-1]
    assert float(va["rollout_h3"]) == pytest.approx(float(vb["rollout_h3"]), abs=1e-6)


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(tiny, monkeypatch):
    real_step = loop.train_step

    def poisoned(model, batches, *args, step, **kw):
        if step == 4:  # the 5th step
            batches[0]["states"][:, 1] = float("nan")
        return real_step(model, batches, *args, step=step, **kw)

    monkeypatch.setattr(loop, "train_step", poisoned)
    cfg = tiny()
    with pytest.raises(NonFiniteLossError) as err:
        loop.train(cfg)
    good = ckpt.checkpoint_path(cfg.run_dir / "checkpoints", 3)
    assert err.value.step == 4 and "step 4" in str(err.value) and str(good) in str(err.value)
    assert ckpt.list_checkpoints(cfg.run_dir / "checkpoints") == [good]
    report = json.loads((cfg.run_dir / "nonfinite.json").read_text())
    assert report["step"] == 4 and report["last_checkpoint"] == str(good)
    assert set(report["terms"]) >= {"loss", "loss_tf", "loss_rollout"}
    # the clips of the failing batch are named (synthetic clips carry synthetic episode ids)
    assert len(report["clips"]) == cfg.batch_size and report["clips"] == err.value.clips
    assert report["clips"][0] in str(err.value)


def test_nonfinite_update_never_becomes_the_last_good_checkpoint(tiny, monkeypatch):
    """The step whose update makes the weights NaN is not checkpointed: the one named holds
    finite weights and optimizer state."""
    real_step = loop.train_step

    def poisoned(model, batches, optimizer, *args, step, **kw):
        if step == 4:  # an infinite lr that got past the config (set in code, not validated)
            kw["optim"] = copy.copy(kw["optim"])
            kw["optim"].start_lr = kw["optim"].peak_lr = float("inf")
        return real_step(model, batches, optimizer, *args, step=step, **kw)

    monkeypatch.setattr(loop, "train_step", poisoned)
    cfg = tiny()
    with pytest.raises(NonFiniteLossError, match="non-finite update at step 4"):
        loop.train(cfg)
    report = json.loads((cfg.run_dir / "nonfinite.json").read_text())
    assert report["what"] == "update" and report["nonfinite_after_update"]
    named = ckpt.load_checkpoint(report["last_checkpoint"])
    assert named["step"] == 3
    assert all(torch.isfinite(v).all() for v in named["model"].values())
    for s in named["optimizer"]["state"].values():
        assert all(torch.isfinite(v).all() for v in s.values() if torch.is_tensor(v))


def test_clips_of_a_batch_are_named():
    batch = {
        "episode_id": ["lab/episode_000001", "lab/episode_000002"],
        "camera": ["front", "front"],
        "rows": torch.tensor([[5, 7, 9], [0, 2, 4]]),
    }
    assert loop.batch_clips([batch, {"z": None}]) == [
        "lab/episode_000001 [front] rows 5..9",
        "lab/episode_000002 [front] rows 0..4",
    ]


def test_a_second_trainer_on_the_same_run_folder_is_refused(tiny):
    from vjepa_ac.train.runlock import RunLock, RunLockedError

    cfg = tiny()
    with RunLock(cfg.run_dir):  # another trainer (in this test: this process) holds the folder
        with pytest.raises(RunLockedError, match=r"another trainer .*pid \d+"):
            loop.train(cfg)
        assert not (cfg.run_dir / "metrics.csv").exists()
    assert loop.train(cfg).stopped == "finished"  # released: the folder is usable again


def test_lock_of_a_killed_holder_does_not_stick(tmp_path):
    import subprocess
    import sys

    from vjepa_ac.train.runlock import RunLock

    code = (
        "import os, sys; from vjepa_ac.train.runlock import RunLock; "
        f"RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); os.kill(os.getpid(), 9)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == -9 and "held" in p.stdout
    with RunLock(tmp_path):  # the kernel released the dead holder's lock
        pass


def test_resume_removes_temporary_files_of_a_killed_save(tiny):
    cfg = tiny("optim.constant=0", "optim.anneal=0")
    folder = cfg.run_dir / "checkpoints"
    folder.mkdir(parents=True)
    stale = folder / ".step_00000003.pt.4242.ab12cd34.tmp"
    stale.write_bytes(b"half a checkpoint")
    older = folder / ".step_00000003.pt.4243.tmp"  # the name the previous writer used
    older.write_bytes(b"x")
    keep = folder / "notes.txt"
    keep.write_text("mine")
    loop.train(cfg, resume=True)
    assert not stale.exists() and not older.exists() and keep.exists()


def test_resume_before_the_first_checkpoint_logs_each_step_once(tiny):
    """A run killed before its first checkpoint starts over: its step-0 validation and the
    rows it logged are not kept twice."""
    extra = ("data.dataset.val_fraction=0.25", "val_every=2", "ckpt_every=10")
    first = tiny(*extra, "optim.constant=0", "optim.anneal=0")
    loop.train(first)  # 2 steps, no checkpoint until the end: stands in for a killed run's logs
    shutil.rmtree(first.run_dir / "checkpoints")
    again = loop.train(tiny(*extra), resume=True)
    assert again.step == 6
    val = [int(r["step"]) for r in read_csv(first.run_dir / "val.csv")]
    train = [int(r["step"]) for r in read_csv(first.run_dir / "metrics.csv")]
    assert val == [0, 2, 4, 6] and train == [1, 2, 3, 4, 5, 6]


def test_cli_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "run"
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text("# tiny\nseed: 3\n")
    args = [
        "train",
        str(cfg_file),
        *tiny_overrides(run_dir, "tensorboard=true", "export=true", "val_every=3", "progress_bar=true"),
    ]
    assert cli.main(args) == 0
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.yaml",
        "metrics.csv",
        "val.csv",
        "tb",
        "checkpoints",
        "export",
        "loss_curve.png",
        "train.log",
    } <= names
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    saved = load_config(TrainConfig, run_dir / "config.yaml")
    assert saved.seed == 3 and saved.run_dir == run_dir
    rows = read_csv(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {
        "loss",
        "loss_tf",
        "loss_rollout",
        "lr",
        "grad_norm",
        "clips_per_s",
        "tokens_per_s",
        "data_wait",
        "peak_mem_mb",
    } <= set(rows[0])
    val = read_csv(run_dir / "val.csv")
    assert [int(r["step"]) for r in val] == [0, 3, 6] and {"tf_h3", "rollout_h3"} <= set(val[0])
    # export: released-format .pt and safetensors, both equal to the final checkpoint's predictor
    trained = predictor_from_checkpoint(ckpt.latest_checkpoint(run_dir / "checkpoints"))
    for file in ("predictor.pt", "predictor.safetensors"):
        exported = load_exported_predictor(run_dir / "export" / file)
        for (k, v), (k2, v2) in zip(trained.state_dict().items(), exported.state_dict().items()):
            assert k == k2 and torch.equal(v, v2)
    kwargs = json.loads((run_dir / "export" / "predictor_kwargs.json").read_text())
    assert kwargs["predictor_embed_dim"] == 32 and kwargs["is_frame_causal"] is True
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["batch_size"] == 4


def test_cli_reports_unknown_keys(tmp_path, capsys):
    assert cli.main(["train", str(ROOT / "configs/cpu_small.yaml"), f"run_dir={tmp_path}", "optim.lr=1"]) == 2
    assert "lr" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_predictor_trains_like_eager(tiny):
    """torch.compile (inductor, ~90 s on 2 CPU cores)."""
    eager = loop.train(tiny(name="eager"))
    compiled = loop.train(tiny("compile=true", name="compiled"))
    a, b = _losses(eager.run_dir), _losses(compiled.run_dir)
    for step in range(1, 7):
        assert a[step] == pytest.approx(b[step], abs=1e-4)


def test_decode_failures_of_a_step_are_counted():
    batches = [{"decode_failures": torch.tensor([0, 2])}, {"decode_failures": torch.tensor([1, 0])}, {"z": None}]
    assert loop.count_decode_failures(batches) == 3
