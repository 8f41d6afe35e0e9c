"""Assets: robosuite's files are found without importing it; decimated meshes are cached."""

import importlib.util
import sys
import xml.etree.ElementTree as ET

import pytest

from vjepa_ac.sim import assets

pytestmark = pytest.mark.sim


def test_robosuite_is_not_imported():
    assets.robosuite_assets_dir()
    assert "robosuite" not in sys.modules


def test_missing_robosuite_tells_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "robosuite" else real(name, *a))
    with pytest.raises(assets.AssetError, match=r"pip install --no-deps robosuite==1\.5\.2"):
        assets.robosuite_assets_dir()


def test_decimation_is_cached_and_keeps_collision_meshes(tmp_path):
    mesh = assets.robosuite_assets_dir() / "robots" / "panda" / "obj_meshes" / "link1_vis" / "link1_vis.obj"
    root = ET.fromstring(
        f'<mujoco><asset><mesh name="m" file="{mesh}"/></asset><worldbody>'
        '<geom name="vis" type="mesh" mesh="m" contype="0" conaffinity="0"/>'
        '<geom name="col" type="mesh" mesh="m"/></worldbody></mujoco>'
    )
    assets.decimate_visual_meshes(root, 0.1, tmp_path)
    cached = list(tmp_path.glob("*.obj"))
    assert len(cached) == 1
    geoms = {g.get("name"): g.get("mesh") for g in root.iter("geom")}
    assert geoms == {"vis": "m_dec", "col": "m"}  # the collision geom keeps the full mesh
    full = sum(1 for line in mesh.read_text().splitlines() if line.startswith("f "))
    kept = sum(1 for line in cached[0].read_text().splitlines() if line.startswith("f "))
    assert kept < 0.2 * full
    stamp = cached[0].stat().st_mtime_ns
    assert assets.decimated_mesh(mesh, None, 0.1, 200, tmp_path) == cached[0]
    assert cached[0].stat().st_mtime_ns == stamp  # a cache hit rewrites nothing
