"""Fine-tuning (train/finetune.py): start weights from a released-format file, a Hub folder or a
run; frozen first blocks stay put; LoRA adapters (peft) train alone, resume exactly and export
merged into the released key format; the fields are validated and kept in the resolved config."""

import shutil

import pytest
import torch
import yaml

from vjepa_ac.config import ConfigError
from vjepa_ac.load import load_world_model
from vjepa_ac.models.encoder import VisionTransformer
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import encoder_kwargs, export_predictor, released_predictor_kwargs
from vjepa_ac.train import checkpoint as ckpt
from vjepa_ac.train import loop
from vjepa_ac.runs import predictor_from_state
from vjepa_ac.train.export import load_exported_predictor, predictor_from_checkpoint
from vjepa_ac.train.finetune import plain_predictor, start_weights

from .conftest import tiny_config


def base_file(tmp_path):
    """A released-format file of the tiny config's architecture (the model to fine-tune)."""
    cfg = tiny_config(tmp_path / "unused")
    torch.manual_seed(7)
    enc, pred = VisionTransformer(cfg.model.encoder), ACPredictor(cfg.model.predictor)
    path = tmp_path / "base-ac.pt"
    torch.save({"encoder": enc.state_dict(), "predictor": export_predictor(pred),
                "encoder_kwargs": encoder_kwargs(enc.cfg), "predictor_kwargs": released_predictor_kwargs(pred.cfg)},
               path)
    return path, pred.state_dict()


def _inputs():
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3 * 4, 32, generator=g), torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)


def test_fields_are_validated_and_named(tmp_path):
    with pytest.raises(ConfigError, match="finetune.freeze_blocks"):
        tiny_config(tmp_path, "finetune.freeze_blocks=2")  # depth 2: nothing would train
    with pytest.raises(ConfigError, match="finetune.lora.targets"):
        tiny_config(tmp_path, "finetune.lora.rank=2", "finetune.lora.targets=[qkv,q_proj]")
    with pytest.raises(ConfigError, match="finetune.lora"):
        tiny_config(tmp_path, "finetune.lora.rank=-1")
    with pytest.raises(ConfigError, match="finetune.init"):
        tiny_config(tmp_path, "model.predictor_init=a.pt", "finetune.init=b.pt")
    cfg = tiny_config(tmp_path, "model.predictor_init=a.pt")  # the older field folds into finetune.init
    assert cfg.finetune.init == "a.pt" and cfg.model.predictor_init == "random"


def test_freeze_first_blocks_from_a_released_file(tmp_path):
    path, base = base_file(tmp_path)
    cfg = tiny_config(tmp_path / "run", f"finetune.init={path}", "finetune.freeze_blocks=1")
    loop.train(cfg)
    stored = yaml.safe_load((cfg.run_dir / "config.yaml").read_text())
    assert stored["finetune"]["freeze_blocks"] == 1 and stored["finetune"]["init"] == str(path)
    tuned = ckpt.load_checkpoint(ckpt.checkpoint_path(cfg.run_dir / "checkpoints", 6))["model"]
    frozen = [k for k in base if k.startswith(("predictor_blocks.0.", "predictor_embed", "action_encoder",
                                               "state_encoder"))]
    assert frozen and all(torch.equal(tuned[k], base[k]) for k in frozen)
    assert not torch.equal(tuned["predictor_blocks.1.attn.qkv.weight"], base["predictor_blocks.1.attn.qkv.weight"])


