"""Choose MuJoCo's offscreen OpenGL backend before the first ``import mujoco``.

MuJoCo reads ``MUJOCO_GL`` once, when it is imported, so this must run first; ``vjepa_ac.sim``
does it on import. A value the user set is never changed. Otherwise EGL is used (Mesa's
software EGL on a CPU machine, the NVIDIA driver's EGL on a GPU machine), and OSMesa when no EGL
library can be loaded but OSMesa can (Debian: ``apt-get install libosmesa6``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings

BACKENDS = ("egl", "osmesa")
_LIBRARIES = {"egl": ("EGL", "libEGL.so.1"), "osmesa": ("OSMesa", "libOSMesa.so.8", "libOSMesa.so.6")}


def _loadable(backend: str) -> bool:
    for name in _LIBRARIES[backend]:
        path = ctypes.util.find_library(name) if "." not in name else name
        if not path:
            continue
        try:
            ctypes.CDLL(path)
            return True
        except OSError:
            continue
    return False


def configure_gl() -> str:
    """Set ``MUJOCO_GL`` (unless already set) and return the backend in effect."""
    if "MUJOCO_GL" in os.environ:
        return os.environ["MUJOCO_GL"]
    backend = "egl"
    if not _loadable("egl") and _loadable("osmesa"):
        backend = "osmesa"
    if "mujoco" in sys.modules:
        warnings.warn(
            "mujoco was imported before vjepa_ac.sim, so MUJOCO_GL cannot take effect any more; "
            f"set MUJOCO_GL={backend} in the environment instead",
            stacklevel=3,
        )
    os.environ["MUJOCO_GL"] = backend
    return backend
