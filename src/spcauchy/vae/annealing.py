"""KL-weight annealing schedules β(step) for the ELBO  E[log p(x|z)] - β KL(q ‖ p).

Each schedule maps training progress x = step / warmup_steps ≥ 0 to a fraction f(x) ∈ [0, 1];
the weight is start + (end - start) f(x). All are pure functions of the step.
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


def kl_weight(
    step: int,
    *,
    schedule: str = "linear",
    warmup_steps: int = 1,
    start: float = 0.0,
    end: float = 1.0,
) -> float:
    """β at optimisation ``step`` (0-based); ``warmup_steps`` is the ramp (or cycle) length."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 1:
        raise ValueError(f"warmup_steps must be a positive integer, got {warmup_steps!r}")
    if not (0.0 <= start < math.inf and 0.0 <= end < math.inf):
        raise ValueError(f"KL weights must be finite and ≥ 0, got start={start!r}, end={end!r}")
    if step < 0:
        raise ValueError(f"step must be ≥ 0, got {step!r}")
    return start + (end - start) * SCHEDULES[schedule](step / warmup_steps)
