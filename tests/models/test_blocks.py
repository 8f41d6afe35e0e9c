"""Transformer pieces: the MLP's in-place activation, projections of batch-shared tokens."""

import torch
import torch.nn.functional as F

from vjepa_ac.models.blocks import MLP, project_shared


def test_mlp_without_autograd_equals_with_it_and_keeps_its_input():
    torch.manual_seed(0)
    mlp = MLP(16, 64)
    x = torch.randn(3, 5, 16)
    x0 = x.clone()
    with torch.no_grad():
        planned = mlp(x)  # GELU in place on fc1's output
    assert torch.equal(x, x0)
    trained = mlp(x)  # autograd: the activation keeps its input for the backward
    assert torch.equal(planned, trained.detach())
    assert torch.equal(planned, mlp.fc2(F.gelu(mlp.fc1(x))).detach())
    trained.sum().backward()
    assert mlp.fc1.weight.grad is not None and torch.isfinite(mlp.fc1.weight.grad).all()


def test_project_shared_equals_the_whole_projection():
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 12)
    x = torch.randn(1, 6, 8).expand(4, -1, -1).clone()
    varying = torch.tensor([0, 3])
    x[:, varying] = torch.randn(4, 2, 8)
    torch.testing.assert_close(project_shared(lin, x, varying), lin(x), atol=1e-6, rtol=0)
