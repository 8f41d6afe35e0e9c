"""Planning with a latent world model: energies, CEM, MPPI, NeverGrad, gradient planning and the
receding-horizon loop.

Planners are functions of a world model (``plan.interface.RolloutModel``): they keep no state
and do no logging. ``plan.mpc`` adds the controller state (generator, warm start) and the
image policy ``Planner(world_model, cfg)(obs, goal) -> action [7]``.
"""

from vjepa_ac.plan.actions import ACTION_DIM, GRIPPER, GRIPPER_DIM, ROT, XYZ
from vjepa_ac.plan.cem import cem
from vjepa_ac.plan.config import (
    CEM_PRESETS, CEMConfig, GradientConfig, MPCConfig, MPPIConfig, NeverGradConfig, SearchConfig, cem_preset,
)
from vjepa_ac.plan.energy import energy_fn, l1_energy, l2_energy, trajectory_energy
from vjepa_ac.plan.gradient import gradient_plan
from vjepa_ac.plan.interface import Context, RolloutModel, WorldModel
from vjepa_ac.plan.mpc import MPC, MPCResult, Planner, plan_actions, run_mpc
from vjepa_ac.plan.mppi import mppi
from vjepa_ac.plan.nevergrad_planner import nevergrad_plan
from vjepa_ac.plan.sampling import PlanResult

__all__ = [
    "ACTION_DIM", "XYZ", "ROT", "GRIPPER", "GRIPPER_DIM",
    "cem", "mppi", "nevergrad_plan", "gradient_plan", "plan_actions",
    "CEMConfig", "MPPIConfig", "NeverGradConfig", "GradientConfig", "MPCConfig", "SearchConfig", "CEM_PRESETS", "cem_preset",
    "l1_energy", "l2_energy", "energy_fn", "trajectory_energy",
    "Context", "RolloutModel", "WorldModel", "PlanResult",
    "MPC", "MPCResult", "Planner", "run_mpc",
]
