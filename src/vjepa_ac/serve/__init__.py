"""Serving the planner to a robot: ``vjepa-ac serve CHECKPOINT`` and its parts.

- ``serve.config``: ``ServeConfig`` (bind address, limits, planner defaults and bounds)
- ``serve.model``: the older names of the one loader (``vjepa_ac.load``): ``ServedModel``,
  ``load_service_model(checkpoint, device)``
- ``serve.protocol``: wire formats (JSON / msgpack), image decoding, request validation
- ``serve.service``: ``PlanningService`` (one model, goal registry, one worker, bounded queue)
- ``serve.app``: FastAPI routes; ``serve.server``: ``serve(...)``, ``BackgroundServer``
- ``serve.loop``: ``run_episode(client, task)``, the robot's closed loop through the client
The client is ``vjepa_ac.client.PlanningClient``. Nothing is imported here, so
``serve.loop`` and the client load without FastAPI.
"""