def test_lora_trains_adapters_only_resumes_exactly_and_exports_merged(tmp_path):
    pytest.importorskip("peft")
    path, base = base_file(tmp_path)
    lora = [f"finetune.init={path}", "finetune.lora.rank=4", "finetune.lora.alpha=8", "export=true"]
    full = loop.train(tiny_config(tmp_path / "full", *lora))
    state = ckpt.load_checkpoint(ckpt.checkpoint_path(full.run_dir / "checkpoints", 6))
    model = state["model"]
    assert any(".lora_A." in k for k in model)
    adapted = {k: k.rsplit(".", 1)[0] + ".base_layer." + k.rsplit(".", 1)[1] for k in base}
    adapted = {k: b for k, b in adapted.items() if b in model}
    assert adapted and all(torch.equal(model[b], base[k]) for k, b in adapted.items())  # base weights frozen
    # resume from step 3 = uninterrupted
    cfg = tiny_config(tmp_path / "resumed", *lora)
    (cfg.run_dir / "checkpoints").mkdir(parents=True)
    shutil.copy(ckpt.checkpoint_path(full.run_dir / "checkpoints", 3), cfg.run_dir / "checkpoints")
    loop.train(cfg, resume=True)
    resumed = ckpt.load_checkpoint(ckpt.checkpoint_path(cfg.run_dir / "checkpoints", 6))["model"]
    assert all(torch.equal(v, resumed[k]) for k, v in state["model"].items())
    # the export is the released key format with the adapters merged; planning loads the run merged
    exported = load_exported_predictor(full.run_dir / "export" / "predictor.safetensors")
    assert set(exported.state_dict()) == set(base)
    run = load_world_model(full.run_dir)
    z, a, s = _inputs()
    with torch.no_grad():
        want = exported(z, a, s)
        assert torch.equal(run.world_model.model.predictor(z, a, s), want)
        base_pred = ACPredictor(exported.cfg)
        base_pred.load_state_dict(base)
        assert not torch.equal(base_pred(z, a, s), want)  # the adapters changed something
    assert set(start_weights(str(full.run_dir))) == set(base)  # a LoRA run is itself a start point


def test_start_from_a_hub_folder_with_its_encoder(tmp_path):
    pytest.importorskip("huggingface_hub")
    from vjepa_ac.hub import export_hub

    path, base = base_file(tmp_path)
    hub = export_hub(path, tmp_path / "hub")
    cfg = tiny_config(tmp_path / "run", f"finetune.init={hub}", f"model.encoder_checkpoint={hub}",
                      "optim.warmup=0", "optim.constant=0", "optim.anneal=1", "optim.start_lr=0", "optim.peak_lr=0",
                      "optim.weight_decay=0")
    loop.train(cfg)  # one step at lr 0: the weights stay the hub's
    tuned = load_world_model(cfg.run_dir)
    enc = torch.load(path, weights_only=True)["encoder"]
    assert all(torch.equal(tuned.world_model.model.encoder.state_dict()[k], v) for k, v in enc.items())
    assert all(torch.equal(tuned.world_model.model.predictor.state_dict()[k], v) for k, v in base.items())


def test_plain_predictor_is_the_model_itself_without_adapters(tmp_path):
    cfg = tiny_config(tmp_path)
    p = ACPredictor(cfg.model.predictor)
    assert plain_predictor(p, cfg.finetune) is p


def test_finetune_resume_and_old_runs_keep_the_layernorm_eps_their_weights_had(tmp_path):
    eps = 3e-6  # neither the default nor the release's
    base = tiny_config(tmp_path / "base", f"model.predictor.norm_eps={eps}")
    loop.train(base)
    last = ckpt.checkpoint_path(base.run_dir / "checkpoints", 6)
    assert predictor_from_checkpoint(last).cfg.norm_eps == eps
    # fine-tuning from that run with a config at the default eps takes the run's, and records it
    tuned = tiny_config(tmp_path / "tuned", f"finetune.init={base.run_dir}")
    assert tuned.model.predictor.norm_eps != eps
    loop.train(tuned)
    stored = yaml.safe_load((tuned.run_dir / "config.yaml").read_text())
    assert stored["model"]["predictor"]["norm_eps"] == eps
    model = predictor_from_checkpoint(ckpt.checkpoint_path(tuned.run_dir / "checkpoints", 6))
    assert model.predictor_blocks[0].norm1.eps == model.predictor_norm.eps == eps
    # resuming with a config that no longer names the eps (twice the steps) keeps the checkpoint's
    longer = tiny_config(tmp_path / "base", "optim.constant=8")
    loop.train(longer, resume=True)
    assert predictor_from_checkpoint(ckpt.checkpoint_path(base.run_dir / "checkpoints", 12)).cfg.norm_eps == eps
    # a run saved before norm_eps was recorded was trained with the release's 1e-6
    state = ckpt.load_checkpoint(last)
    del state["config"]["model"]["predictor"]["norm_eps"]
    assert predictor_from_state(state).cfg.norm_eps == 1e-6
