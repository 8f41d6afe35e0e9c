"""Names of the raw DROID episode layout (REFERENCE.md section 6), shared by reader and writer.

An episode folder ``<lab>/{success,failure}/<date>/<time>/`` holds ``trajectory.h5``,
``metadata_<uuid>.json`` and ``recordings/MP4/<serial>.mp4`` (left lens, 1280x720 on DROID).
"""

TRAJECTORY_FILE = "trajectory.h5"
METADATA_GLOB = "metadata_*.json"
MP4_DIR = "recordings/MP4"

CARTESIAN_KEY = "observation/robot_state/cartesian_position"  # [T,6] f64: xyz (m), euler xyz (rad)
GRIPPER_KEY = "observation/robot_state/gripper_position"  # [T] 0 open .. 1 closed
EXTRINSICS_GROUP = "observation/camera_extrinsics"  # <serial>_left|_right [T,6]
CAMERA_TIMESTAMP_GROUP = "observation/timestamp/cameras"  # <serial>_estimated_capture etc., int64 ms
CONTROL_TIMESTAMP_GROUP = "observation/timestamp/control"  # step_start etc., int64 ms
ACTION_CARTESIAN_KEY = "action/cartesian_position"  # commanded targets (unused by V-JEPA 2-AC)
ACTION_GRIPPER_KEY = "action/gripper_position"

# metadata keys naming the video of each view, relative to the lab folder
VIEW_PATH_KEYS = {"left": "left_mp4_path", "right": "right_mp4_path", "wrist": "wrist_mp4_path"}
VERSION_KEYS = ("r2d2_version", "droid_version")  # public data / newer code

# DROID records at a nominal 15 Hz but its MP4 containers report 60 fps
CONTAINER_FPS = 60.0
RECORDING_HZ = 15.0
