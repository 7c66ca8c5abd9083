"""KL-weight annealing schedules β(step) for the ELBO  E[log p(x|z)] - β KL(q ‖ p).

Each schedule maps training progress x = (step - delay) / warmup_steps ≥ 0 to a fraction
f(x) ∈ [0, 1]; the weight is start + (end - start) f(x), and ``start`` during the first ``delay``
steps. All are pure functions of the step. ``epoch_kl_weight`` is the same rule counted in epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

_SIGMOID_SHARPNESS = 10.0  # logistic slope over the warm-up; f(0) = 0 and f(1) = 1 exactly


def _constant(x: float) -> float:
    return 1.0


def _linear(x: float) -> float:
    return min(1.0, x)


def _sigmoid(x: float) -> float:
    def s(t: float) -> float:
        return 1.0 / (1.0 + math.exp(-_SIGMOID_SHARPNESS * (t - 0.5)))

    return (s(min(1.0, x)) - s(0.0)) / (s(1.0) - s(0.0))


def _cyclical(x: float) -> float:
    """Fu et al. (2019): each warm-up period ramps linearly over its first half, then holds."""
    return min(1.0, 2.0 * (x % 1.0))


SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": _constant,
    "linear": _linear,
    "sigmoid": _sigmoid,
    "cyclical": _cyclical,
}


def _check_count(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")


def kl_weight(
    step: int,
    *,
    schedule: str = "linear",
    warmup_steps: int = 1,
    start: float = 0.0,
    end: float = 1.0,
    delay: int = 0,
) -> float:
    """β at optimisation ``step`` (0-based): ``start`` for ``step < delay``, then the schedule over
    ``step - delay``; ``warmup_steps`` is the ramp (or cycle) length."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    _check_count("warmup_steps", warmup_steps, 1)
    _check_count("delay", delay, 0)
    if not (0.0 <= start < math.inf and 0.0 <= end < math.inf):
        raise ValueError(f"KL weights must be finite and ≥ 0, got start={start!r}, end={end!r}")
    if step < 0:
        raise ValueError(f"step must be ≥ 0, got {step!r}")
    if step < delay:
        return start
    return start + (end - start) * SCHEDULES[schedule]((step - delay) / warmup_steps)


def epoch_kl_weight(
    epoch: int,
    *,
    schedule: str = "linear",
    warmup_epochs: int = 1,
    start: float = 0.0,
    end: float = 1.0,
    delay: int = 0,
) -> float:
    """β of a whole epoch (0-based ``epoch``): ``start`` for the first ``delay`` epochs, then the
    value the ramp reaches at the *end* of the epoch, so that the ramp's first epoch trains at
    1/warmup of the way and its last at ``end``. With delay 10, warm-up 15 and end 0.2 this is
    the spCauchy authors' rule: β = 0 in epochs 1-10, 0.2 (e - 10) / 15 in epochs e = 11-25.
    """
    _check_count("delay", delay, 0)
    if epoch < 0:
        raise ValueError(f"epoch must be ≥ 0, got {epoch!r}")
    ramp = kl_weight(max(0, epoch - delay + 1), schedule=schedule, warmup_steps=warmup_epochs,
                     start=start, end=end)
    return start if epoch < delay else ramp
