"""Constant tables (series coefficients, polynomial tables) built once per dimension, dtype and
device."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import Tensor

Builder = TypeVar("Builder", bound=Callable[..., Tensor])


def constant_table(build: Builder) -> Builder:
    """A cache for a builder that returns one constant tensor, keyed by its arguments.

    Under torch.compile the builder runs eagerly when a graph is traced and its result enters the
    graph as a constant (``torch.compiler.assume_constant_result``). ``functools.cache`` would not
    do: dynamo ignores its wrapper, and the constant mark on it, and traces the whole builder into
    every graph. Dynamo names such a constant after the function's code, so each cache gets the
    builder's name, and one graph may hold one table per builder: a second key of the same
    builder in one compiled graph fails to compile (it never computes wrongly).
    """
    tables: dict[tuple, Tensor] = {}

    def table(*args):
        found = tables.get(args)
        if found is None:
            found = tables[args] = build(*args)
        return found

    table.__code__ = table.__code__.replace(co_name=build.__name__)
    table.__doc__, table.__name__, table.__qualname__ = (build.__doc__, build.__name__,
                                                         build.__qualname__)
    # What torch.compiler.assume_constant_result does, without importing dynamo (≈0.5 s and
    # numpy) at `import spcauchy`; tests/test_compile.py checks that the two agree.
    table._dynamo_marked_constant = True  # type: ignore[attr-defined]
    return table  # type: ignore[return-value]
