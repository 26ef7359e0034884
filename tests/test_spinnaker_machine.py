"""The SpiNNaker 1 machine model: presets, cores, links, distances, failures."""

import pytest

from hardware.spinnaker.machine import (
    LINK_ADD_TABLE,
    ROUTER_ENTRIES,
    SDRAM_USABLE_BYTES,
    Machine,
    opposite_link,
)


def test_spinn5_board_matches_spinnmachine():
    m = Machine.spinn5()
    assert m.n_chips == 48
    assert sum(m.chips.values()) == 856            # 40 chips of 18 cores, 8 of 17
    assert sum(1 for n in m.chips.values() if n == 17) == 8
    assert m.n_app_cores == 48 * 16                # cores 1..16; a 17-core chip has no spare
    assert m.with_spare_cores(0).n_app_cores == 40 * 17 + 8 * 16
    assert m.app_cores(0, 0) == tuple(range(1, 17))
    assert not m.wrap and (0, 7) not in m.chips and (7, 0) not in m.chips
    assert ROUTER_ENTRIES == 1023 and SDRAM_USABLE_BYTES == 123_469_792


def test_links_follow_the_link_add_table():
    assert LINK_ADD_TABLE == ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))
    assert [opposite_link(lk) for lk in range(6)] == [3, 4, 5, 0, 1, 2]
    m = Machine.spinn5()
    assert m.neighbour(0, 0, 1) == (1, 1)
    assert m.neighbour(0, 0, 3) is None and m.neighbour(0, 0, 4) is None
    assert m.neighbour(4, 7, 2) is None             # top edge of the board
    assert set(m.links(3, 3)) == set(range(6))
    # SpiNN-3 is a 2 x 2 full-wrap machine in SpiNNMachine
    s3 = Machine.spinn3()
    assert s3.n_chips == 4 and s3.wrap
    assert s3.neighbour(0, 0, 3) == (1, 0)
    assert s3.neighbour(1, 1, 1) == (0, 0)


def test_distance_on_the_triangular_mesh():
    m = Machine.board(8, 8)
    assert m.distance((0, 0), (3, 3)) == 3          # three diagonal hops
    assert m.distance((2, 0), (0, 2)) == 4          # opposite signs: no diagonal shortcut
    assert m.distance((0, 0), (5, 2)) == 5
    torus = Machine.board(8, 8, wrap=True)
    assert torus.distance((0, 0), (7, 7)) == 1      # one South-West hop around the torus
    assert torus.vector((0, 0), (7, 0)) == (-1, 0)


def test_failed_cores_and_chips():
    m = Machine.spinn5().with_failed(cores=[(0, 0, 1), (0, 0, 5)], chips=[(1, 1)])
    assert 1 not in m.app_cores(0, 0) and 5 not in m.app_cores(0, 0)
    assert len(m.app_cores(0, 0)) == 14
    assert m.app_cores(1, 1) == ()
    assert m.neighbour(0, 0, 1) is None
    assert (1, 1) not in m.chips_by_distance()
    assert m.n_chips == 47


def test_chips_by_distance_is_breadth_first_from_origin():
    order = Machine.spinn5().chips_by_distance()
    assert order[0] == (0, 0)
    assert set(order[1:4]) == {(1, 0), (1, 1), (0, 1)}
    assert len(order) == 48


def test_named_machines_and_bad_input():
    assert Machine.named("spinn5").n_chips == 48
    m = Machine.named("12x12-wrap")
    assert (m.width, m.height, m.wrap) == (12, 12, True)
    with pytest.raises(ValueError, match="spinn5"):
        Machine.named("spinn7")
    with pytest.raises(ValueError, match="width"):
        Machine.board(0, 2)
    with pytest.raises(ValueError, match="failed_cores"):
        Machine.spinn3().with_failed(cores=[(5, 5, 1)])
    with pytest.raises(ValueError, match="spare_cores"):
        Machine.spinn3().with_spare_cores(2)
    with pytest.raises(TypeError):
        Machine.named(5)
