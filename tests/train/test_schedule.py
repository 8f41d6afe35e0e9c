"""wsd_lr reproduces the public WSDSchedule (../shared/golden/wsd_paper)."""

import pytest

from vjepa_ac.train.schedule import wsd_lr


def test_wsd_matches_golden(golden):
    g = golden("wsd_paper")
    c = g["config"]
    kw = dict(
        warmup=c["warmup"],
        constant=c["constant"],
        anneal=c["anneal"],
        start_lr=c["start_lr"],
        peak_lr=c["ref_lr"],
        final_lr=c["final_lr"],
    )
    for step, expected in zip(g["probe_steps"].tolist(), g["lr"].tolist()):
        assert wsd_lr(step, **kw) == pytest.approx(expected, abs=1e-12, rel=1e-9), step


def test_wsd_shape():
    kw = dict(warmup=10, constant=5, anneal=5, start_lr=0.0, peak_lr=1.0, final_lr=0.1)
    lrs = [wsd_lr(k, **kw) for k in range(30)]
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))  # rising
    assert lrs[9:15] == [1.0] * 6
    assert lrs[19] == pytest.approx(0.1) and lrs[25] == pytest.approx(0.1)  # clamped after the end
    with pytest.raises(ValueError, match="step"):
        wsd_lr(-1, **kw)
