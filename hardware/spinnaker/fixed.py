"""SpiNNaker 1 number formats and the arithmetic of sPyNNaker's C code, bit for bit.

Formats (``shared/design/spinnaker.md`` §2):

* **s16.15** (``accum``, ``REAL``): int32 raw value ``x``, meaning ``x / 2**15``; range
  ``[-65536, 65536)``, LSB ``2**-15``. All neuron state, parameters and synaptic input.
* **u0.32** (``unsigned long fract``): uint32 raw ``d`` meaning ``d / 2**32``; decay factors.
* **s4.11**: int16 raw, ``1.0 = 2048``; STDP traces and exponential lookup tables.
* **weights**: uint16 in synaptic rows and ring buffers, turned into s16.15 by a left shift
  ``r`` per synapse type: ``input = w16 << r`` (value ``w16 * 2**(r - 15)``).

Multiplies go through a 64-bit product: :func:`mul_s1615` truncates (arithmetic shift, i.e.
floor) then saturates to int32, :func:`mul_s1615_round` adds half an LSB first (round half
up, ``MULT_ROUND_NEAREST_ACCUM``) then saturates; :func:`decay_s1615` multiplies by a u0.32
factor and shifts right by 32 (floor: a positive residue decays to 0, ``-1`` LSB never does).

Host-side encoding (:func:`encode_s1615`) rounds half to even (sPyNNaker uses ``Decimal``) and
raises a ``ValueError`` naming the parameter outside the s16.15 range; weights use
``numpy.rint`` and are masked to 16 bits (:func:`encode_weights`), as sPyNNaker writes them.

Decays are computed "on the core at load time" by the C code's route (:func:`lif_exp_tc`,
:func:`synapse_decay_init`, :func:`refractory_ticks`: the time step and time constants
encoded as s16.15, divided with the truncating :func:`kdivk`, then :func:`expk` /
:func:`expulr`, spinn_common's routines bit for bit: whole-number table, 1/16 steps and a
fitted quadratic, truncated). :func:`exp_s1615` and :func:`decay_u032` are the correctly
rounded exponentials, for constants the C code does not compute (TESS on chip).

The scalar helpers are plain Python on ints (they are the reference the tests check the
compiled core program against); the array versions use int64 NumPy arithmetic.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np

S1615_FRAC_BITS = 15
S1615_ONE = 1 << S1615_FRAC_BITS
S1615_MAX_RAW = (1 << 31) - 1
S1615_MIN_RAW = -(1 << 31)
U032_ONE = 1 << 32
STDP_FIXED_POINT = 11
STDP_ONE = 1 << STDP_FIXED_POINT
RING_BUFFER_MAX = 0xFFFF
#: Largest left shift that keeps ``0xFFFF << r`` inside an int32 s16.15 value.
MAX_WEIGHT_SHIFT = 15
#: sPyNNaker's configuration defaults for the variable-delay ring-buffer bound.
SPIKES_PER_SECOND = 30.0
RING_BUFFER_SIGMA = 5.0
#: sPyNNaker's ``POSSION_SIGMA_SUMMATION_LIMIT``: where the weight-variance series stops.
POISSON_SIGMA_SUMMATION_LIMIT = 3.0


def saturate32(x: int) -> int:
    """``x`` clamped to the int32 range (the ARM's saturating ``accum`` result)."""
    return min(max(int(x), S1615_MIN_RAW), S1615_MAX_RAW)


def mul_s1615(a: int, b: int) -> int:
    """s16.15 × s16.15 → s16.15, truncating toward −∞ then saturating (plain ``accum * accum``)."""
    return saturate32((int(a) * int(b)) >> S1615_FRAC_BITS)


def mul_s1615_round(a: int, b: int) -> int:
    """s16.15 × s16.15 → s16.15, rounding half up then saturating (``MULT_ROUND_NEAREST_ACCUM``)."""
    return saturate32((int(a) * int(b) + (1 << (S1615_FRAC_BITS - 1))) >> S1615_FRAC_BITS)


def decay_s1615(x: int, d: int) -> int:
    """``decay_s1615``: s16.15 × u0.32 → s16.15 as ``(x * d) >> 32`` (floor)."""
    return (int(x) * int(d)) >> 32


def stdp_mul(a: int, b: int) -> int:
    """``STDP_FIXED_MUL_16X16``: s4.11 × s4.11 → s4.11 as ``(a * b) >> 11`` (floor)."""
    return (int(a) * int(b)) >> STDP_FIXED_POINT


def encode_s1615(name: str, value) -> np.ndarray | int:
    """Host encoding of a parameter to s16.15 raw ints: ``round(value * 2**15)``, ties to even.

    Raises:
        ValueError: ``value`` is not finite or lies outside ``[-65536, 65536)``; the message
            names ``name`` and the representable range.
    """
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite to be encoded as s16.15, got {value!r}")
    raw = np.rint(arr * S1615_ONE)
    bad = (raw > S1615_MAX_RAW) | (raw < S1615_MIN_RAW)
    if np.any(bad):
        worst = float(arr[bad].flat[0]) if arr.ndim else float(arr)
        raise ValueError(
            f"{name}={worst:g} is outside the s16.15 range [-65536, 65536) of the SpiNNaker "
            "core (state and parameters are s16.15 in mV, nA, ms); rescale the parameter")
    out = raw.astype(np.int64)
    return int(out) if out.ndim == 0 else out.astype(np.int32)


def decode_s1615(raw) -> np.ndarray | float:
    """s16.15 raw values as floats."""
    out = np.asarray(raw, dtype=np.float64) / S1615_ONE
    return float(out) if out.ndim == 0 else out


def exp_s1615(x: float) -> int:
    """``expk(x)`` for a load-time constant: ``exp(x)`` as s16.15 (nearest)."""
    return encode_s1615("exp argument", math.exp(x))


def decay_u032(x: float) -> int:
    """``expulr(x)`` for ``x <= 0``: ``exp(x)`` as u0.32 (nearest, at most ``2**32 - 1``)."""
    if x > 0:
        raise ValueError(f"decay_u032 needs a non-positive exponent, got {x}")
    return min(int(np.rint(math.exp(x) * U032_ONE)), U032_ONE - 1)


def _exp_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    with localcontext() as ctx:
        ctx.prec = 50
        whole = tuple(int(round(Decimal(z).exp() * U032_ONE)) for z in range(-13, 13))
        sixteenths = tuple(int(round((1 - (Decimal(-m) / 16).exp()) * U032_ONE))
                           for m in range(16))
    return whole, sixteenths


#: The tables of spinn_common's ``stdfix-exp.c`` (the exponential sPyNNaker's cores link):
#: ``e^z · 2^32`` for whole ``z`` in [-13, 12] and ``(1 - e^(-m/16)) · 2^32`` for m in 0..15,
#: each rounded (computed here; equal to the library's constants), and the library's fitted
#: quadratic for ``(1 - e^(-x)) · 2^32`` with ``x`` below 1/16 (its three coefficients).
_EXP_WHOLE, _EXPM1_SIXTEENTHS = _exp_tables()
_EXP_SERIES = (5294, 4293434720, 2081624032)
_EXP_MAX_RAW, _EXP_MIN_RAW = 363408, -340695    # saturation limits of expk / expulr


def _scale_u032(x: int, y: int) -> int:
    """``scale64``: the 64-bit ``x`` times the u0.32 ``y``, the low word's product rounded
    (up from ``2^31 - 1``) and the high word's exact."""
    low = (x & 0xFFFFFFFF) * y
    return (low >> 32) + ((low & 0xFFFFFFFF) >= 0x7FFFFFFF) + (x >> 32) * y


def _exp_u3232(raw: int) -> int:
    """``__expi64``: ``e^x`` as an unsigned 32.32 integer for the s16.15 ``raw``: the whole
    part from the table, then two factors ``(1 - t)`` for the fraction's 1/16 steps and its
    remainder (the quadratic)."""
    z, f = raw >> S1615_FRAC_BITS, raw & (S1615_ONE - 1)
    if f == 0:
        return _EXP_WHOLE[13 + z]
    z, f = z + 1, S1615_ONE - f                   # x = z - f / 2^15, 0 < f < 2^15
    out = _EXP_WHOLE[13 + z]
    out -= _scale_u032(out, _EXPM1_SIXTEENTHS[f >> 11])
    y = (f & 0x7FF) << 17
    c0, c1, c2 = _EXP_SERIES
    t = (c1 - ((c2 * y) >> 32)) & 0xFFFFFFFF
    t = (((t * y) >> 32) + c0) & 0xFFFFFFFF
    return out - _scale_u032(out, t)


def expk(raw: int) -> int:
    """spinn_common's ``expk`` bit for bit: ``e^x`` of the s16.15 ``raw`` as s16.15, the
    32.32 result truncated (so ``expk(-1.0) = 12054``, not the nearest 12055); saturates to
    ``2^31 - 1`` above ``x = 11.09`` and to 0 below ``-10.40``."""
    raw = int(raw)
    if raw > _EXP_MAX_RAW:
        return S1615_MAX_RAW
    if raw < _EXP_MIN_RAW:
        return 0
    return _exp_u3232(raw) >> 17


def expulr(raw: int) -> int:
    """spinn_common's ``expulr`` bit for bit: ``e^x`` of the s16.15 ``raw`` as u0.32 (the
    32.32 result's low word: truncated, and ``expulr(0) = 0`` as the cast wraps ``2^32``);
    ``2^31 - 1`` above ``x = 11.09`` and 0 below ``-10.40``, as the library saturates."""
    raw = int(raw)
    if raw > _EXP_MAX_RAW:
        return S1615_MAX_RAW
    if raw < _EXP_MIN_RAW:
        return 0
    return _exp_u3232(raw) & 0xFFFFFFFF


def kdivk(a: int, b: int) -> int:
    """``kdivk`` of sPyNNaker's ``maths-util.h``: s16.15 / s16.15 -> s16.15 as
    ``(a << 15) / b`` in unsigned 64-bit integers (truncating; ``a >= 0``, ``b > 0``)."""
    return ((int(a) << S1615_FRAC_BITS) // int(b)) & 0xFFFFFFFF


def lif_exp_tc(tau_m_ms: float, dt_ms: float) -> int:
    """The membrane factor as IF_curr_exp's ``neuron_model_initialise`` computes it on the core
    (sPyNNaker 7.4.1 ``neuron_model_lif_impl.h``): ``exp_TC = expk(-kdivk(ts, tau_m))``, ``ts``
    and ``tau_m`` the host's s16.15 encodings (``ts = kdivui(time_step, 1)``), :func:`expk` the
    library's. ``ts / tau_m`` is truncated to s16.15 first (dt 0.1 ms, tau_m 20 ms: 163/2**15,
    not 163.84/2**15), so ``1 - exp_TC`` is 0.26 % short of ``dt / tau_m``'s."""
    ts = encode_s1615("time step (ms)", dt_ms)
    q = kdivk(ts, encode_s1615("tau_m (ms)", tau_m_ms))
    return expk(-q)


def synapse_decay_init(tau_syn_ms: float, dt_ms: float) -> tuple[int, int]:
    """Exponential synapse constants as the core computes them at load time
    (``synapse_types_exponential_impl.h``, ``decay_and_init``): ``decay =
    expulr(-kdivk(ts, tau))`` in u0.32 (:func:`expulr`, the library's) and ``init =
    decay_s1615_to_u032(kdivk(tau, ts), 1.0ulr - decay)``, i.e. ``tau/ts · (1 - decay) ·
    2**32`` with both divisions truncated to s16.15, the product shifted down by 15 (floor),
    and ``1.0ulr`` saturated to ``2**32 - 1``. Both are ``(0, 2**32 - 1)`` for a delta
    synapse (``tau_syn = 0``)."""
    if tau_syn_ms <= 0:
        return 0, U032_ONE - 1
    ts = encode_s1615("time step (ms)", dt_ms)
    tau = encode_s1615("tau_syn (ms)", tau_syn_ms)
    decay = expulr(-kdivk(ts, tau))
    init = (kdivk(tau, ts) * (U032_ONE - 1 - decay)) >> S1615_FRAC_BITS
    return decay, min(init, U032_ONE - 1)


def refractory_ticks(tau_ref_s, dt: float) -> np.ndarray | int:
    """``T_refract = lif_ceil_accum(kdivk(tau_refrac, ts))`` as the core computes it: the
    s16.15 quotient of the encoded refractory period and time step (ms), rounded up."""
    ts = encode_s1615("time step (ms)", dt * 1e3)
    raw = np.atleast_1d(np.asarray(encode_s1615("tau_refrac (ms)",
                                                np.asarray(tau_ref_s, dtype=np.float64) * 1e3)))
    q = np.array([kdivk(max(int(x), 0), ts) for x in raw.ravel()], np.int64).reshape(raw.shape)
    ticks = (q >> S1615_FRAC_BITS) + ((q & (S1615_ONE - 1)) > 0)
    if np.ndim(tau_ref_s) == 0:
        return int(ticks.ravel()[0])
    return ticks.astype(np.int32)


def ring_buffer_add(slot: int, weight: int) -> tuple[int, bool]:
    """One saturating ring-buffer add: ``acc = slot + w``; if bit 16 is set the slot becomes
    ``0xFFFF`` and the add counts as a saturation. Returns ``(new slot, saturated)``."""
    acc = int(slot) + int(weight)
    if acc & 0x10000:
        return RING_BUFFER_MAX, True
    return acc, False


def weight_shift(bound: float) -> int:
    """sPyNNaker's left shift for a synapse type whose largest one-slot sum is ``bound``:
    ``ceil(log2(bound))``, plus one when ``2**r <= bound`` (an exact power of two), at least 0.

    Raises:
        ValueError: the bound needs a shift above 15 (the summed input would leave s16.15).
    """
    if not np.isfinite(bound) or bound < 0:
        raise ValueError(f"ring-buffer bound must be finite and >= 0, got {bound}")
    if bound <= 0:
        return 0
    r = max(0, math.ceil(math.log2(bound)))
    if 2.0**r <= bound:
        r += 1
    if r > MAX_WEIGHT_SHIFT:
        raise ValueError(
            f"the summed weight bound {bound:g} needs a ring-buffer shift of {r}, more than "
            f"{MAX_WEIGHT_SHIFT} (s16.15 input); scale the weights down or set "
            "max_expected_summed_weight")
    return r


def poisson_upper_bound(weight_mean: float, n_synapses_in: float, spikes_per_second: float,
                        dt: float, sigma: float = RING_BUFFER_SIGMA, weight_std: float = 0.0
                        ) -> float:
    """sPyNNaker's expected upper bound of one slot with variable delays
    (``_ring_buffer_expected_upper_bound``): mean + sigma·SD of a Poisson sum of
    ``n_synapses_in`` inputs at ``spikes_per_second``, the SD including the weights' spread
    (``weight_std``) through its closed-form incomplete-gamma series."""
    from scipy import special

    mean_spikes = n_synapses_in * spikes_per_second * dt
    poisson_variance = mean_spikes * weight_mean ** 2
    weight_variance = 0.0
    if weight_std > 0 and mean_spikes > 0:
        upper = int(round(mean_spikes + POISSON_SIGMA_SUMMATION_LIMIT * math.sqrt(mean_spikes)))
        ratio = math.log(mean_spikes) * upper - float(special.gammaln(1 + upper))
        if -701.0 < ratio < 701.0 and ratio != 0.0:
            gammai = float(special.gammaincc(1 + upper, mean_spikes))
            rest = math.exp(mean_spikes) * gammai - math.exp(ratio)  # > 0 but for rounding
            if rest > 0:
                weight_variance = math.exp(-mean_spikes + math.log(mean_spikes)
                                           + 2.0 * math.log(weight_std) + math.log(rest))
    return mean_spikes * weight_mean + sigma * math.sqrt(poisson_variance + weight_variance)


def encode_weights(weights, shift: int) -> np.ndarray:
    """Host encoding of weights for a synapse type with left shift ``shift``:
    ``rint(|w| * 2**(15 - shift)) & 0xFFFF`` (masked, not clipped, as sPyNNaker writes them)."""
    scaled = np.rint(np.abs(np.asarray(weights, dtype=np.float64)) * 2.0 ** (15 - shift))
    return (scaled.astype(np.int64) & 0xFFFF).astype(np.uint16)


def decode_weights(w16, shift: int) -> np.ndarray:
    """The value each 16-bit weight adds: ``w16 * 2**(shift - 15)``."""
    return np.asarray(w16, dtype=np.float64) * 2.0 ** (shift - 15)


def stdp_lut(tau: float, dt: float) -> np.ndarray:
    """sPyNNaker's exponential lookup table in s4.11: ``floor(2048 exp(-k dt / tau))`` for
    ``k = 0 .. L-1`` with ``L = ceil(ln(2048) tau / dt)`` rounded up to an even count (τ 20 ms,
    dt 1 ms → 154); a time difference beyond the table decays to 0."""
    n = math.ceil(math.log(STDP_ONE) * tau / dt)
    n += n % 2
    k = np.arange(n, dtype=np.float64)
    return np.floor(STDP_ONE * np.exp(-k * dt / tau)).astype(np.int16)


__all__ = [
    "MAX_WEIGHT_SHIFT", "RING_BUFFER_MAX", "RING_BUFFER_SIGMA", "S1615_ONE", "SPIKES_PER_SECOND",
    "STDP_ONE", "U032_ONE", "decay_s1615", "decay_u032", "decode_s1615", "decode_weights",
    "encode_s1615", "encode_weights", "exp_s1615", "expk", "expulr", "kdivk", "lif_exp_tc",
    "mul_s1615",
    "mul_s1615_round", "poisson_upper_bound", "refractory_ticks", "ring_buffer_add", "saturate32", "stdp_lut",
    "stdp_mul", "synapse_decay_init", "weight_shift",
]
