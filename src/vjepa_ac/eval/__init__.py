"""Evaluation commands: closed-loop sim success, offline scores on held-out episodes, landscapes.

- ``eval.sim``: ``vjepa-ac eval sim`` (planner + random baseline through ``sim.evaluate``)
- ``eval.offline``: ``vjepa-ac eval offline`` (teacher-forcing / rollout L1 per horizon, action score)
- ``eval.landscape``: ``vjepa-ac landscape`` (energy over a grid of xyz actions, heatmaps)
- ``eval.report``: atomic JSON / Markdown writing shared by the three
Nothing is imported here, so each command loads only what it needs.
"""
