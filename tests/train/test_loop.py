"""The training loop: exact resume, encoder-in-the-loop equals cached features, NaN stop, export,
and the ``vjepa-ac train`` command end to end (all on tiny synthetic clips, CPU)."""

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
