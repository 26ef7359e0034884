"""SpiNNaker number formats against hand-computed numbers (shared/design/spinnaker.md §2, §8)."""

import math

import numpy as np
import pytest

from hardware.spinnaker import fixed


def test_ring_buffer_saturates_after_65_adds_of_1000():
    # §8.1: 65 adds reach 65000; adds 66-70 overflow bit 16, each counted, slot stuck at 0xFFFF.
    slot, count = 0, 0
    for _ in range(70):
        slot, sat = fixed.ring_buffer_add(slot, 1000)
        count += sat
    assert slot == 65535
    assert count == 5


def test_weight_shift_and_quantisation_of_100_synapses_of_half_a_nanoamp():
    # §8.2: bound 100 * 0.5 = 50 -> ceil(log2 50) = 6; 0.5 * 2**(15 - 6) = 256; step 2**-9.
    r = fixed.weight_shift(100 * 0.5)
    assert r == 6
    w16 = fixed.encode_weights([0.5, 0.5 + 2.0**-10, 0.5 + 3 * 2.0**-10], r)
    assert list(w16) == [256, 256, 258]  # ties go to even: 256.5 -> 256, 257.5 -> 258
    assert fixed.decode_weights(w16[:1], r)[0] == 0.5
    assert fixed.decode_weights([1], r)[0] == pytest.approx(0.001953125)


def test_weight_shift_adds_one_on_exact_powers_of_two_and_masks_weights():
    assert fixed.weight_shift(64.0) == 7
    assert fixed.weight_shift(63.9) == 6
    assert fixed.weight_shift(0.3) == 0
    assert fixed.weight_shift(0.0) == 0
    # a weight of 2 with r = 0 is 65536 = 0x10000, masked to 0 as sPyNNaker writes it
    assert fixed.encode_weights([2.0], 0)[0] == 0
    with pytest.raises(ValueError, match="max_expected_summed_weight"):
        fixed.weight_shift(70000.0)


def test_synaptic_shaping_constants_and_sticky_negative_residue():
    # §8.3: tau 5 ms, dt 1 ms -> decay ~ exp(-0.2) = 0.81873, init ~ 5 (1 - decay) = 0.90635,
    # as the core computes them: kdivk(1.0, 5.0) = (32768 << 15) // 163840 = 6553 (6553.6
    # truncated), decay = expulr(-6553 / 2**15); kdivk(5.0, 1.0) = 5.0 exactly, init =
    # 5 * (0xFFFFFFFF - decay) (1.0ulr saturates to 2**32 - 1).
    decay, init = fixed.synapse_decay_init(5.0, 1.0)
    # the library's expulr: 4114 / 2**32 above the nearest u0.32 value 3516486197
    assert decay == fixed.expulr(-6553) == 3516490311
    assert decay - round(math.exp(-6553 / 32768) * 2**32) == 4114
    assert init == 5 * (2**32 - 1 - decay)
    assert init / 2**32 == pytest.approx(0.906267, abs=1e-6)
    # a jump of input 1.0 nA (s16.15 32768) lands as floor(32768 * init) = 29696
    assert fixed.decay_s1615(32768, init) == 29696
    # truncation toward -inf: +1 LSB decays to 0, -1 LSB sticks forever
    assert fixed.decay_s1615(1, decay) == 0
    x = -1
    for _ in range(1000):
        x = fixed.decay_s1615(x, decay)
    assert x == -1


def test_multiplies_truncate_or_round_half_up_and_saturate():
    half = fixed.S1615_ONE // 2
    assert fixed.mul_s1615(-1, half) == -1          # floor(-0.5 LSB)
    assert fixed.mul_s1615_round(-1, half) == 0     # -0.5 LSB + 0.5 LSB -> 0
    assert fixed.mul_s1615_round(1, half) == 1      # +0.5 LSB rounds up
    big = fixed.encode_s1615("a", 60000.0)
    assert fixed.mul_s1615_round(big, fixed.encode_s1615("b", 2.0)) == 2**31 - 1
    assert fixed.mul_s1615(-big, fixed.encode_s1615("b", 2.0)) == -(2**31)


def test_host_encoding_rounds_to_even_and_names_the_parameter_out_of_range():
    assert fixed.encode_s1615("v_rest", -65.0) == -65 * 32768
    assert fixed.encode_s1615("x", 0.5 / 32768) == 0       # tie -> even (0)
    assert fixed.encode_s1615("x", 1.5 / 32768) == 2       # tie -> even (2)
    assert fixed.encode_s1615("x", -65536.0) == -(2**31)
    arr = fixed.encode_s1615("v", np.array([1.0, -2.0]))
    assert arr.dtype == np.int32 and list(arr) == [32768, -65536]
    with pytest.raises(ValueError, match="tau_m=65536"):
        fixed.encode_s1615("tau_m", 65536.0)
    with pytest.raises(ValueError, match=r"i_offset=-70000"):
        fixed.encode_s1615("i_offset", np.array([0.0, -70000.0]))
    with pytest.raises(ValueError, match="finite"):
        fixed.encode_s1615("v", float("nan"))


