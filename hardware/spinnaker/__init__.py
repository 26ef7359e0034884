"""An emulated SpiNNaker 1 target: machine model, mapping, and (with ``backend="spinnaker"``)
the fixed-point core programs.

Placement side: :class:`Machine` (chips, cores, links, limits), :func:`map_network` (slices,
placement, keys, multicast routes, compressed router tables) giving a :class:`Mapping`,
:func:`route_key` / :func:`trace_key` to follow a packet, and per-core memory estimates
(:class:`Resources`). See ``docs/spinnaker.md``.
"""

from hardware.spinnaker.machine import Machine
from hardware.spinnaker.mapping import (
    Edge,
    Mapping,
    MappingError,
    Vertex,
    map_network,
    route_key,
    trace_key,
)
from hardware.spinnaker.resources import CoreResources, Resources
from hardware.spinnaker.routing import PacketRoute, RoutingEntry

__all__ = [
    "CoreResources", "Edge", "Machine", "Mapping", "MappingError", "PacketRoute", "Resources",
    "RoutingEntry", "Vertex", "map_network", "route_key", "trace_key",
]
