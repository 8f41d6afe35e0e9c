from pathlib import Path

import pytest

from vjepa_ac.config import ConfigError, load_config
from vjepa_ac.plan.config import CEM_PRESETS, CEMConfig, MPCConfig, MPPIConfig, cem_preset

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "plan"


def test_defaults_are_the_paper_settings():
    c = CEMConfig()
    assert (c.num_samples, c.iterations, c.num_elites, c.horizon) == (800, 10, 10, 1)
    assert c.search == ("xyz", "gripper") and c.xyz_bound == "l1_ball" and c.xyz_radius == 0.075
    n = CEM_PRESETS["notebook"]
    assert (n.num_samples, n.horizon, n.xyz_bound, n.xyz_radius) == (400, 2, "box", 0.05)
    assert n.gripper_limit == 0.75
    assert (n.momentum_mean, n.momentum_std, n.gripper_round) == (0.15, 0.15, 0.25)


@pytest.mark.parametrize("name", sorted(CEM_PRESETS))
def test_yaml_presets_match_code_presets(name):
    assert load_config(CEMConfig, CONFIGS / f"cem_{name}.yaml") == CEM_PRESETS[name]


def test_mppi_yaml_and_overrides_load():
    cfg = load_config(MPPIConfig, CONFIGS / "mppi.yaml", ["temperature=0.5", "search=[xyz]"])
    assert cfg.temperature == 0.5 and cfg.search == ("xyz",)
    with pytest.raises(ConfigError, match="num_elite"):
        load_config(CEMConfig, None, ["num_elite=5"])


@pytest.mark.parametrize("kwargs, field", [
    ({"num_elites": 1}, "num_elites"),
    ({"num_elites": 900}, "num_elites"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"momentum_mean": 1.0}, "momentum_mean"),
    ({"search": ("xyz", "yaw")}, "search"),
    ({"search": ("xyz", "rot"), "rot_limit": 0.0}, "rot_limit"),
    ({"xyz_radius": -0.1}, "xyz_radius"),
    ({"search": ("xyz",), "gripper_round": 0.25}, "gripper_round"),
])
def test_invalid_cem_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CEMConfig(**kwargs)


def test_invalid_mppi_and_mpc_values_name_the_field():
    with pytest.raises(ValueError, match="temperature"):
        MPPIConfig(temperature=0.0)
    with pytest.raises(ValueError, match="max_steps"):
        MPCConfig(max_steps=0)
    with pytest.raises(TypeError):
        cem_preset("paper", no_such_field=1)


def test_one_planner_spec_layers_kind_file_and_overrides(tmp_path):
    from vjepa_ac.config import deep_merge
    from vjepa_ac.eval.offline import OfflineEvalConfig
    from vjepa_ac.eval.sim import EvalSimConfig
    from vjepa_ac.plan.config import PlannerSpec, load_planner_config
    from vjepa_ac.serve.config import ServeConfig
    from vjepa_ac.serve.protocol import resolve_planner

    (tmp_path / "p.yaml").write_text("num_samples: 64\nhorizon: 3\n")
    spec = PlannerSpec("notebook", tmp_path / "p.yaml", {"horizon": 2})
    want = cem_preset("notebook", num_samples=64, horizon=2)
    assert spec.resolve() == want
    # the four dialects are this one spec: the CLI, eval sim, eval offline (at horizon 1), the server
    assert load_planner_config("notebook", tmp_path / "p.yaml", ["horizon=2"]) == want
    ev = EvalSimConfig(planner="notebook", planner_config=tmp_path / "p.yaml", plan={"horizon": 2})
    assert ev.planner_spec == spec and ev.planner_cfg() == want
    off = OfflineEvalConfig(planner="notebook", planner_config=tmp_path / "p.yaml", plan={"horizon": 2})
    assert off.planner_cfg() == cem_preset("notebook", num_samples=64, horizon=1)
    server = ServeConfig(preset="notebook", planner={"num_samples": 64})
    assert resolve_planner({"horizon": 2}, server) == want
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}, {"d": 4}) == {"a": {"b": 1, "c": 3}, "d": 4}
    with pytest.raises(ConfigError, match=r"num_samplez.*in plan"):
        PlannerSpec("cem", overrides={"num_samplez": 1}).resolve()
    with pytest.raises(ConfigError, match="unknown planner 'gd'"):
        PlannerSpec("gd").resolve()
    with pytest.raises(ConfigError, match="ServeConfig.planner.num_samples=5000 exceeds"):
        ServeConfig(planner={"num_samples": 5000})


@pytest.mark.parametrize("kind, file", [("nevergrad", "nevergrad.yaml"), ("gradient", "gradient.yaml"),
                                        ("paper", "cem_l2.yaml")])
def test_every_planner_kind_has_a_yaml_that_resolves(kind, file):
    from vjepa_ac.plan.config import PLANNER_TYPES, PlannerSpec

    cfg = PlannerSpec(kind, CONFIGS / file, {"energy_tokens": "pooled"}).resolve()
    assert type(cfg) is PLANNER_TYPES.get(kind, CEMConfig) and cfg.energy_tokens == "pooled"
    assert PlannerSpec(kind, CONFIGS / file).resolve() == (PlannerSpec(kind).resolve() if kind != "paper"
                                                           else cem_preset("paper", energy="l2"))
    with pytest.raises(ConfigError, match="plan.energy_tokens"):
        PlannerSpec(kind, overrides={"energy_tokens": "mean"}).resolve()
