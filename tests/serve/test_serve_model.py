"""The loader seam (toy, tiny, released-format files) and the `vjepa-ac serve` command line."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch
from serve_helpers import wire_image

from vjepa_ac.cli import main
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
from vjepa_ac.official import export_predictor
from vjepa_ac.plan.interface import WorldModel
from vjepa_ac.plan.toy import ToyWorldModel
from vjepa_ac.serve.model import load_service_model

ENC_KW = dict(img_size=64, patch_size=16, tubelet_size=2, embed_dim=48, depth=2, num_heads=2, mlp_ratio=4.0)
PRED_KW = dict(img_size=(64, 64), patch_size=16, embed_dim=48, predictor_embed_dim=64, depth=2, num_heads=2,
               mlp_ratio=4.0, use_extrinsics=False, action_embed_dim=7, use_rope=True, is_frame_causal=True)


def test_toy_and_tiny_specs():
    toy = load_service_model("toy:width=8,seed=3", "cpu")
    assert isinstance(toy.world_model, ToyWorldModel) and toy.model_id == "toy:tokens=4,width=8,seed=3"
    tiny = load_service_model("tiny:seed=1", "cpu")
    assert isinstance(tiny.world_model, WorldModel) and tiny.image_size == 64
    state = torch.get_rng_state()
    assert torch.equal(torch.get_rng_state(), state)  # building it did not reseed the caller
    with pytest.raises(ValueError, match="bad model spec"):
        load_service_model("toy:colour=red", "cpu")


def test_released_format_file(tmp_path):
    torch.manual_seed(0)
    enc = VisionTransformer(EncoderConfig(img_size=64, embed_dim=48, depth=2, num_heads=2)).eval()
    pred = ACPredictor(PredictorConfig(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2))
    pred.eval()
    path = tmp_path / "ac-small.pt"
    torch.save({"encoder": enc.state_dict(), "predictor": export_predictor(pred), "epoch": 3}, path)
    served = load_service_model(str(path), "cpu", encoder_kwargs=ENC_KW, predictor_kwargs=PRED_KW)
    assert served.model_id.startswith("ac-small-") and served.image_size == 64 and served.fps == 4.0
    img = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8))
    assert served.world_model.encode(img).shape == (1, 16, 48)

    with pytest.raises(FileNotFoundError):
        load_service_model(str(tmp_path / "missing.pt"), "cpu", encoder_kwargs=ENC_KW,
                           predictor_kwargs=PRED_KW)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_service_model(str(tmp_path / "missing"), "cpu")


def test_a_training_run_is_served(tmp_path):
    from tests.train.conftest import tiny_config
    from vjepa_ac.serve.config import ServeConfig
    from vjepa_ac.serve.protocol import parse_plan_request
    from vjepa_ac.serve.service import PlanningService
    from vjepa_ac.train.loop import train

    cfg = tiny_config(tmp_path / "run")
    train(cfg)
    served = load_service_model(str(tmp_path / "run"), "cpu")
    assert served.image_size == 32 and served.info["step"] == cfg.total_steps
    assert served.model_id.startswith(f"step_{cfg.total_steps:08d}-") and len(served.model_id) == 14 + 12
    svc = PlanningService(served, ServeConfig(port=0)).start()
    try:
        rng = np.random.default_rng(0)
        img = wire_image(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        body = {"image": img, "state": [0.4, 0, 0.3, 0, 0, 0, 0], "goal_images": [img],
                "planner": {"num_samples": 16, "iterations": 2, "num_elites": 4}}
        out = svc.plan(parse_plan_request(body, svc.cfg))
        assert out.action.shape == (7,) and out.model_id == served.model_id
        assert svc.metadata()["fps"] == served.fps
    finally:
        svc.stop(5)


def test_serve_command_line(monkeypatch):
    seen = {}
    monkeypatch.setattr("vjepa_ac.serve.server.serve", lambda ckpt, cfg: seen.update(ckpt=ckpt, cfg=cfg))
    for argv in (["serve", "--port", "9001", "toy:", "max_samples=1024"],
                 ["serve", "toy:", "--port", "9001", "max_samples=1024"]):
        assert main(argv) == 0
        assert seen["ckpt"] == "toy:" and seen["cfg"].port == 9001 and seen["cfg"].host == "127.0.0.1"
        assert seen["cfg"].max_samples == 1024
    assert main(["serve", "toy:", "queue_sise=3"]) == 2  # one line naming the key (tests/test_cli.py)


def test_vjepa_ac_serve_runs_a_server_in_its_own_process():
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from vjepa_ac.client import PlanningClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "vjepa_ac.cli", "serve", "--port", str(port), "toy:"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with PlanningClient(f"http://127.0.0.1:{port}", timeout=5) as client:
            end = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                try:
                    health = client.health()
                    break
                except httpx.TransportError:
                    assert time.monotonic() < end, "the server did not start in 60 s"
                    time.sleep(0.2)
            assert health["status"] == "ok" and health["model_id"] == "toy:tokens=4,width=16,seed=0"
            assert client.metadata()["limits"]["queue_size"] == 16
    finally:
        proc.terminate()
        proc.wait(30)
