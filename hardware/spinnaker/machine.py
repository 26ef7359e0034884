"""The SpiNNaker 1 machine: chips, cores, links, router and memory sizes.

A :class:`Machine` is immutable data (a frozen dataclass, as the models of :mod:`snn.models`):
which chips exist on a ``width x height`` grid, how many cores each has, whether the grid
wraps into a torus, and which cores or chips are marked failed. The constants are SpiNNaker 1
figures as SpiNNMachine (``VersionSpin1``, ``Version5``) and ``spinnaker_tools`` give them.

Chips and cores::

    chip (x, y)             0 <= x < width, 0 <= y < height
    core p on a chip        0 ... n_cores-1; core 0 runs the monitor (SCAMP)
    application cores       1 ... 16 (:data:`APP_CORES_PER_CHIP`); core 17 is the spare

Links (``LINK_ADD_TABLE`` of SpiNNMachine): 0 East (+1, 0), 1 North-East (+1, +1),
2 North (0, +1), 3 West (-1, 0), 4 South-West (-1, -1), 5 South (0, -1). A packet that a
router does not match leaves by the opposite link, ``(link + 3) % 6`` (default routing).

Example::

    m = Machine.spinn5().with_failed(cores=[(0, 0, 3)], chips=[(4, 4)])
    m.app_cores(0, 0)      # (1, 2, 4, 5, ..., 16)
    m.neighbour(0, 0, 1)   # (1, 1)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Cores per SpiNNaker 1 chip (ARM968, ``NUM_CPUS``).
CORES_PER_CHIP = 18
#: Cores per chip given to applications: all but the monitor (core 0) and one spare.
APP_CORES_PER_CHIP = 16
#: Core clock, Hz.
CLOCK_HZ = 200_000_000
#: Multicast router entries available to applications (1024, one kept by the system).
ROUTER_ENTRIES = 1023
#: SDRAM per chip, bytes (128 MiB) and the part applications can use (``max_sdram_per_chip``).
SDRAM_BYTES = 128 * 1024 * 1024
SDRAM_USABLE_BYTES = 123_469_792
#: Data and instruction tightly coupled memory per core, bytes.
DTCM_BYTES = 64 * 1024
ITCM_BYTES = 32 * 1024
#: System RAM shared per chip, bytes.
SYSRAM_BYTES = 32 * 1024
#: Number of inter-chip links per chip.
N_LINKS = 6
#: (dx, dy) of each link, indexed by link id (SpiNNMachine ``LINK_ADD_TABLE``).
LINK_ADD_TABLE: tuple[tuple[int, int], ...] = ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))
#: Link names, indexed by link id.
LINK_NAMES = ("E", "NE", "N", "W", "SW", "S")

#: The 48 chips of a SpiNN-5 board (8 x 8 grid with cut corners) and their working cores
#: (SpiNNMachine ``version_5.CHIPS_PER_BOARD``: eight chips have 17 cores, 856 cores in all).
SPINN5_CHIPS: dict[tuple[int, int], int] = {
    (0, 0): 18, (0, 1): 18, (0, 2): 18, (0, 3): 18, (1, 0): 18, (1, 1): 17,
    (1, 2): 18, (1, 3): 17, (1, 4): 18, (2, 0): 18, (2, 1): 18, (2, 2): 18,
    (2, 3): 18, (2, 4): 18, (2, 5): 18, (3, 0): 18, (3, 1): 17, (3, 2): 18,
    (3, 3): 17, (3, 4): 18, (3, 5): 17, (3, 6): 18, (4, 0): 18, (4, 1): 18,
    (4, 2): 18, (4, 3): 18, (4, 4): 18, (4, 5): 18, (4, 6): 18, (4, 7): 18,
    (5, 1): 18, (5, 2): 17, (5, 3): 18, (5, 4): 17, (5, 5): 18, (5, 6): 17,
    (5, 7): 18, (6, 2): 18, (6, 3): 18, (6, 4): 18, (6, 5): 18, (6, 6): 18,
    (6, 7): 18, (7, 3): 18, (7, 4): 18, (7, 5): 18, (7, 6): 18, (7, 7): 18,
}


def opposite_link(link: int) -> int:
    """The link a default-routed packet leaves by when it came in on ``link``."""
    return (link + 3) % N_LINKS


@dataclass(frozen=True)
class Machine:
    """A SpiNNaker 1 machine: the chips present, their cores, wrap-around and failures.

    Args:
        width, height: the chip grid (chips have 0 <= x < width, 0 <= y < height).
        chips: ``(x, y) -> working cores`` (17 or 18) of every chip present.
        wrap: links wrap around the grid edges (a torus, as whole triads of boards).
        failed_cores: ``(x, y, p)`` cores not to use.
        failed_chips: ``(x, y)`` chips not to use (no cores, and their links are dead).
        name: a label for reports.
        spare_cores: cores per chip kept back besides the monitor (1, as the design's "16
            application cores"; sPyNNaker itself uses every core but the monitor, i.e. 0).

    Build one with :meth:`spinn3`, :meth:`spinn5` or :meth:`board`.
    """

    width: int
    height: int
    chips: dict[tuple[int, int], int] = field(hash=False)
    wrap: bool = False
    failed_cores: frozenset[tuple[int, int, int]] = frozenset()
    failed_chips: frozenset[tuple[int, int]] = frozenset()
    name: str = "machine"
    spare_cores: int = 1

    def __post_init__(self) -> None:
        for label, value in (("width", self.width), ("height", self.height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Machine {label} must be an int >= 1 (chips), got {value!r}")
        chips = dict(self.chips)
        if not chips:
            raise ValueError("Machine chips is empty; give at least one (x, y) chip")
        for (x, y), n in chips.items():
            if not (0 <= x < self.width and 0 <= y < self.height):
                raise ValueError(f"Machine chip ({x}, {y}) lies outside the {self.width} x "
                                 f"{self.height} grid")
            if not isinstance(n, int) or not 2 <= n <= CORES_PER_CHIP:
                raise ValueError(f"Machine chip ({x}, {y}) has {n!r} cores; a SpiNNaker 1 chip "
                                 f"has 2 to {CORES_PER_CHIP} working cores")
        if isinstance(self.spare_cores, bool) or self.spare_cores not in (0, 1):
            raise ValueError(f"Machine spare_cores must be 0 or 1, got {self.spare_cores!r}")
        object.__setattr__(self, "chips", chips)
        object.__setattr__(self, "failed_cores", frozenset(
            (int(x), int(y), int(p)) for x, y, p in self.failed_cores))
        object.__setattr__(self, "failed_chips", frozenset(
            (int(x), int(y)) for x, y in self.failed_chips))
        for x, y, p in self.failed_cores:
            if (x, y) not in chips or not 0 <= p < chips[(x, y)]:
                raise ValueError(f"failed_cores has ({x}, {y}, {p}), not a core of this machine")
        for xy in self.failed_chips:
            if xy not in chips:
                raise ValueError(f"failed_chips has {xy}, not a chip of this machine")

    # -- presets ----------------------------------------------------------------------
    @classmethod
    def spinn3(cls) -> Machine:
        """A SpiNN-3 board: 4 chips of 18 cores on a 2 x 2 grid. Its links wrap around, as
        SpiNNMachine's ``Version3`` (a full-wrap machine)."""
        return cls(2, 2, {(x, y): CORES_PER_CHIP for x in range(2) for y in range(2)},
                   wrap=True, name="spinn3")

    @classmethod
    def spinn5(cls) -> Machine:
        """A SpiNN-5 board: 48 chips on an 8 x 8 grid with cut corners, no wrap-around
        (one board is not a torus); eight chips have 17 working cores (856 cores in all,
        768 application cores; 808 with ``spare_cores=0``)."""
        return cls(8, 8, dict(SPINN5_CHIPS), wrap=False, name="spinn5")

    @classmethod
    def board(cls, width: int, height: int, wrap: bool = False,
              cores_per_chip: int = CORES_PER_CHIP) -> Machine:
        """A full ``width x height`` grid of chips with ``cores_per_chip`` cores each."""
        for label, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"board {label} must be an int >= 1 (chips), got {value!r}")
        chips = {(x, y): cores_per_chip for x in range(width) for y in range(height)}
        return cls(width, height, chips, wrap=bool(wrap),
                   name=f"board{width}x{height}" + ("-wrap" if wrap else ""))

    @classmethod
    def named(cls, name: str) -> Machine:
        """``"spinn3"``, ``"spinn5"`` or ``"WxH"`` (e.g. ``"16x16"``, ``"12x12-wrap"``)."""
        if not isinstance(name, str):
            raise TypeError(f"machine must be a Machine or a name such as 'spinn5', got {name!r}")
        key = name.strip().lower()
        if key in ("spinn3", "spinn-3"):
            return cls.spinn3()
        if key in ("spinn5", "spinn-5"):
            return cls.spinn5()
        wrap = key.endswith("-wrap")
        size = key.removesuffix("-wrap").split("x")
        if len(size) == 2 and all(s.isdigit() for s in size):
            return cls.board(int(size[0]), int(size[1]), wrap=wrap)
        raise ValueError(f"machine {name!r} is unknown; use 'spinn3', 'spinn5' or 'WxH' such as "
                         "'16x16' (add '-wrap' for a torus)")

    def with_failed(self, cores: Iterable[tuple[int, int, int]] = (),
                    chips: Iterable[tuple[int, int]] = ()) -> Machine:
        """A copy with more failed cores and chips."""
        return Machine(self.width, self.height, dict(self.chips), self.wrap,
                       self.failed_cores | frozenset(map(tuple, cores)),
                       self.failed_chips | frozenset(map(tuple, chips)), self.name,
                       self.spare_cores)

    def with_spare_cores(self, spare_cores: int) -> Machine:
        """A copy keeping ``spare_cores`` (0 or 1) cores per chip back besides the monitor."""
        return Machine(self.width, self.height, dict(self.chips), self.wrap, self.failed_cores,
                       self.failed_chips, self.name, spare_cores)

    # -- queries ----------------------------------------------------------------------
    def working_chips(self) -> list[tuple[int, int]]:
        """Chips present and not failed, in (x, y) order."""
        return sorted(xy for xy in self.chips if xy not in self.failed_chips)

    def has_chip(self, x: int, y: int) -> bool:
        """True when chip (x, y) exists and has not failed."""
        return (x, y) in self.chips and (x, y) not in self.failed_chips

    def app_cores(self, x: int, y: int) -> tuple[int, ...]:
        """The application cores of chip (x, y) that can take work: cores 1 to 16 (fewer on
        a 17-core chip, which has no spare; up to 17 with ``spare_cores=0``), minus failed
        ones; () for a failed chip."""
        if not self.has_chip(x, y):
            return ()
        top = self.chips[(x, y)] - 1
        if self.spare_cores:
            top = min(APP_CORES_PER_CHIP, top)
        return tuple(p for p in range(1, top + 1) if (x, y, p) not in self.failed_cores)

    @property
    def n_chips(self) -> int:
        """Working chips."""
        return len(self.working_chips())

    @property
    def n_app_cores(self) -> int:
        """Application cores on working chips, failed cores excluded."""
        return sum(len(self.app_cores(x, y)) for x, y in self.working_chips())

    def neighbour(self, x: int, y: int, link: int) -> tuple[int, int] | None:
        """The chip at the far end of ``link`` of chip (x, y), or None (edge, absent or
        failed chip)."""
        dx, dy = LINK_ADD_TABLE[link]
        nx, ny = x + dx, y + dy
        if self.wrap:
            nx, ny = nx % self.width, ny % self.height
        if not self.has_chip(nx, ny):
            return None
        return nx, ny

    def links(self, x: int, y: int) -> dict[int, tuple[int, int]]:
        """``link -> neighbour chip`` for the working links of chip (x, y)."""
        if not self.has_chip(x, y):
            return {}
        out = {}
        for link in range(N_LINKS):
            nb = self.neighbour(x, y, link)
            if nb is not None:
                out[link] = nb
        return out

    def distance(self, a: tuple[int, int], b: tuple[int, int]) -> int:
        """Hops between chips ``a`` and ``b`` on the triangular mesh (torus when wrapped),
        ignoring failures: the shortest ``(dx, dy)`` of :meth:`vector`."""
        dx, dy = self.vector(a, b)
        return max(abs(dx), abs(dy)) if dx * dy > 0 else abs(dx) + abs(dy)

    def vector(self, a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        """The shortest ``(dx, dy)`` from ``a`` to ``b``; with wrap-around every image of
        ``b`` is tried and the first shortest (in x-then-y order of images) wins."""
        dx0, dy0 = b[0] - a[0], b[1] - a[1]
        if not self.wrap:
            return dx0, dy0
        best = None
        for ox in (0, -self.width, self.width):
            for oy in (0, -self.height, self.height):
                dx, dy = dx0 + ox, dy0 + oy
                d = max(abs(dx), abs(dy)) if dx * dy > 0 else abs(dx) + abs(dy)
                if best is None or d < best[0]:
                    best = (d, dx, dy)
        return best[1], best[2]

    def chips_by_distance(self, origin: tuple[int, int] = (0, 0)) -> list[tuple[int, int]]:
        """Working chips in breadth-first order over working links from ``origin`` (links
        tried in id order), then any chips not reachable from it in (x, y) order."""
        if not self.has_chip(*origin):
            chips = self.working_chips()
            if not chips:
                return []
            origin = chips[0]
        seen = {origin}
        order = [origin]
        queue = deque([origin])
        while queue:
            x, y = queue.popleft()
            for nb in self.links(x, y).values():
                if nb not in seen:
                    seen.add(nb)
                    order.append(nb)
                    queue.append(nb)
        order += [xy for xy in self.working_chips() if xy not in seen]
        return order

    @classmethod
    def from_dict(cls, data: dict) -> Machine:
        """The machine :meth:`to_dict` described (derived counts are ignored)."""
        try:
            return cls(int(data["width"]), int(data["height"]),
                       {(int(x), int(y)): int(n) for x, y, n in data["chips"]},
                       bool(data["wrap"]), frozenset(map(tuple, data["failed_cores"])),
                       frozenset(map(tuple, data["failed_chips"])), str(data["name"]),
                       int(data["spare_cores"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a machine description ({type(err).__name__}: {err}); pass "
                             "Machine.to_dict()'s output") from None

    def to_dict(self) -> dict:
        """A JSON-able description."""
        return {"name": self.name, "width": self.width, "height": self.height, "wrap": self.wrap,
                "chips": [[x, y, n] for (x, y), n in sorted(self.chips.items())],
                "failed_cores": sorted(map(list, self.failed_cores)),
                "failed_chips": sorted(map(list, self.failed_chips)),
                "spare_cores": self.spare_cores, "n_chips": self.n_chips,
                "n_app_cores": self.n_app_cores}


__all__ = [
    "APP_CORES_PER_CHIP", "CLOCK_HZ", "CORES_PER_CHIP", "DTCM_BYTES", "ITCM_BYTES",
    "LINK_ADD_TABLE", "LINK_NAMES", "Machine", "N_LINKS", "ROUTER_ENTRIES", "SDRAM_BYTES",
    "SDRAM_USABLE_BYTES", "SPINN5_CHIPS", "SYSRAM_BYTES", "opposite_link",
]
