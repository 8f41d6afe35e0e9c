"""The synthetic dataset generators' module names."""


def test_the_former_module_name_still_imports():
    """Code outside the project imports the generators from vjepa_ac.data.synthetic."""
    from vjepa_ac.data import synthetic, synthetic_datasets

    assert synthetic.make_droid_episode is synthetic_datasets.make_droid_episode
    assert synthetic.make_lerobot_dataset is synthetic_datasets.make_lerobot_dataset
