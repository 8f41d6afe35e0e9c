"""The Hub layout (vjepa_ac.hub): save_pretrained / from_pretrained round trips keep encoder and
predictor outputs bit-identical; released-format files, run folders and checkpoints convert;
load_world_model takes a Hub-layout folder; push_to_hub builds its upload without the network."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("huggingface_hub")

from tests.train.conftest import one_thread, tiny_config  # noqa: E402,F401  (one_thread: autouse)
from vjepa_ac.cli import main  # noqa: E402
from vjepa_ac.hub import HubWorldModel, export_hub  # noqa: E402
from vjepa_ac.hub_layout import ACTION_LAYOUT, HUB_FORMAT, NORMALISATION, is_hub_folder, looks_like_hub_id  # noqa: E402
from vjepa_ac.load import load_world_model  # noqa: E402
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer  # noqa: E402
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig  # noqa: E402
from vjepa_ac.official import (  # noqa: E402
    CheckpointMismatchError,
    encoder_kwargs,
    export_predictor,
    load_released_ac,
    released_predictor_kwargs,
)
from vjepa_ac.plan import Context  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Never reach the network: the Hub library's offline switch, read at import and at call time."""
    import huggingface_hub.constants as c

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)


def released_file(path, seed: int = 0):
    """A small AC checkpoint in the released format (``encoder`` + ``predictor`` + kwargs)."""
    torch.manual_seed(seed)
    enc = VisionTransformer(EncoderConfig(img_size=32, embed_dim=32, depth=2, num_heads=2))
    pred = ACPredictor(PredictorConfig(img_size=(32, 32), embed_dim=32, width=32, depth=2, num_heads=2))
    torch.save({"encoder": enc.state_dict(), "predictor": export_predictor(pred),
                "encoder_kwargs": encoder_kwargs(enc.cfg), "predictor_kwargs": released_predictor_kwargs(pred.cfg)}, path)
    return path


def outputs(encoder, predictor):
    """Encoder tokens of a fixed clip and predictor outputs of fixed inputs."""
    g = torch.Generator().manual_seed(1)
    clip = torch.randn(2, 3, 2, 32, 32, generator=g)  # [B, C, T, H, W]
    z = torch.randn(2, 3 * 4, 32, generator=g)  # [B, T*N, D]
    a, s = torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)
    with torch.no_grad():
        return encoder(clip), predictor(z, a, s)


def test_released_file_round_trips_bit_identical(tmp_path):
    src = released_file(tmp_path / "ac.pt")
    out = export_hub(src, tmp_path / "hub")
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "README.md"}
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format"] == HUB_FORMAT and cfg["fps"] == 4.0 and cfg["crop"] == "square"
    assert cfg["action_layout"] == ACTION_LAYOUT and cfg["normalisation"] == NORMALISATION
    enc, pred = load_released_ac(src)
    hub = HubWorldModel.from_pretrained(out)
    for want, got in zip(outputs(enc, pred), outputs(hub.encoder, hub.predictor)):
        assert torch.equal(want, got)
    # saving again and reloading keeps every tensor
    hub.save_pretrained(tmp_path / "again")
    again = HubWorldModel.from_pretrained(tmp_path / "again")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in hub.state_dict().items())
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:  # the released key names, prefixed
        keys = set(f.keys())
    assert {"encoder." + k for k in enc.state_dict()} | {"predictor." + k for k in pred.state_dict()} == keys


def test_load_world_model_takes_a_hub_folder(tmp_path):
    src = released_file(tmp_path / "ac.pt")
    out = export_hub(src, tmp_path / "hub")
    assert is_hub_folder(out) and not is_hub_folder(tmp_path)
    a, b = load_world_model(src), load_world_model(out)
    assert b.fps == 4.0 and b.image_size == 32 and b.info["format"] == "hub" and b.info["crop"] == "square"
    img = torch.randint(0, 255, (1, 40, 48, 3), dtype=torch.uint8)
    za, zb = a.world_model.encode(img), b.world_model.encode(img)
    assert torch.equal(za, zb)
    acts = torch.randn(3, 2, 7, generator=torch.Generator().manual_seed(0))
    ctx = Context.single(za[0], torch.zeros(7))
    assert torch.equal(a.world_model.rollout(ctx, acts), b.world_model.rollout(ctx, acts))
    # a copied folder keeps its id (the weights' content hash)
    import shutil

    shutil.copytree(out, tmp_path / "copy")
    assert load_world_model(tmp_path / "copy").model_id == b.model_id


