import pytest
import torch

from vjepa_ac.pretrain.masks import MaskSpec, block_shape, sample_masks
from vjepa_ac.pretrain.train import MASK_PRESETS


@pytest.mark.parametrize("grid", [(1, 4, 4), (1, 8, 8), (2, 4, 4), (1, 3, 5)])
@pytest.mark.parametrize("preset", sorted(MASK_PRESETS))
def test_masks_are_disjoint_in_range_and_rectangular(grid, preset):
    g = torch.Generator().manual_seed(0)
    t, h, w = grid
    for spec in MASK_PRESETS[preset]:
        for _ in range(10):
            m = sample_masks(spec, 16, grid, g)
            assert m.context.shape[0] == m.target.shape[0] == 16
            assert m.context.dtype == m.target.dtype == torch.long
            for ctx, tgt in zip(m.context.tolist(), m.target.tolist()):
                assert len(set(ctx)) == len(ctx) and len(set(tgt)) == len(tgt)
                assert not set(ctx) & set(tgt)
                assert all(0 <= i < t * h * w for i in ctx + tgt)
                assert len(ctx) >= 1 and len(tgt) >= 1
                assert ctx == sorted(ctx) and tgt == sorted(tgt)
                # the same spatial positions in every tubelet
                per = h * w
                frames = [sorted(i % per for i in tgt if i // per == k) for k in range(t)]
                assert all(f == frames[0] for f in frames)


def test_min_context_is_kept_and_counts_add_up():
    g = torch.Generator().manual_seed(1)
    spec = MaskSpec(num_blocks=2, scale=(0.5, 0.5), min_context=3)
    for _ in range(20):
        m = sample_masks(spec, 8, (1, 4, 4), g)
        assert m.context.shape[1] >= 3
        assert m.context.shape[1] + m.target.shape[1] <= 16


def test_single_block_target_is_a_rectangle_of_the_drawn_shape():
    g = torch.Generator().manual_seed(2)
    spec = MaskSpec(num_blocks=1, scale=(0.25, 0.25), aspect=(1.0, 1.0), min_context=1)
    assert block_shape(spec, 8, 8, torch.Generator().manual_seed(0)) == (4, 4)
    m = sample_masks(spec, 4, (1, 8, 8), g)
    assert m.target.shape == (4, 16) and m.context.shape == (4, 48)
    for tgt in m.target.tolist():
        rows, cols = {i // 8 for i in tgt}, {i % 8 for i in tgt}
        assert len(rows) == 4 and len(cols) == 4


def test_masks_are_reproducible_from_the_generator():
    spec = MASK_PRESETS["small_grid"][0]
    a = sample_masks(spec, 8, (1, 4, 4), torch.Generator().manual_seed(3))
    b = sample_masks(spec, 8, (1, 4, 4), torch.Generator().manual_seed(3))
    assert torch.equal(a.context, b.context) and torch.equal(a.target, b.target)


def test_spec_validation():
    with pytest.raises(ValueError, match="scale"):
        MaskSpec(scale=(0.0, 0.1))
    with pytest.raises(ValueError, match="min_context"):
        sample_masks(MaskSpec(min_context=16), 2, (1, 4, 4), torch.Generator())
