"""The Hub layout of a world model, readable without ``huggingface_hub``: file names, the format
tag, the planning facts stored in ``config.json`` (action layout, pixel normalisation), how a
Hub id or folder is recognised, and the generated model card (``vjepa_ac.hub`` writes and reads
the folders through the mixin).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vjepa_ac.data.transforms import IMAGENET_MEAN, IMAGENET_STD

HUB_FORMAT = "vjepa_ac.hub/1"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LIBRARY_NAME = "vjepa-ac"
# The 7-D action / state layout (data/poses.py: XYZ, ROT, GRIPPER) as stored in config.json.
ACTION_LAYOUT: dict[str, Any] = {
    "dims": ["x", "y", "z", "roll", "pitch", "yaw", "gripper"],
    "units": ["m", "m", "m", "rad", "rad", "rad", "0 open .. 1 closed"],
    "rotation": "extrinsic euler xyz; an action is the pose delta between consecutive frames",
}
NORMALISATION: dict[str, Any] = {"pixels": "RGB in [0, 1]", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_folder(path: str | Path) -> bool:
    """True for a folder holding a ``config.json`` of this format (no weights are read)."""
    cfg = Path(path) / CONFIG_NAME
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("format") == HUB_FORMAT
    except (ValueError, AttributeError):
        return False


def looks_like_hub_id(spec: str) -> bool:
    """``owner/name`` (a Hub repository id) that is not a path on this machine."""
    return bool(_HUB_ID.match(spec)) and not Path(spec).exists()


def model_card(cfg: Mapping[str, Any]) -> str:
    """The model card text of a Hub config: metadata header, planning facts, architecture, the
    training config (YAML) and the eval table when the config holds them."""
    import yaml

    enc, pred = cfg.get("encoder_kwargs", {}), cfg.get("predictor_kwargs", {})
    lines = [
        "---", f"library_name: {LIBRARY_NAME}", "license: mit", "tags:", "- robotics", "- world-model",
        "- v-jepa-2-ac", "---", "",
        "# V-JEPA 2-AC world model", "",
        "An action-conditioned latent world model (frozen V-JEPA 2 encoder + block-causal AC predictor),",
        "saved by [vjepa-ac](https://github.com/facebookresearch/vjepa2). Plan with it:", "",
        "```bash", "pip install 'vjepa-ac[hub]'", "vjepa-ac serve THIS_REPO_ID", "```", "",
        "```python", "from vjepa_ac.load import load_world_model", "wm = load_world_model(\"THIS_REPO_ID\")",
        "```", "",
        "## Planning facts", "",
        "| fact | value |", "| --- | --- |",
        f"| control rate | {cfg.get('fps')} actions/s |",
        f"| crop | {cfg.get('crop')} |",
        f"| image size | {enc.get('img_size')} px |",
        f"| action / state layout | {', '.join(ACTION_LAYOUT['dims'])} ({', '.join(ACTION_LAYOUT['units'])}) |",
        f"| pixel normalisation | {NORMALISATION['pixels']}, mean {NORMALISATION['mean']}, std {NORMALISATION['std']} |",
        f"| source | {cfg.get('source')} |",
        f"| training step | {cfg.get('step')} |", "",
        "## Architecture", "",
        f"- encoder: width {enc.get('embed_dim')}, depth {enc.get('depth')}, heads {enc.get('num_heads')}, "
        f"patch {enc.get('patch_size')}, tubelet {enc.get('tubelet_size')}",
        f"- predictor: width {pred.get('predictor_embed_dim')}, depth {pred.get('depth')}, heads "
        f"{pred.get('num_heads')}, block-causal {pred.get('is_frame_causal')}", "",
    ]
    ev = cfg.get("eval_results")
    if ev:
        lines += ["## Evaluation", ""]
        rows = ev.get("summary") if isinstance(ev, Mapping) else ev
        if isinstance(rows, list) and rows and isinstance(rows[0], Mapping):
            keys = list(rows[0])
            lines += ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
            lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
        else:
            lines += ["```json", json.dumps(ev, indent=1), "```"]
        lines.append("")
    tc = cfg.get("training_config")
    if tc:
        lines += ["## Training config", "", "```yaml", yaml.safe_dump(tc, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def read_eval_results(path: str | Path) -> dict:
    """The ``summary`` rows of an ``eval sim`` ``results.json`` (or any JSON object) for the card."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable eval results JSON ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object (eval sim's results.json)")
    return {"summary": data["summary"], "file": path.name} if "summary" in data else data


def hub_folder(spec: str | Path) -> Path:
    """A local Hub-layout folder for ``spec``: the folder itself, or a Hub id's snapshot in the
    Hub cache (``huggingface_hub.snapshot_download``; offline with ``HF_HUB_OFFLINE=1`` when
    cached). Raises ``FileNotFoundError`` naming ``spec`` when it is neither."""
    path = Path(spec)
    if is_hub_folder(path):
        return path
    if looks_like_hub_id(str(spec)):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(str(spec), allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, "README.md"]))
        except Exception as e:  # ImportError, offline, not found: all mean "not available here"
            raise FileNotFoundError(f"Hub repository {spec!r} could not be fetched ({type(e).__name__}: "
                                    f"{str(e)[:200]})") from e
    raise FileNotFoundError(f"{spec}: not a Hub-layout folder (no {CONFIG_NAME} with format {HUB_FORMAT!r})")


def read_hub_part(folder: str | Path, part: str) -> tuple[dict, dict]:
    """``(state_dict, constructor kwargs)`` of one model (``"encoder"`` or ``"predictor"``) in a
    Hub-layout folder, read with safetensors (no Hub library): released key names, prefix
    stripped. Raises ``FileNotFoundError`` / ``KeyError`` naming the folder and the part."""
    from safetensors import safe_open

    folder = Path(folder)
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    kwargs = cfg.get(f"{part}_kwargs")
    if kwargs is None:
        raise KeyError(f"{folder / CONFIG_NAME}: no {part}_kwargs")
    prefix = part + "."
    with safe_open(str(folder / WEIGHTS_NAME), "pt") as f:
        state = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    if not state:
        raise KeyError(f"{folder / WEIGHTS_NAME}: no {prefix}* tensors")
    return state, kwargs
