"""Multicast routing: trees, router tables, order-aware compression and packet tracing.

Router semantics (SpiNNaker 1, ``spinnaker_tools`` and SpiNNMachine):

- an entry is ``(key, mask, route)``; a packet key ``k`` matches when ``k & mask == key``;
  the first (lowest index) matching entry wins;
- ``route`` is a 24-bit word: bit ``l`` (0-5) sends the packet out of link ``l``, bit
  ``6 + p`` delivers it to core ``p`` of this chip;
- a packet that arrived on link ``l`` and matches nothing is *default-routed*: it leaves by
  the opposite link ``(l + 3) % 6`` and reaches no core. A packet injected by a local core
  that matches nothing is dropped.

Trees (:func:`build_tree`) follow sPyNNaker's default router, NER (neighbour exploring
routing, Heathcote 2016): targets in order of distance from the source; each joins the tree
at the nearest chip already in it by a longest-dimension-first shortest path on the
triangular mesh (the diagonal North-East / South-West steps count as one hop), or, when that
path meets a missing or failed chip, by a breadth-first shortest path around it.

Tables (:func:`tables_from_trees`) have one entry per (source core, chip on its tree), left
out where the hop is straight through (came in on ``l``, leaves only by ``(l + 3) % 6``,
delivers to no core): default routing does that hop.

Compression (:func:`compress_table`) follows the Pair compressor of SpiNNFrontEndCommon:
entries are grouped by route, groups are written smallest first, and two entries of a group
are merged into one ``(key, mask)`` covering both when the merged entry matches no key of a
group written after it, nor any key that crosses the chip by default routing (so no packet
that reaches the chip changes its route). Merges that keep the most mask bits are tried first.

:func:`trace_key` follows one packet through the tables hop by hop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hardware.spinnaker.machine import LINK_ADD_TABLE, N_LINKS, Machine, opposite_link

MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class RoutingEntry:
    """One router entry: ``key``/``mask`` and the ``route`` word (bits 0-5 links, 6 + p
    core p). ``source`` is the vertex index the entry was made for (None once merged)."""

    key: int
    mask: int
    route: int
    source: int | None = None

    @property
    def links(self) -> tuple[int, ...]:
        """Links the packet leaves by."""
        return tuple(lk for lk in range(N_LINKS) if self.route >> lk & 1)

    @property
    def cores(self) -> tuple[int, ...]:
        """Cores of this chip the packet is delivered to."""
        return tuple(p for p in range(18) if self.route >> (N_LINKS + p) & 1)

    def matches(self, key: int) -> bool:
        """True when packet ``key`` matches this entry."""
        return key & self.mask == self.key

    def to_dict(self) -> dict:
        """A JSON-able form (key and mask as hex strings, as sPyNNaker's reports)."""
        return {"key": f"0x{self.key:08x}", "mask": f"0x{self.mask:08x}",
                "links": list(self.links), "cores": list(self.cores)}


def route_word(links, cores) -> int:
    """The route word of ``links`` (ids 0-5) and ``cores`` (processor ids)."""
    word = 0
    for lk in links:
        word |= 1 << lk
    for p in cores:
        word |= 1 << (N_LINKS + p)
    return word


@dataclass
class TreeNode:
    """One chip of a routing tree: the link the packet arrives on (None at the source),
    the links it leaves by and the cores it is delivered to."""

    in_link: int | None
    out_links: set
    cores: set

    def defaultable(self) -> bool:
        """True when default routing alone does this hop (straight through, no core)."""
        return (self.in_link is not None and not self.cores
                and self.out_links == {opposite_link(self.in_link)})


def _ldf_steps(machine: Machine, a: tuple[int, int], b: tuple[int, int]) -> list[int]:
    """Links of a longest-dimension-first shortest path from ``a`` to ``b``."""
    dx, dy = machine.vector(a, b)
    segments = []
    if dx * dy > 0:
        diag = min(abs(dx), abs(dy))
        sign = 1 if dx > 0 else -1
        segments.append((diag, 1 if sign > 0 else 4))
        dx -= sign * diag
        dy -= sign * diag
    if dx:
        segments.append((abs(dx), 0 if dx > 0 else 3))
    if dy:
        segments.append((abs(dy), 2 if dy > 0 else 5))
    segments.sort(key=lambda s: -s[0])
    return [link for n, link in segments for _ in range(n)]


def _bfs_path(machine: Machine, sources, target) -> tuple[tuple[int, int], list[int]] | None:
    """Shortest path (start chip, links) from any chip of ``sources`` to ``target``."""
    parent = {s: None for s in sources}
    queue = deque(sources)
    while queue:
        chip = queue.popleft()
        if chip == target:
            links = []
            while parent[chip] is not None:
                prev, link = parent[chip]
                links.append(link)
                chip = prev
            return chip, links[::-1]
        for link, nb in machine.links(*chip).items():
            if nb not in parent:
                parent[nb] = (chip, link)
                queue.append(nb)
    return None


def build_tree(machine: Machine, source: tuple[int, int],
               targets: dict[tuple[int, int], set]) -> dict[tuple[int, int], TreeNode]:
    """The multicast tree from chip ``source`` to ``targets`` (``chip -> cores``), NER-like
    (see the module docstring). Raises ValueError when a target chip cannot be reached."""
    tree = {source: TreeNode(None, set(), set())}
    order = sorted(targets, key=lambda c: (machine.distance(source, c), c))
    for target in order:
        if target not in tree:
            near = min(tree, key=lambda c: (machine.distance(c, target), c))
            start, steps = near, _ldf_steps(machine, near, target)
            chip = start
            for link in steps:
                chip = machine.neighbour(*chip, link)
                if chip is None:
                    break
            if chip != target:
                found = _bfs_path(machine, list(tree), target)
                if found is None:
                    raise ValueError(f"chip {target} cannot be reached from chip {source} over "
                                     "working links")
                start, steps = found
            segment, chip = [], start
            for link in steps:
                nxt = machine.neighbour(*chip, link)
                if nxt in tree:
                    segment = []   # rejoined the tree: only the part after it is new
                else:
                    segment.append((chip, link, nxt))
                chip = nxt
            for prev, link, nxt in segment:
                tree[prev].out_links.add(link)
                tree[nxt] = TreeNode(opposite_link(link), set(), set())
        tree[target].cores |= set(targets[target])
    return tree


def tables_from_trees(trees: dict[int, dict], keys: dict[int, tuple[int, int]]):
    """Router tables from per-vertex trees.

    Returns ``(tables, transit)``: ``tables[(x, y)]`` is the list of entries of that chip
    (one per tree that needs one, ordered most specific first, then by key), and
    ``transit[(x, y)]`` the ``(key, mask)`` blocks that cross the chip by default routing.
    """
    tables: dict[tuple[int, int], list[RoutingEntry]] = {}
    transit: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for v, tree in trees.items():
        key, mask = keys[v]
        for chip, node in tree.items():
            if node.defaultable():
                transit.setdefault(chip, []).append((key, mask))
            else:
                tables.setdefault(chip, []).append(
                    RoutingEntry(key, mask, route_word(node.out_links, node.cores), v))
    for chip in tables:
        tables[chip].sort(key=lambda e: (-bin(e.mask).count("1"), e.key))
    return tables, transit


def _popcount(a: np.ndarray) -> np.ndarray:
    count = np.zeros(a.shape, dtype=np.int64)
    a = a.copy()
    for _ in range(32):
        count += (a & 1).astype(np.int64)
        a >>= 1
    return count


def compress_table(entries: list[RoutingEntry],
                   transit: list[tuple[int, int]] = ()) -> list[RoutingEntry]:
    """Order-aware compression of one chip's table (Pair-compressor-like, see the module
    docstring). Every key that reaches this chip keeps its route."""
    groups: dict[int, list[RoutingEntry]] = {}
    for e in entries:
        groups.setdefault(e.route, []).append(e)
    order = sorted(groups, key=lambda r: (len(groups[r]), r))
    out: list[RoutingEntry] = []
    for gi, route in enumerate(order):
        later = [e for r in order[gi + 1:] for e in groups[r]]
        lk = np.array([e.key for e in later] + [k for k, _ in transit], dtype=np.int64)
        lm = np.array([e.mask for e in later] + [m for _, m in transit], dtype=np.int64)
        keys = np.array([e.key for e in groups[route]], dtype=np.int64)
        masks = np.array([e.mask for e in groups[route]], dtype=np.int64)
        i = 0
        while i < keys.size:
            if keys.size - i < 2:
                break
            mk = masks[i] & masks[i + 1:] & ~(keys[i] ^ keys[i + 1:]) & MASK32
            kk = keys[i] & mk
            if lk.size:
                clash = (((kk[:, None] ^ lk[None, :]) & mk[:, None] & lm[None, :]) == 0).any(axis=1)
            else:
                clash = np.zeros(kk.size, dtype=bool)
            ok = np.flatnonzero(~clash)
            if ok.size == 0:
                i += 1
                continue
            best = ok[np.argmax(_popcount(mk[ok]))]
            new_k, new_m = int(kk[best]), int(mk[best])
            covered = ((masks & new_m) == new_m) & ((keys & new_m) == new_k)
            covered[i] = False
            keys[i], masks[i] = new_k, new_m
            keys, masks = keys[~covered], masks[~covered]
        out += [RoutingEntry(int(k), int(m), route) for k, m in zip(keys, masks, strict=True)]
    return out


@dataclass(frozen=True)
class PacketRoute:
    """Where one multicast packet went.

    ``cores``: ``(x, y, p)`` it was delivered to; ``routers``: chips whose router handled it
    (in visiting order); ``link_hops``: chip-to-chip link traversals; ``default_routed``:
    routers that passed it on by default routing (no entry matched); ``dropped``: copies
    lost (no match on the source chip, or a link to no working chip).
    """

    key: int
    cores: frozenset
    routers: tuple
    link_hops: int
    default_routed: int
    dropped: int


def trace(machine: Machine, tables: dict, source_chip: tuple[int, int], key: int) -> PacketRoute:
    """Follow packet ``key`` injected by a core of ``source_chip`` through ``tables``
    (``chip -> list of RoutingEntry``), hop by hop."""
    cores, routers = set(), []
    hops = defaulted = dropped = 0
    seen = set()
    queue = deque([(source_chip, None)])
    while queue:
        chip, in_link = queue.popleft()
        if (chip, in_link) in seen:
            continue
        seen.add((chip, in_link))
        routers.append(chip)
        entry = next((e for e in tables.get(chip, ()) if key & e.mask == e.key), None)
        if entry is None:
            if in_link is None:
                dropped += 1
                continue
            defaulted += 1
            out_links, out_cores = (opposite_link(in_link),), ()
        else:
            out_links, out_cores = entry.links, entry.cores
        cores.update((chip[0], chip[1], p) for p in out_cores)
        for link in out_links:
            nxt = machine.neighbour(*chip, link)
            if nxt is None:
                dropped += 1
                continue
            hops += 1
            queue.append((nxt, opposite_link(link)))
    return PacketRoute(key, frozenset(cores), tuple(routers), hops, defaulted, dropped)


__all__ = [
    "LINK_ADD_TABLE", "PacketRoute", "RoutingEntry", "TreeNode", "build_tree", "compress_table",
    "route_word", "tables_from_trees", "trace",
]
