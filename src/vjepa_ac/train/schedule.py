"""The learning-rate schedule: warmup, constant, linear anneal ("WSD", REFERENCE.md section 5).

``wsd_lr`` is a pure function of the optimizer step, so a resumed run needs nothing but the
step to continue the schedule (no scheduler object to replay).
"""

from __future__ import annotations


def wsd_lr(
    step: int, *, warmup: int, constant: int, anneal: int, start_lr: float, peak_lr: float, final_lr: float
) -> float:
    """Learning rate of optimizer step ``step`` (0-based).

    Linear ``start_lr -> peak_lr`` over ``warmup`` steps, ``peak_lr`` for ``constant`` steps,
    linear ``peak_lr -> final_lr`` over ``anneal`` steps, ``final_lr`` afterwards. Step k uses
    the value the public ``WSDSchedule`` returns on its (k+1)-th ``step()`` call, so step 0
    is already one warmup increment above ``start_lr`` and the last step (k = total - 1)
    uses ``final_lr`` exactly (golden ``wsd_paper``).
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if min(warmup, constant, anneal) < 0:
        raise ValueError(f"warmup/constant/anneal must be >= 0, got {warmup}/{constant}/{anneal}")
    s = step + 1  # the public scheduler increments before computing
    if s < warmup:
        return start_lr + s / warmup * (peak_lr - start_lr)
    if s < warmup + constant:
        return peak_lr
    progress = min(1.0, (s - warmup - constant) / max(1, anneal))
    return peak_lr + progress * (final_lr - peak_lr)
