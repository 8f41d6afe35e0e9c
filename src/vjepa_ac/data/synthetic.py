"""The former name of ``vjepa_ac.data.synthetic_datasets`` (small raw-DROID / LeRobot datasets on
disk), kept because code outside the project imports it from here; new code imports
``vjepa_ac.data.synthetic_datasets``."""

from vjepa_ac.data.synthetic_datasets import (  # noqa: F401
    make_droid_dataset,
    make_droid_episode,
    make_lerobot_dataset,
    render_frames,
    synthetic_states,
)