def test_a_run_folder_exports_with_its_facts_and_card(tmp_path):
    from vjepa_ac.train.loop import train

    cfg = tiny_config(tmp_path / "run", "data.clips.crop=released")
    train(cfg)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"summary": [{"policy": "cem", "task": "reach", "success": 0.5}]}))
    assert main(["export-hub", str(tmp_path / "run"), str(tmp_path / "hub"), "--eval-results", str(results)]) == 0
    card = (tmp_path / "hub" / "README.md").read_text()
    assert "## Training config" in card and "peak_lr" in card and "| cem | reach | 0.5 |" in card
    run, hub = load_world_model(tmp_path / "run"), load_world_model(tmp_path / "hub")
    assert hub.fps == run.fps and hub.info["crop"] == "released" == run.info["crop"] and hub.info["step"] == 6
    img = torch.randint(0, 255, (1, 32, 32, 3), dtype=torch.uint8)
    z = run.world_model.encode(img)
    assert torch.equal(z, hub.world_model.encode(img))
    acts = torch.randn(2, 2, 7, generator=torch.Generator().manual_seed(0))
    ctx = Context.single(z[0], torch.zeros(7))
    assert torch.equal(run.world_model.rollout(ctx, acts), hub.world_model.rollout(ctx, acts))


def test_loading_is_strict_and_checks_the_planning_facts(tmp_path):
    from safetensors.torch import load_file, save_file

    out = export_hub(released_file(tmp_path / "ac.pt"), tmp_path / "hub")
    cfg = json.loads((out / "config.json").read_text())
    bad = dict(cfg, action_layout=dict(ACTION_LAYOUT, dims=["x", "y", "z", "gripper"]))
    (out / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="config.json: action_layout"):
        load_world_model(out)
    (out / "config.json").write_text(json.dumps(cfg))
    weights = load_file(str(out / "model.safetensors"))
    weights.pop("predictor.predictor_norm.weight")
    save_file(weights, str(out / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError, match="predictor_norm.weight"):
        HubWorldModel.from_pretrained(out)
    (out / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_world_model(out)


def test_a_hub_id_offline_and_not_cached_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert looks_like_hub_id("someone/some-model") and not looks_like_hub_id("a/b/c")
    with pytest.raises(FileNotFoundError, match="someone/some-model"):
        load_world_model("someone/some-model")


def test_push_to_hub_builds_its_upload_offline(tmp_path, monkeypatch):
    """push_to_hub goes through the mixin: it saves the folder and uploads it; the two network
    calls are replaced by recorders, so the test sees the commit's files and never connects."""
    import huggingface_hub

    seen = {}

    def create_repo(self, repo_id, **kw):
        seen["repo"] = repo_id
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kw):
        from pathlib import Path

        seen["files"] = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        seen["message"] = kw.get("commit_message")
        return "commit-url"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    out = export_hub(released_file(tmp_path / "ac.pt"), tmp_path / "hub")
    HubWorldModel.from_pretrained(out).push_to_hub("me/tiny-ac")
    assert seen["repo"] == "me/tiny-ac"
    assert {"model.safetensors", "config.json", "README.md"} <= set(seen["files"])
    assert json.loads(seen["files"]["config.json"])["format"] == HUB_FORMAT
    card = seen["files"]["README.md"].decode()
    assert "library_name: vjepa-ac" in card and "4.0 actions/s" in card
    assert seen["files"]["model.safetensors"] == (out / "model.safetensors").read_bytes()


def test_export_hub_cli_errors_in_one_line(tmp_path, capsys):
    assert main(["export-hub", str(tmp_path / "nothing.pt"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vjepa-ac export-hub: error: ") and "nothing.pt" in err
