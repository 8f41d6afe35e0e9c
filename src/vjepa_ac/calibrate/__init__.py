"""``vjepa-ac calibrate``: the action-frame calibration of a robot setup (camera placement).

``probes.py`` gathers frame pairs with known moves (sim probe moves or recorded episodes);
``run.py`` infers each move with the world model, fits the rotation and writes
``calibration.json``. The record, its fit and its use on planned actions live in
``plan/calibration.py``, so planning and serving need nothing from here.
"""
