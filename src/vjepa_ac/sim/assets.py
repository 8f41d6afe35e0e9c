"""Asset files: robosuite's Panda / Robotiq MJCF and meshes, textures, and decimated mesh copies.

robosuite 1.5.2's wheel carries Menagerie-derived Panda meshes, the Panda hand and the Robotiq
2F-85 (MIT licence). Only its files are read (robosuite is never imported), so
``pip install --no-deps robosuite==1.5.2`` is all it takes.

Offscreen rendering on a CPU (llvmpipe) costs time per triangle, so every visual mesh is replaced
by a quadric-decimated copy (``fast-simplification``). Decimated copies are cached on disk as OBJ
files keyed by a hash of the source file and the decimation settings, so only the first model
build on a machine pays for decimation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np

from vjepa_ac.atomic import atomic_write_text
from vjepa_ac.sim.rotations import quat_to_mat

ROBOSUITE_PIN = "1.5.2"
INSTALL_HINT = f"pip install --no-deps robosuite=={ROBOSUITE_PIN}"
_DECIMATION_VERSION = "1"  # bump to invalidate cached meshes after changing the algorithm


class AssetError(RuntimeError):
    """An asset package or file is missing."""


def robosuite_assets_dir() -> Path:
    """``.../robosuite/models/assets`` of the installed wheel, found without importing robosuite."""
    spec = importlib.util.find_spec("robosuite")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"the simulator needs robosuite's Panda/Robotiq asset files: {INSTALL_HINT}")
    root = Path(next(iter(spec.submodule_search_locations))) / "models" / "assets"
    if not (root / "robots" / "panda" / "robot.xml").is_file():
        raise AssetError(f"{root} lacks robots/panda/robot.xml; reinstall with {INSTALL_HINT}")
    return root


def texture_file(name: str) -> Path:
    """Path of one of robosuite's PNG textures, e.g. ``"light-wood"``."""
    path = robosuite_assets_dir() / "textures" / f"{name}.png"
    if not path.is_file():
        raise AssetError(f"texture {name!r} not found at {path}")
    return path


def default_cache_dir() -> Path:
    """``$VJEPA_AC_CACHE/meshes``, else ``$XDG_CACHE_HOME/vjepa_ac/meshes``, else ``~/.cache/...``."""
    if os.environ.get("VJEPA_AC_CACHE"):
        return Path(os.environ["VJEPA_AC_CACHE"]) / "meshes"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vjepa_ac" / "meshes"


def _load_mesh(file: Path, scale: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``[V,3]`` (in the file's frame, scaled) and faces ``[F,3]`` of one mesh file, via MuJoCo."""
    scale_attr = f' scale="{scale}"' if scale else ""
    xml = (
        f'<mujoco><asset><mesh name="m" file="{file}"{scale_attr} inertia="shell"/></asset>'
        '<worldbody><geom type="mesh" mesh="m" contype="0" conaffinity="0"/></worldbody></mujoco>'
    )
    m = mujoco.MjModel.from_xml_string(xml)
    v = m.mesh_vert[m.mesh_vertadr[0] : m.mesh_vertadr[0] + m.mesh_vertnum[0]].astype(np.float64)
    f = m.mesh_face[m.mesh_faceadr[0] : m.mesh_faceadr[0] + m.mesh_facenum[0]].astype(np.int64)
    # MuJoCo re-centres and re-orients meshes at compile time: undo it to get the file's frame back
    v = v @ quat_to_mat(m.mesh_quat[0]).T + m.mesh_pos[0]
    return v, f


def _decimate(v: np.ndarray, f: np.ndarray, keep: float) -> tuple[np.ndarray, np.ndarray]:
    import fast_simplification

    # OBJ/STL meshes are triangle soups (vertices split per normal): weld them first, or the
    # decimator can only delete isolated triangles
    _, first, inverse = np.unique(np.round(v, 6), axis=0, return_index=True, return_inverse=True)
    v, f = v[first], inverse.reshape(-1)[f]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return fast_simplification.simplify(v, f, target_reduction=1.0 - keep)


def _write_obj(path: Path, v: np.ndarray, f: np.ndarray) -> None:
    """Write an OBJ atomically (parallel collectors may build the same cache entry at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6g} {y:.6g} {z:.6g}" for x, y, z in v]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f]
    atomic_write_text(path, "\n".join(lines) + "\n", fsync=False)


def decimated_mesh(file: Path, scale: str | None, keep: float, min_faces: int, cache_dir: Path) -> Path | None:
    """Path of a cached decimated copy of mesh ``file`` (scale applied), or None to keep the original
    (fewer than ``min_faces`` faces, or the decimation left too little)."""
    key = hashlib.sha256()
    key.update(file.read_bytes())
    key.update(f"|{scale}|{keep:.4f}|{min_faces}|{_DECIMATION_VERSION}".encode())
    digest = key.hexdigest()[:20]
    path, skip = cache_dir / f"{digest}.obj", cache_dir / f"{digest}.keep"
    if path.is_file():
        return path
    if skip.is_file():
        return None
    v, f = _load_mesh(file, scale)
    v2, f2 = _decimate(v, f, keep) if len(f) >= min_faces else (v, f[:0])
    if len(f2) < 4:
        skip.parent.mkdir(parents=True, exist_ok=True)
        skip.touch()
        return None
    _write_obj(path, v2, f2)
    return path


def decimate_visual_meshes(root: ET.Element, keep: float, cache_dir: Path, min_faces: int = 200) -> None:
    """Point every visual-only mesh geom of MJCF tree ``root`` at a decimated copy, in place.

    Visual geoms are those with ``contype="0" conaffinity="0"``; a mesh that collision geoms also
    use gets a separate ``<name>_dec`` asset, so collision shapes never change. Mesh ``file``
    attributes must be absolute paths.
    """
    if not 0.0 < keep < 1.0:
        raise ValueError(f"keep must be in (0, 1), got {keep}")
    asset = root.find("asset")
    meshes = {m.get("name"): m for m in asset.iter("mesh") if m.get("file")}
    visual_geoms = [
        g
        for g in root.iter("geom")
        if g.get("mesh") in meshes and g.get("contype") == "0" and g.get("conaffinity") == "0"
    ]
    replaced: dict[str, str | None] = {}
    for g in visual_geoms:
        name = g.get("mesh")
        if name not in replaced:
            src = meshes[name]
            dec = decimated_mesh(Path(src.get("file")), src.get("scale"), keep, min_faces, cache_dir)
            replaced[name] = None
            if dec is not None:
                replaced[name] = f"{name}_dec"
                ET.SubElement(asset, "mesh", name=f"{name}_dec", file=str(dec), inertia="shell")
        if replaced[name]:
            g.set("mesh", replaced[name])
    still_used = {g.get("mesh") for g in root.iter("geom")}
    for name, new in replaced.items():
        if new and name not in still_used:
            asset.remove(meshes[name])  # compiling an unused full-detail mesh only costs time
