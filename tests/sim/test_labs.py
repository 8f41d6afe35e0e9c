"""Labs: the evaluation labs share nothing visual with the training labs, and collection refuses them."""

import pytest

from vjepa_ac.sim.labs import EVAL_LABS, LABS, TRAIN_LABS, get_lab

pytestmark = pytest.mark.sim


def test_split_sizes():
    assert len(TRAIN_LABS) >= 3 and len(EVAL_LABS) >= 2
    assert not set(TRAIN_LABS) & set(EVAL_LABS)
    assert set(TRAIN_LABS) | set(EVAL_LABS) == set(LABS)


def test_eval_labs_look_unlike_every_training_lab():
    for e in map(get_lab, EVAL_LABS):
        for t in map(get_lab, TRAIN_LABS):
            assert not {e.table_texture, e.floor_texture, e.wall_texture} & {t.table_texture, t.floor_texture, t.wall_texture}
            assert e.ext1.pos != t.ext1.pos
            assert e.light_dir != t.light_dir
            assert set(e.distractors) != set(t.distractors)


def test_collect_refuses_eval_labs():
    from vjepa_ac.sim.collect import CollectConfig

    with pytest.raises(ValueError, match="held out"):
        CollectConfig(labs=(TRAIN_LABS[0], EVAL_LABS[0]))
    assert CollectConfig(labs=(EVAL_LABS[0],), allow_eval_labs=True).labs == (EVAL_LABS[0],)
    assert not set(CollectConfig().labs) & set(EVAL_LABS)


@pytest.mark.parametrize("lab", list(LABS))
def test_every_lab_builds_and_renders(lab):
    from vjepa_ac.sim.env import FrankaSim, SimConfig

    with FrankaSim(SimConfig(lab=lab, image_size=64)) as sim:
        obs = sim.reset(0)
        assert obs.image.shape == (64, 64, 3) and obs.image.std() > 5
