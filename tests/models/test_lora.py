"""Merging LoRA adapters (models/lora.py): W + alpha/r B A under the plain key names, equal to
what the adapted layer computes (peft), and a named error for an incomplete adapter."""

import pytest
import torch

from vjepa_ac.models.lora import has_lora, lora_scaling, merge_lora_state


def test_merge_is_w_plus_scaled_ba_under_the_plain_names():
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(6, 4, generator=g), torch.randn(6, generator=g)
    a, bb = torch.randn(2, 4, generator=g), torch.randn(6, 2, generator=g)
    state = {"blk.fc.base_layer.weight": w, "blk.fc.base_layer.bias": b, "blk.fc.lora_A.default.weight": a,
             "blk.fc.lora_B.default.weight": bb, "norm.weight": torch.ones(4)}
    assert has_lora(state) and not has_lora({"norm.weight": torch.ones(4)})
    merged = merge_lora_state(state, lora_scaling(2, 8.0))
    assert set(merged) == {"blk.fc.weight", "blk.fc.bias", "norm.weight"}
    torch.testing.assert_close(merged["blk.fc.weight"], w + 4.0 * bb @ a)
    assert torch.equal(merged["blk.fc.bias"], b)


def test_merged_layer_equals_the_peft_layer():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    plain = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    peft.inject_adapter_in_model(peft.LoraConfig(r=2, lora_alpha=6, target_modules=["0", "2"]), model)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    plain.load_state_dict(merge_lora_state(model.state_dict(), lora_scaling(2, 6)))
    x = torch.randn(5, 8)
    torch.testing.assert_close(plain(x), model(x), atol=1e-6, rtol=1e-5)


def test_an_incomplete_adapter_is_named():
    with pytest.raises(KeyError, match="blk.fc"):
        merge_lora_state({"blk.fc.base_layer.weight": torch.zeros(2, 2),
                          "blk.fc.lora_A.default.weight": torch.zeros(1, 2)}, 1.0)
