"""The DROID writer's MP4s are a function of the frames: the same frames give the same bytes in
every process, whatever that process's heap held before (notes/sim.md, "Reproducible MP4s")."""

import json
import os
import subprocess
import sys

import numpy as np

from vjepa_ac.data.droid_writer import x264_asm, x264_options

# seeds of clips (below) whose encoding x264's AVX-512 mbtree_propagate_list made depend on
# leftover heap contents (8 of 80 seeds on an AMD EPYC with AVX-512, x264 core 165)
_SEEDS = (7, 27, 50, 77)

_ENCODE = """
import hashlib, json, sys
import numpy as np
from tests.data.test_mp4_determinism import moving_disc_clip
from vjepa_ac.data.droid_writer import write_mp4
out = {}
for seed in json.loads(sys.argv[2]):
    path = f"{sys.argv[1]}/{seed}.mp4"
    write_mp4(path, moving_disc_clip(seed), fps=60)
    out[seed] = hashlib.sha256(open(path, "rb").read()).hexdigest()
print(json.dumps(out))
"""


def moving_disc_clip(seed: int, frames: int = 27, size: int = 64) -> np.ndarray:
    """``[frames, size, size, 3]`` uint8: a disc drifting over a wavy background, with pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    wave = np.sin(xx / rng.uniform(2, 8)) * np.cos(yy / rng.uniform(2, 8)) * 60 + 120
    background = wave[..., None] * rng.uniform(0.5, 1, 3)
    pos, vel = rng.uniform(10, size - 10, 2), rng.normal(0, 2, 2)
    out = []
    for i in range(frames):
        f = background.copy()
        pos = pos + vel + rng.normal(0, 0.5, 2)
        disc = (yy - pos[0]) ** 2 + (xx - pos[1]) ** 2 < 64
        f[disc] = rng.uniform(0, 255, 3) if i % 9 == 0 else (200, 40, 40)
        out.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def _encode_in_fresh_process(out_dir, malloc_perturb: int) -> dict:
    """sha256 per seed of ``write_mp4``'s file, written by a new Python whose glibc fills every
    fresh heap block with ``malloc_perturb`` (MALLOC_PERTURB_): x264 reading memory it never wrote
    then sees different values in the two processes."""
    out_dir.mkdir()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "MALLOC_PERTURB_": str(malloc_perturb), "PYTHONPATH": path}
    run = subprocess.run([sys.executable, "-c", _ENCODE, str(out_dir), json.dumps(_SEEDS)],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_mp4_bytes_do_not_depend_on_leftover_memory(tmp_path):
    first = _encode_in_fresh_process(tmp_path / "a", 1)
    second = _encode_in_fresh_process(tmp_path / "b", 165)
    assert first == second


def test_x264_is_held_to_avx2_exactly_where_it_would_use_avx512():
    avx512 = {"avx2", "fma", "bmi2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"}
    assert x264_asm(avx512) == "AVX2"
    assert x264_asm(avx512 | {"avx512ifma", "avx512vbmi"}) == "AVX2"
    assert x264_asm(avx512 - {"avx512vl"}) is None  # x264 needs all five for its AVX-512 code
    assert x264_asm({"avx2", "fma", "bmi2"}) is None
    assert x264_asm(set()) is None  # not Linux, or an ARM CPU: x264 detects the CPU itself
    options = x264_options(23)
    assert options["crf"] == "23" and options["g"] == "16" and options["preset"] == "veryfast"
    assert set(options) <= {"crf", "g", "preset", "x264-params"}

