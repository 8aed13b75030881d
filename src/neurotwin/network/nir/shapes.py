"""Shapes through a NIR graph: convolution and pooling nodes need the shape of their input.

Shapes flow from Input and neuron nodes (their declared shapes) through the linear nodes;
each :class:`~.nodes.ShapedPart` (Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten) is built
once the shape arriving at it is known. See ``docs/nir.md`` (*Convolutions*).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from neurotwin.errors import ConfigError, DataError
from neurotwin.network.nir.nodes import (
    InputPart,
    NeuronPart,
    OutputPart,
    Part,
    Resolved,
    ShapedPart,
    Transform,
    WeightsPart,
)

__all__ = ["resolve_shapes"]


def resolve_shapes(
    parts: Mapping[str, Part], preds: Mapping[str, list[str]]
) -> dict[str, Resolved]:
    """``parts`` with every :class:`ShapedPart` built for the shape of what feeds it.

    Shapes flow from Input and neuron nodes (their declared shape) through the linear
    nodes; a node's own declared input shape (Conv's ``input_shape``) wins where it holds
    as many values as what arrives (a flat signal may be read as channels x height x
    width).
    """
    built: dict[str, Part] = dict(parts)
    shapes: dict[str, tuple[int, ...]] = {}

    def shape_of(name: str, stack: tuple[str, ...]) -> tuple[int, ...]:
        if name in shapes:
            return shapes[name]
        part = built[name]
        if isinstance(part, InputPart | NeuronPart):
            size, declared = part.size, part.shape
            shape = declared if math.prod(declared or (0,)) == size else (size,)
        elif isinstance(part, OutputPart):
            shape = (part.size,)
        else:
            if name in stack:
                raise ConfigError(
                    f"the graph has a loop through {name!r} without a neuron node in it"
                )
            arriving = [shape_of(p, (*stack, name)) for p in preds[name]]
            shape = _transform_shape(name, part, arriving, built)
        shapes[name] = shape
        return shape

    for name in parts:
        shape_of(name, ())
    return {name: part for name, part in built.items() if not isinstance(part, ShapedPart)}


def _transform_shape(
    name: str, part: Transform | ShapedPart, arriving: list[tuple[int, ...]],
    built: dict[str, Part],
) -> tuple[int, ...]:
    """The output shape of linear node ``name``; builds it in ``built`` if it is shaped."""
    here = arriving[0] if arriving else None
    if isinstance(part, ShapedPart):
        declared = part.declared
        if declared is not None and here is not None and math.prod(declared) != math.prod(here):
            raise ConfigError(
                f"NIR node {name!r} ({part.kind}) takes input of shape {list(declared)} "
                f"({math.prod(declared)} values), but {math.prod(here)} values of shape "
                f"{list(here)} arrive"
            )
        in_shape = declared or here
        if in_shape is None:
            raise ConfigError(
                f"NIR node {name!r} ({part.kind}): the shape of its input is unknown (no "
                "node feeds it, and it declares none)"
            )
        try:
            transform, out = part.build(in_shape)
        except (ConfigError, DataError) as err:
            raise type(err)(f"NIR node {name!r} ({part.kind}): {err}") from None
        built[name] = transform
        return out
    if isinstance(part, WeightsPart):
        return (int(part.weight.shape[0]),)
    n = part.n_in
    return here if here is not None and math.prod(here) == n else (n,)