def test_expk_and_expulr_are_the_librarys():
    # spinn_common's stdfix-exp.c: whole numbers straight from the table of e^z · 2^32
    # (rounded), truncated to the format: e^-1 · 2^32 = 1580030168.7 -> 1580030169, and
    # expk keeps its top bits: 1580030169 >> 17 = 12054 (the nearest s16.15 is 12055)
    assert fixed.expk(0) == 32768 and fixed.expk(-32768) == 12054
    assert round(math.exp(-1) * 32768) == 12055
    assert fixed.expulr(-32768) == 1580030169 == round(math.exp(-1) * 2**32)
    assert fixed.expk(32768) == 11674931555 >> 17 == 89072
    # expulr returns the 32.32 result's low word: e^0 = 2^32 wraps to 0
    assert fixed.expulr(0) == 0
    # saturation as the library: above x = 363408 / 2^15 and below -340695 / 2^15
    assert fixed.expk(363409) == 2**31 - 1 and fixed.expk(-340696) == 0
    # elsewhere within one LSB below e^x (s16.15) and 1.3e-6 of it (u0.32)
    for raw in range(-340000, 0, 1013):
        exact = math.exp(raw / 32768)
        assert -1.04 < fixed.expk(raw) - exact * 32768 < 0.03
        assert abs(fixed.expulr(raw) - exact * 2**32) < 5300


def test_membrane_decay_and_refractory_ticks():
    assert fixed.exp_s1615(-1.0 / 20.0) == round(math.exp(-0.05) * 32768) == 31170
    # exp_TC = expk(-kdivk(ts, tau_m)): dt 1 ms -> (32768 << 15) // 655360 = 1638 (1638.4);
    # dt 0.1 ms -> ts = round(0.1 * 2**15) = 3277, (3277 << 15) // 655360 = 163 (163.85)
    assert fixed.lif_exp_tc(20.0, 1.0) == fixed.expk(-1638) == 31170
    assert fixed.lif_exp_tc(20.0, 0.1) == fixed.expk(-163) == 32605
    # the chip's 1 - exp_TC at dt 0.1 ms is 0.26 % short of 1 - exp(-dt / tau_m)
    assert (32768 - 32605) / 32768 / -math.expm1(-0.1 / 20) == pytest.approx(0.9974, abs=1e-4)
    assert fixed.kdivk(3277, 20 * 32768) == 163
    assert fixed.refractory_ticks(0.1e-3, 1e-3) == 1   # PyNN default 0.1 ms at dt 1 ms
    assert fixed.refractory_ticks(2e-3, 1e-4) == 20
    assert fixed.refractory_ticks(0.0, 1e-3) == 0
    # kdivk(round(0.3 * 2**15), 3277) = 98296 (2.9998 ms / 0.1 ms), rounded up to 3 ticks
    assert fixed.refractory_ticks(0.3e-3, 1e-4) == 3
    assert fixed.refractory_ticks([0.1e-3, 2e-3], 1e-3).tolist() == [1, 2]


def test_stdp_lookup_table_length_values_and_multiply():
    lut = fixed.stdp_lut(20e-3, 1e-3)
    assert lut.size == 154 and lut.dtype == np.int16       # ln(2048) * 20 = 152.5 -> 153 -> 154
    assert lut[0] == 2048
    assert lut[1] == 1948                                   # floor(2048 exp(-1/20)) = 1948.1
    assert lut[20] == 753                                   # floor(2048 / e) = 753.4
    assert lut[152] == 1 and lut[153] == 0                 # 2048 e^-7.6 = 1.02, e^-7.65 = 0.97
    assert fixed.stdp_mul(2048, 1948) == 1948
    assert fixed.stdp_mul(-3, 1024) == -2                   # floor(-1.5)


def test_poisson_bound_weight_variance_is_the_truncated_poisson_sum():
    # sPyNNaker's closed form equals sd_w^2 * sum_{k <= K} k P(k; lam), K = round(lam + 3 sqrt lam)
    from scipy.stats import poisson

    lam, mean, sd = 6.0, 0.5, 0.2
    k = np.arange(round(lam + 3 * math.sqrt(lam)) + 1)
    expected = lam * mean + 5 * math.sqrt(lam * mean**2 + sd**2 * float(np.sum(k * poisson.pmf(k, lam))))
    got = fixed.poisson_upper_bound(mean, 200, 30.0, 1e-3, weight_std=sd)
    assert got == pytest.approx(expected, rel=1e-12)
    assert fixed.poisson_upper_bound(mean, 200, 30.0, 1e-3) == pytest.approx(3 + 5 * math.sqrt(1.5))


def test_variable_delay_bound_counts_a_plastic_projection_at_its_maximum():
    # 200 inputs, delays 1 and 2, 0.5 nA each: lam = 200 * 30 Hz * 1 ms = 6, bound
    # 6 * 0.5 + 5 sqrt(6 * 0.25) = 9.12 -> r = 4. With STDP up to 1 nA sPyNNaker takes the
    # mean as the maximum: 6 + 5 sqrt(6) = 18.2 -> r = 5 (the initial weights would give 4).
    from hardware.spinnaker.synapses import ring_buffer_shifts
    from plasticity import PairSTDP
    from snn import LIF, AllToAll, Network, SpikeSource

    def shifts(plastic):
        net = Network()
        src = net.population(200, SpikeSource(spike_steps=[[]] * 200))
        out = net.population(1, LIF(tau_m=20e-3))
        rule = PairSTDP(a_plus=1e-4, a_minus=1e-4, w_min=0.0, w_max=0.02) if plastic else None
        net.connect(src, out, AllToAll(), weight=0.01, delay=np.arange(200) % 2 + 1,
                    plasticity=rule)
        built = net.instantiate(1e-3, 0)
        return ring_buffer_shifts(built, 1, np.full(1, 1 / 20e-3), 1e-3)

    assert shifts(False) == (4, 0)
    assert shifts(True) == (5, 0)
