"""Image pipeline on the real Franka frames (256x256) and on DROID-sized 1280x720 frames."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vjepa_ac.data.transforms import IMAGENET_MEAN, IMAGENET_STD, crop_and_resize, crop_box, normalize


@pytest.fixture(scope="module")
def franka_frames():
    # a real two-frame Franka trajectory from the public repository (tests/artifacts)
    return np.load(Path(__file__).resolve().parents[1] / "artifacts" / "franka_example_traj.npz")[
        "observations"
    ][0]  # [2, 256, 256, 3]


@pytest.mark.parametrize("crop", ["released", "square"])
def test_crops_are_exact_identity_on_256px_frames(franka_frames, crop):
    out = crop_and_resize(franka_frames, crop=crop, size=256)
    assert out.shape == (2, 3, 256, 256) and out.dtype == torch.uint8
    assert torch.equal(out, torch.from_numpy(franka_frames).permute(0, 3, 1, 2))


def test_released_crop_boxes_follow_the_released_fallback():
    assert crop_box(720, 1280, "released") == (0, 154, 720, 972)  # aspect 1.35, full height
    assert crop_box(480, 640, "released") == (0, 0, 480, 640)  # 1.33 is inside [0.75, 1.35]: whole
    assert crop_box(1280, 720, "released") == (160, 0, 960, 720)  # tall: width / 0.75
    assert crop_box(720, 1280, "square") == (0, 280, 720, 720)


def test_released_crop_on_1280x720_matches_float_reference(franka_frames):
    # a 1280x720 frame: the Franka frame upsampled, so it has real image content
    src = (
        F.interpolate(
            torch.from_numpy(franka_frames).permute(0, 3, 1, 2).float(),
            size=(720, 1280),
            mode="bilinear",
            align_corners=False,
        )
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )
    out = crop_and_resize(src.permute(0, 2, 3, 1).numpy(), crop="released", size=256)
    # the released pipeline: float crop [:, :, 0:720, 154:1126] then bilinear resize, no antialias
    ref = F.interpolate(src[:, :, :, 154:1126].float(), size=(256, 256), mode="bilinear", align_corners=False)
    assert out.shape == (2, 3, 256, 256)
    assert (out.float() - ref).abs().max() <= 0.5 + 1e-4  # uint8 rounding only
    sq = crop_and_resize(src.permute(0, 2, 3, 1).numpy(), crop="square", size=256)
    ref_sq = F.interpolate(
        src[:, :, :, 280:1000].float(), size=(256, 256), mode="bilinear", align_corners=False
    )
    assert (sq.float() - ref_sq).abs().max() <= 0.5 + 1e-4


def test_normalize(franka_frames):
    x = torch.from_numpy(franka_frames).permute(0, 3, 1, 2)
    y = normalize(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(y * std + mean, x.float() / 255, atol=1e-6, rtol=0)
