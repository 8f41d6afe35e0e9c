"""Reading the command lines that docs show, for the tests that run them as written."""

from __future__ import annotations

import shlex
from pathlib import Path


def vjepa_ac_commands(doc: Path) -> list[list[str]]:
    """argv (after ``vjepa-ac``) of each ``vjepa-ac`` line in ``doc``'s bash blocks, continuations joined."""
    found, block = [], None
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            block = [] if block is None and line.strip() in ("```bash", "```sh") else None
            continue
        if block is None:
            continue
        block.append(line)
        joined = "\n".join(block)
        if joined.endswith("\\"):
            continue
        block.clear()
        argv = shlex.split(joined.replace("\\\n", " "), comments=True)
        if argv[:1] == ["vjepa-ac"] and len(argv) > 1:
            found.append(argv[1:])
    return found
