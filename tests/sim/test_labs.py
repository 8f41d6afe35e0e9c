"""Labs: the evaluation labs share nothing visual with the training labs, and collection refuses them."""

import pytest

from vjepa_ac.sim.labs import EVAL_LABS, LABS, PROBE_LABS, TRAIN_LABS, get_lab

pytestmark = pytest.mark.sim


def test_split_sizes():
    assert len(TRAIN_LABS) >= 3 and len(EVAL_LABS) >= 2
    assert len(PROBE_LABS) >= 2
    assert not set(TRAIN_LABS) & set(EVAL_LABS) and not set(PROBE_LABS) & (set(TRAIN_LABS) | set(EVAL_LABS))
    assert set(TRAIN_LABS) | set(EVAL_LABS) | set(PROBE_LABS) == set(LABS)


def test_eval_labs_look_unlike_every_training_lab():
    for e in map(get_lab, EVAL_LABS):
        for t in map(get_lab, TRAIN_LABS):
            assert not {e.table_texture, e.floor_texture, e.wall_texture} & {t.table_texture, t.floor_texture, t.wall_texture}
            assert e.ext1.pos != t.ext1.pos
            assert e.light_dir != t.light_dir
            assert set(e.distractors) != set(t.distractors)


def test_probe_labs_look_unlike_every_other_lab():
    """Built differently again: no texture, light, distractor set or camera azimuth of a train or eval lab."""
    import math

    def azimuth(lab):
        (x, y, _), (tx, ty, _) = lab.ext1.pos, lab.ext1.target
        return math.degrees(math.atan2(y - ty, x - tx))

    others = [get_lab(n) for n in TRAIN_LABS + EVAL_LABS]
    for p in map(get_lab, PROBE_LABS):
        for o in others:
            assert not {p.table_texture, p.floor_texture, p.wall_texture} & {o.table_texture, o.floor_texture, o.wall_texture}
            assert p.light_dir != o.light_dir and set(p.distractors) != set(o.distractors)
        nearest = min(abs(azimuth(p) - azimuth(o)) for o in others)
        assert nearest > 5.0, (p.name, nearest)


def test_randomization_textures_hold_no_held_out_texture():
    from vjepa_ac.sim.labs import HELD_OUT_LABS, RANDOMIZATION_TEXTURES

    held_out = {t for lab in map(get_lab, HELD_OUT_LABS) for t in (lab.table_texture, lab.floor_texture, lab.wall_texture)}
    train = {t for lab in map(get_lab, TRAIN_LABS) for t in (lab.table_texture, lab.floor_texture, lab.wall_texture)}
    assert not held_out & set(RANDOMIZATION_TEXTURES)
    assert train < set(RANDOMIZATION_TEXTURES)


def test_collect_refuses_eval_labs():
    from vjepa_ac.sim.collect import CollectConfig

    with pytest.raises(ValueError, match="held out"):
        CollectConfig(labs=(TRAIN_LABS[0], EVAL_LABS[0]))
    assert CollectConfig(labs=(EVAL_LABS[0],), allow_eval_labs=True).labs == (EVAL_LABS[0],)
    assert not set(CollectConfig().labs) & set(EVAL_LABS)
    with pytest.raises(ValueError, match="held out"):
        CollectConfig(labs=(PROBE_LABS[0],))


@pytest.mark.parametrize("lab", list(LABS))
def test_every_lab_builds_and_renders(lab):
    from vjepa_ac.sim.env import FrankaSim, SimConfig

    with FrankaSim(SimConfig(lab=lab, image_size=64)) as sim:
        obs = sim.reset(0)
        assert obs.image.shape == (64, 64, 3) and obs.image.std() > 5
