"""Float32 numerics under mixed precision.

The series, tables, Bessel terms and samplers need float32's range and precision: in bfloat16
(8 significant bits) the Möbius sampler's ‖u + ρμ‖² and the KL table's polynomials lose every
digit that matters. So the library computes in float32 at least:

- tensors in float16 or bfloat16 are promoted to float32 (``promote``);
- public entry points run with autocast disabled (``full_precision``), since autocast would
  otherwise run some of their operations (matmul, vecdot) in half precision.

Results are float32 then; a network that follows under autocast casts them back itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

F = TypeVar("F", bound=Callable)

LOW_PRECISION = (torch.float16, torch.bfloat16)
# the device types with an autocast mode (torch.is_autocast_enabled accepts each)
_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu", "xla", "mtia", "maia", "ipu",
                     "privateuseone")


def promote(t: Tensor) -> Tensor:
    """``t`` in float32 if it is a float16/bfloat16 tensor, else unchanged."""
    return t.float() if isinstance(t, Tensor) and t.dtype in LOW_PRECISION else t


def full_precision(fn: F) -> F:
    """Run ``fn`` with autocast off (on every device type where it is on); a no-op otherwise."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        # one C call on the hot path (training steps, where autocast is off); 4 would cost 1.7 µs
        if not torch._C._is_any_autocast_enabled():
            return fn(*args, **kwargs)
        active = tuple(d for d in _AUTOCAST_DEVICES if torch.is_autocast_enabled(d))
        return _without_autocast(active, fn, args, kwargs)

    return run  # type: ignore[return-value]


def _without_autocast(devices: tuple[str, ...], fn: Callable, args: tuple, kwargs: dict):
    # nested `with` statements, not an ExitStack: dynamo traces these (torch.compile under
    # autocast), not autocast objects entered by hand
    if not devices:
        return fn(*args, **kwargs)
    with torch.autocast(devices[0], enabled=False):
        return _without_autocast(devices[1:], fn, args, kwargs)
