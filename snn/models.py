"""Neuron models and spike sources as data.

A model is a frozen dataclass of parameters (scalars or per-neuron arrays, SI units) plus a
declared state layout. It holds no state arrays: a backend allocates state and runs the model
through an implementation registered for that backend (see :mod:`snn.backends`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from snn.validate import as_param, check_per_neuron, check_positive_time


@dataclass(frozen=True)
class StateVar:
    """One state variable of a model: name, dtype, initial value and unit."""

    name: str
    dtype: type = np.float64
    init: float | str = 0.0
    unit: str = "1"


class NeuronModel:
    """Base class of every neuron model and spike source.

    Subclasses are frozen dataclasses. ``state_vars`` declares the per-neuron state a backend
    allocates; ``ports`` maps a synapse type (``"exc"``, ``"inh"``) to the state variable an
    incoming spike's weight is added to. ``nonnegative_weights`` marks ports whose weights
    are conductance increments (the sign of the effect comes from a reversal potential).
    """

    state_vars: ClassVar[tuple[StateVar, ...]] = ()
    ports: ClassVar[dict[str, str]] = {}
    nonnegative_weights: ClassVar[bool] = False
    per_neuron_params: ClassVar[tuple[str, ...]] = ()

    def check_size(self, n: int) -> None:
        """Raise if a per-neuron parameter does not have length ``n``."""
        for name in self.per_neuron_params:
            check_per_neuron(f"{type(self).__name__}.{name}", getattr(self, name), n)

    def check_dt(self, dt: float) -> None:
        """Raise if ``dt`` is too coarse for this model's time constants."""

    def initial_value(self, var: StateVar) -> float:
        """The default initial value of ``var`` (a parameter name or a number)."""
        if isinstance(var.init, str):
            value = getattr(self, var.init)
            return value
        return var.init

    @property
    def is_source(self) -> bool:
        """True for spike sources (no synaptic input)."""
        return not self.ports


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


def _check_dt_against(model, dt: float, names: Sequence[str]) -> None:
    for name in names:
        tau = np.min(getattr(model, name))
        if dt > tau:
            raise ValueError(
                f"dt={dt:g} s is larger than {type(model).__name__}.{name}={tau:g} s; "
                f"use dt <= {tau:g} s (ideally 10x smaller)"
            )


def _refractory_steps(model, dt: float) -> np.ndarray | int:
    steps = np.rint(np.asarray(model.tau_ref) / dt).astype(np.int64)
    return int(steps) if steps.ndim == 0 else steps


@dataclass(frozen=True, eq=False)
class LIF(NeuronModel):
    """Current-based leaky integrate-and-fire neuron with exponential synaptic currents.

    ``tau_m dv/dt = (v_rest - v) + i_exc + i_inh + i_bias``; ``di_x/dt = -i_x / tau_syn_x``.
    Currents are in volts (current times membrane resistance), as in Brian2's CUBA example;
    a spike arriving on port ``exc`` (``inh``) adds its weight (V) to ``i_exc`` (``i_inh``).
    ``tau_syn_x = 0`` makes that port's synapses instantaneous (delta): the input of a step is
    added to ``v`` undecayed, ``v_k+1 = v_k exp(-dt/tau_m) + ... + input_k``, which is
    snnTorch's ``Leaky`` update (see :meth:`from_beta`).
    Sub-threshold dynamics are integrated exactly. When ``v > v_thresh`` the neuron spikes,
    ``v`` is set to ``v_reset`` (``reset="value"``) or lowered by ``v_thresh - v_reset``
    (``reset="subtract"``), and ``v`` is held for ``tau_ref`` seconds while the synaptic
    currents keep decaying.

    Args:
        tau_m: membrane time constant (s).
        v_rest: resting potential (V).
        v_reset: reset potential (V).
        v_thresh: firing threshold (V).
        tau_ref: absolute refractory period (s), rounded to whole time steps.
        tau_syn_exc: excitatory synaptic time constant (s).
        tau_syn_inh: inhibitory synaptic time constant (s).
        i_bias: constant input (V, steady-state depolarisation R*I).
        reset: ``"value"`` or ``"subtract"``.
    """

    tau_m: float | np.ndarray = 20e-3
    v_rest: float | np.ndarray = -65e-3
    v_reset: float | np.ndarray = -65e-3
    v_thresh: float | np.ndarray = -50e-3
    tau_ref: float | np.ndarray = 2e-3
    tau_syn_exc: float | np.ndarray = 5e-3
    tau_syn_inh: float | np.ndarray = 5e-3
    i_bias: float | np.ndarray = 0.0
    reset: str = "value"

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("v", np.float64, "v_rest", "V"),
        StateVar("i_exc", np.float64, 0.0, "V"),
        StateVar("i_inh", np.float64, 0.0, "V"),
        StateVar("refractory_until", np.int64, 0, "step"),
    )
    ports: ClassVar[dict[str, str]] = {"exc": "i_exc", "inh": "i_inh"}
    per_neuron_params: ClassVar[tuple[str, ...]] = (
        "tau_m", "v_rest", "v_reset", "v_thresh", "tau_ref", "tau_syn_exc", "tau_syn_inh",
        "i_bias",
    )
    def __post_init__(self) -> None:
        _check_lif_like(self, type(self).__name__)

    def check_dt(self, dt: float) -> None:
        name = type(self).__name__
        _check_dt_against(self, dt, ["tau_m"] + [
            tau for tau in ("tau_syn_exc", "tau_syn_inh") if np.any(getattr(self, tau) > 0)])
        for tau in ("tau_syn_exc", "tau_syn_inh"):
            value = np.asarray(getattr(self, tau))
            if np.any(value == 0) and not np.all(value == 0):
                raise ValueError(f"{name}.{tau} mixes 0 (delta synapses) and positive values; "
                                 "use one kind of synapse per population")

    def refractory_steps(self, dt: float) -> np.ndarray | int:
        """The refractory period in whole steps of ``dt``."""
        return _refractory_steps(self, dt)

    @classmethod
    def from_beta(cls, beta: float = 0.9, v_thresh: float = 1.0, dt: float = 1e-3,
                  reset: str = "subtract") -> LIF:
        """The discrete-time LIF of snnTorch's ``Leaky``: ``v_k = beta v_k-1 + input_k``,
        threshold ``v_thresh``, reset by subtraction (or to 0), no refractory period, delta
        synapses. ``tau_m = -dt / ln(beta)`` for the ``dt`` the layer runs at."""
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        return cls(tau_m=-dt / np.log(beta), v_rest=0.0, v_reset=0.0, v_thresh=v_thresh,
                   tau_ref=0.0, tau_syn_exc=0.0, tau_syn_inh=0.0, reset=reset)


@dataclass(frozen=True, eq=False)
class LI(NeuronModel):
    """Leaky integrator without threshold, the usual read-out of a trained network.

    ``v_k+1 = v_k exp(-dt/tau_m) + input_k`` (delta synapses on both ports); it never spikes.
    """

    tau_m: float | np.ndarray = 20e-3

    state_vars: ClassVar[tuple[StateVar, ...]] = (StateVar("v", np.float64, 0.0, "V"),
                                                  StateVar("i_in", np.float64, 0.0, "V"))
    ports: ClassVar[dict[str, str]] = {"exc": "i_in", "inh": "i_in"}
    per_neuron_params: ClassVar[tuple[str, ...]] = ("tau_m",)

    def __post_init__(self) -> None:
        _set(self, "tau_m", as_param("LI.tau_m", self.tau_m, positive=True))

    def check_dt(self, dt: float) -> None:
        _check_dt_against(self, dt, ["tau_m"])

    @classmethod
    def from_beta(cls, beta: float = 0.9, dt: float = 1e-3) -> LI:
        """The read-out with ``v_k = beta v_k-1 + input_k``."""
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        return cls(tau_m=-dt / np.log(beta))


@dataclass(frozen=True, eq=False)
class IF(NeuronModel):
    """Non-leaky integrate-and-fire neuron with instantaneous (delta) synapses.

    Each incoming spike adds its weight (V) to ``v``; ``i_bias`` (V/s) charges ``v``
    linearly. On ``v > v_thresh`` the neuron spikes and resets to ``v_reset`` or by
    subtraction. Input arriving at step ``k`` is added in step ``k``'s update, so it can make
    the neuron fire in that step; spikes arriving during the refractory period are discarded
    (as NEST's ``iaf_psc_delta``).

    Args:
        v_reset: reset potential (V).
        v_thresh: threshold (V).
        tau_ref: absolute refractory period (s).
        i_bias: constant drive (V/s).
        v_init: initial membrane potential (V).
        reset: ``"value"`` or ``"subtract"``.
    """

    v_reset: float | np.ndarray = 0.0
    v_thresh: float | np.ndarray = 1.0
    tau_ref: float | np.ndarray = 0.0
    i_bias: float | np.ndarray = 0.0
    v_init: float | np.ndarray = 0.0
    reset: str = "subtract"

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("v", np.float64, "v_init", "V"),
        StateVar("i_syn", np.float64, 0.0, "V"),
        StateVar("refractory_until", np.int64, 0, "step"),
    )
    ports: ClassVar[dict[str, str]] = {"exc": "i_syn", "inh": "i_syn"}
    per_neuron_params: ClassVar[tuple[str, ...]] = (
        "v_reset", "v_thresh", "tau_ref", "i_bias", "v_init",
    )

    def __post_init__(self) -> None:
        for name in ("v_reset", "v_thresh", "i_bias", "v_init"):
            _set(self, name, as_param(f"IF.{name}", getattr(self, name)))
        _set(self, "tau_ref", as_param("IF.tau_ref", self.tau_ref, nonnegative=True))
        if self.reset not in ("value", "subtract"):
            raise ValueError(f"IF.reset must be 'value' or 'subtract', got {self.reset!r}")
        if np.any(np.asarray(self.v_reset) >= np.asarray(self.v_thresh)):
            raise ValueError("IF.v_reset must be below IF.v_thresh; lower v_reset")

    def refractory_steps(self, dt: float) -> np.ndarray | int:
        """The refractory period in whole steps of ``dt``."""
        return _refractory_steps(self, dt)


@dataclass(frozen=True, eq=False)
class PoissonSource(NeuronModel):
    """Independent Poisson spike trains, at most one spike per neuron per step.

    ``rate`` is a scalar or per-neuron array (Hz) for constant rates, or an array of shape
    ``(T, n)`` (or ``(T,)`` for all neurons alike) of rates that change every
    ``rate_interval`` seconds (row ``r`` applies from ``r * rate_interval``; the last row
    holds afterwards). Constant rates are simulated event-driven: each neuron draws its next
    spike step from a geometric distribution, so the cost per step does not include a random
    draw per neuron.
    """

    rate: float | np.ndarray = 10.0
    rate_interval: float | None = None

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("next_spike", np.int64, -1, "step"),
        StateVar("count", np.int64, 0, "spikes"),
    )

    def __post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or rate is None:
            raise TypeError("PoissonSource.rate must be a number or an array of rates in Hz")
        arr = np.asarray(rate, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("PoissonSource.rate must be finite, got a NaN or inf rate")
        if np.any(arr < 0):
            raise ValueError("PoissonSource.rate must be >= 0 Hz, got a negative rate")
        if self.rate_interval is None:
            _set(self, "rate", as_param("PoissonSource.rate", rate, nonnegative=True))
        else:
            _set(self, "rate_interval",
                 check_positive_time("PoissonSource.rate_interval", self.rate_interval))
            if arr.ndim not in (1, 2):
                raise ValueError(
                    "PoissonSource.rate with rate_interval must have shape (T,) or (T, n), "
                    f"got shape {arr.shape}"
                )
            arr = arr.copy()
            arr.setflags(write=False)
            _set(self, "rate", arr)

    @property
    def time_varying(self) -> bool:
        """True when the rate changes every ``rate_interval``."""
        return self.rate_interval is not None

    def check_size(self, n: int) -> None:
        if self.time_varying:
            if self.rate.ndim == 2 and self.rate.shape[1] != n:
                raise ValueError(
                    f"PoissonSource.rate has shape {self.rate.shape} but the population has {n} "
                    f"neurons; pass shape (T, {n}) or (T,)"
                )
        else:
            check_per_neuron("PoissonSource.rate", self.rate, n)

    def check_dt(self, dt: float) -> None:
        if np.max(self.rate) * dt > 1.0:
            raise ValueError(
                f"PoissonSource.rate up to {np.max(self.rate):g} Hz gives more than one spike per "
                f"step at dt={dt:g} s; lower the rate or use dt <= {1.0 / np.max(self.rate):g} s"
            )
        if self.time_varying:
            ratio = self.rate_interval / dt
            if abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio) or round(ratio) < 1:
                raise ValueError(
                    f"PoissonSource.rate_interval={self.rate_interval:g} s must be a whole "
                    f"multiple of dt={dt:g} s"
                )


@dataclass(frozen=True, eq=False)
class SpikeSource(NeuronModel):
    """Neurons that fire at given times.

    ``spike_times`` is a sequence with one array of times (s) per neuron; a spike at time
    ``t`` is emitted in step ``round(t / dt)``. Alternatively pass ``spike_steps`` as
    whole step indices. Give one of the two.
    """

    spike_times: Sequence[Sequence[float]] | None = None
    spike_steps: Sequence[Sequence[int]] | None = None
    _trains: tuple[np.ndarray, ...] = field(default=(), repr=False)

    state_vars: ClassVar[tuple[StateVar, ...]] = ()

    def __post_init__(self) -> None:
        if (self.spike_times is None) == (self.spike_steps is None):
            raise ValueError("SpikeSource needs exactly one of spike_times= or spike_steps=")
        which = "spike_times" if self.spike_times is not None else "spike_steps"
        given = self.spike_times if self.spike_times is not None else self.spike_steps
        if isinstance(given, np.ndarray) and given.ndim == 1 and given.dtype != object:
            raise TypeError(
                f"SpikeSource.{which} must hold one sequence per neuron, e.g. [[0.01, 0.02], []]"
            )
        trains = []
        for i, train in enumerate(given):
            arr = np.asarray(train, dtype=np.float64 if which == "spike_times" else np.int64)
            if arr.ndim != 1:
                raise ValueError(f"SpikeSource.{which}[{i}] must be a 1-D sequence")
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(f"SpikeSource.{which}[{i}] must hold finite values >= 0")
            trains.append(np.sort(arr))
        _set(self, "_trains", tuple(trains))

    @property
    def n(self) -> int:
        """Number of neurons the source defines."""
        return len(self._trains)

    def check_size(self, n: int) -> None:
        if self.n != n:
            raise ValueError(
                f"SpikeSource defines {self.n} spike trains but the population has {n} neurons"
            )

    def events(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """All spikes as (step, neuron) arrays sorted by step."""
        steps, idx = [], []
        for i, train in enumerate(self._trains):
            s = np.rint(train / dt).astype(np.int64) if self.spike_times is not None else train
            if np.any(np.diff(s) == 0):
                raise ValueError(
                    f"SpikeSource neuron {i} has two spikes in one step of dt={dt:g} s; "
                    "use a smaller dt or merge the spikes"
                )
            steps.append(s)
            idx.append(np.full(s.shape, i, dtype=np.int32))
        if not steps:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        steps_a, idx_a = np.concatenate(steps), np.concatenate(idx)
        order = np.lexsort((idx_a, steps_a))
        return steps_a[order], idx_a[order]


# -- the extended neuron family: adaptive threshold, meta-neuron, ultradiscretized LIF --------


def _check_lif_like(model, name: str) -> None:
    """The argument checks of :class:`LIF`, naming ``name`` (the model's class) in errors."""
    _set(model, "tau_m", as_param(f"{name}.tau_m", model.tau_m, positive=True))
    for field_name in ("tau_syn_exc", "tau_syn_inh", "tau_ref"):
        _set(model, field_name,
             as_param(f"{name}.{field_name}", getattr(model, field_name), nonnegative=True))
    for field_name in ("v_rest", "v_reset", "v_thresh", "i_bias"):
        _set(model, field_name, as_param(f"{name}.{field_name}", getattr(model, field_name)))
    if model.reset not in ("value", "subtract"):
        raise ValueError(f"{name}.reset must be 'value' or 'subtract', got {model.reset!r}")
    if np.any(np.asarray(model.v_reset) >= np.asarray(model.v_thresh)):
        raise ValueError(f"{name}.v_reset must be below {name}.v_thresh; lower v_reset")


@dataclass(frozen=True, eq=False)
class AdaptiveLIF(LIF):
    """:class:`LIF` with a spike-triggered adaptive threshold (Diehl & Cook 2015).

    The membrane and synaptic currents follow :class:`LIF` exactly (same parameters, same
    exact integration). The neuron fires when ``v > v_thresh + theta``; ``theta`` (V) decays
    exactly, ``theta_k+1 = theta_k exp(-dt/tau_theta)``, and jumps by ``theta_plus`` at each
    spike (after the threshold test of that step). It keeps decaying while refractory.
    A reset by subtraction lowers ``v`` by the distance of the threshold in force,
    ``v_thresh + theta - v_reset``.

    The defaults are :class:`LIF`'s plus the Diehl & Cook values ``theta_plus = 0.05 mV`` and
    ``tau_theta = 1e7 ms``. Their rule "spike if ``v > v_th + theta - 20 mV`` with ``theta``
    starting at 20 mV" is ``v_thresh = v_th - 20 mV``, ``theta_init = 20 mV`` here.

    Args:
        tau_m, v_rest, v_reset, v_thresh, tau_ref, tau_syn_exc, tau_syn_inh, i_bias, reset:
            as :class:`LIF` (s, V).
        tau_theta: time constant of the threshold's decay (s).
        theta_plus: increase of ``theta`` per spike (V, >= 0).
        theta_init: initial ``theta`` (V).
    """

    tau_theta: float | np.ndarray = 1e4
    theta_plus: float | np.ndarray = 5e-5
    theta_init: float | np.ndarray = 0.0

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        *LIF.state_vars, StateVar("theta", np.float64, "theta_init", "V"))
    per_neuron_params: ClassVar[tuple[str, ...]] = (
        *LIF.per_neuron_params, "tau_theta", "theta_plus", "theta_init")

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "tau_theta", as_param("AdaptiveLIF.tau_theta", self.tau_theta, positive=True))
        _set(self, "theta_plus",
             as_param("AdaptiveLIF.theta_plus", self.theta_plus, nonnegative=True))
        _set(self, "theta_init", as_param("AdaptiveLIF.theta_init", self.theta_init))

    def check_dt(self, dt: float) -> None:
        super().check_dt(dt)
        _check_dt_against(self, dt, ["tau_theta"])

    @classmethod
    def from_beta(cls, beta: float = 0.9, v_thresh: float = 1.0, dt: float = 1e-3,
                  reset: str = "subtract", theta_plus: float = 0.1,
                  tau_theta: float = 20e-3) -> AdaptiveLIF:
        """The discrete-time form of :meth:`LIF.from_beta` (``v_k = beta v_k-1 + input_k``,
        delta synapses, no refractory period) with the adaptive threshold: ``theta``
        (in units of ``v_thresh``) jumps by ``theta_plus`` and decays by
        ``exp(-dt/tau_theta)`` a step."""
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        return cls(tau_m=-dt / np.log(beta), v_rest=0.0, v_reset=0.0, v_thresh=v_thresh,
                   tau_ref=0.0, tau_syn_exc=0.0, tau_syn_inh=0.0, reset=reset,
                   tau_theta=tau_theta, theta_plus=theta_plus, theta_init=0.0)


_META_LEARNABLE = ("tau_m", "v_thresh", "v_reset", "kappa")


@dataclass(frozen=True, eq=False)
class MetaNeuron(NeuronModel):
    """Probabilistic meta-neuron with learnable intrinsic parameters (escape noise).

    Leaky integration of delta inputs (as :class:`LI`), then a Bernoulli spike::

        v_k = v_rest + (u_k-1 - v_rest) exp(-dt/tau_m) + input_k
        p_k = sigmoid((v_k - v_thresh) / kappa)          s_k ~ Bernoulli(p_k)
        u_k = v_reset if s_k else v_k     (reset="subtract": u_k = v_k - s_k (v_thresh - v_reset))

    ``kappa`` (V) is the noise scale (inverse slope) of the firing probability: as
    ``kappa -> 0`` the neuron becomes a deterministic LIF. The intrinsics named in ``learn``
    (any of ``"tau_m"``, ``"v_thresh"``, ``"v_reset"``, ``"kappa"``) are learnable per neuron
    in training layers, reparameterised so constraints hold without clipping:
    ``beta = exp(-dt/tau_m) = sigmoid(rho)``, ``kappa = exp(log_kappa)``. ``v_reset`` may lie
    above ``v_thresh`` (the neuron fires stochastically at any potential).

    On the simulation backend the draw is ``uniform01(seed, stream, step, neuron) < p_k``
    (the counter-based generator of :class:`PoissonSource`), so runs are reproducible from
    the seed. The state variable ``p`` holds the last step's firing probability.

    The form of the firing probability (logistic escape noise) is the meta-neuron brief's
    specification; the paper's exact equations were not available.

    Args:
        tau_m: membrane time constant (s).
        v_rest: resting potential (V).
        v_reset: reset potential (V).
        v_thresh: potential of firing probability 1/2 (V).
        kappa: noise scale of the firing probability (V, > 0).
        reset: ``"value"`` or ``"subtract"``.
        learn: the intrinsics a training layer learns (a tuple of names; ``()`` for none).
    """

    tau_m: float | np.ndarray = 20e-3
    v_rest: float | np.ndarray = -65e-3
    v_reset: float | np.ndarray = -65e-3
    v_thresh: float | np.ndarray = -50e-3
    kappa: float | np.ndarray = 1e-3
    reset: str = "value"
    learn: tuple[str, ...] = _META_LEARNABLE

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("v", np.float64, "v_rest", "V"),
        StateVar("i_in", np.float64, 0.0, "V"),
        StateVar("p", np.float64, 0.0, "1"),
    )
    ports: ClassVar[dict[str, str]] = {"exc": "i_in", "inh": "i_in"}
    per_neuron_params: ClassVar[tuple[str, ...]] = ("tau_m", "v_rest", "v_reset", "v_thresh",
                                                    "kappa")

    def __post_init__(self) -> None:
        _set(self, "tau_m", as_param("MetaNeuron.tau_m", self.tau_m, positive=True))
        _set(self, "kappa", as_param("MetaNeuron.kappa", self.kappa, positive=True))
        for name in ("v_rest", "v_reset", "v_thresh"):
            _set(self, name, as_param(f"MetaNeuron.{name}", getattr(self, name)))
        if self.reset not in ("value", "subtract"):
            raise ValueError(f"MetaNeuron.reset must be 'value' or 'subtract', got {self.reset!r}")
        learn = self.learn
        if isinstance(learn, str) or not isinstance(learn, (tuple, list)):
            raise TypeError(
                f"MetaNeuron.learn must be a tuple of names from {_META_LEARNABLE}, got {learn!r}"
            )
        unknown = [x for x in learn if x not in _META_LEARNABLE]
        if unknown:
            raise ValueError(
                f"MetaNeuron.learn has unknown intrinsics {unknown}; choose from {_META_LEARNABLE}"
            )
        _set(self, "learn", tuple(dict.fromkeys(learn)))

    def check_dt(self, dt: float) -> None:
        _check_dt_against(self, dt, ["tau_m"])

    @classmethod
    def from_beta(cls, beta: float = 0.9, v_thresh: float = 1.0, kappa: float = 0.2,
                  dt: float = 1e-3, reset: str = "subtract",
                  learn: tuple[str, ...] = _META_LEARNABLE) -> MetaNeuron:
        """The discrete-time form: ``v_k = beta u_k-1 + input_k`` from rest 0, threshold
        ``v_thresh``, noise scale ``kappa`` (units of ``v_thresh``), reset to 0 or by
        subtraction."""
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        return cls(tau_m=-dt / np.log(beta), v_rest=0.0, v_reset=0.0, v_thresh=v_thresh,
                   kappa=kappa, reset=reset, learn=learn)


def _check_ultra(model, name: str) -> None:
    if isinstance(model.eps, np.ndarray) or not np.isscalar(model.eps):
        raise TypeError(f"{name}.eps must be a scalar (one temperature per layer), got {model.eps!r}")
    _set(model, "eps", as_param(f"{name}.eps", model.eps, positive=True))
    _set(model, "eps_min", as_param(f"{name}.eps_min", model.eps_min, positive=True))
    _set(model, "eps_max", as_param(f"{name}.eps_max", model.eps_max, positive=True))
    if model.eps_min >= model.eps_max:
        raise ValueError(f"{name}.eps_min must be below {name}.eps_max")
    for flag in ("learn_eps", "learn_tau"):
        if not isinstance(getattr(model, flag), bool):
            raise TypeError(f"{name}.{flag} must be True or False")
    if model.learn_eps and not model.eps_min <= model.eps <= model.eps_max:
        raise ValueError(
            f"{name}.eps={model.eps:g} is outside [eps_min, eps_max] = [{model.eps_min:g}, "
            f"{model.eps_max:g}], where a learned eps is clamped; pass learn_eps=False for a "
            "fixed eps, or widen eps_min/eps_max"
        )
    _set(model, "theta", as_param(f"{name}.theta", model.theta))


_LOG_TAU_RANGE = (-2.3, -0.01)  # UltraPLIF's clamp of a learned log tau: tau in [0.1, 0.99]


@dataclass(frozen=True, eq=False)
class UltraLIF(NeuronModel):
    """Ultradiscretized (log-sum-exp, max-plus) LIF of Miñoza (2026), with temperature ``eps``.

    One step, input ``I_k`` (the weights of the spikes arriving this step, or ``W x_k``)::

        V  = LSE_eps(u_k-1 + log tau, I_k)       LSE_eps(a, b) = eps log(exp(a/eps) + exp(b/eps))
        s_k = sigmoid((V - theta) / eps)         (real-valued "spike" in (0, 1))
        u_k = V (1 - s_k)                        (soft multiplicative reset)

    As ``eps -> 0`` this is the max-plus LIF ``V = max(u + log tau, I)``, ``s = H(V - theta)``,
    reset to 0. Every step is smooth, so training uses the exact gradient (a layer's
    surrogate is ignored). ``tau`` is the retention *per step* (dimensionless, in (0, 1)),
    not a time constant: the model runs with the same ``tau`` at any ``dt``. ``V``, ``I``,
    ``theta`` and ``eps`` share one unit (dimensionless in training, threshold 1).

    In training ``eps`` is learned (``learn_eps``) as ``eps = clamp(exp(rho), eps_min,
    eps_max)``, one value per layer; ``learn_tau=True`` also learns ``log tau`` clamped to
    [-2.3, -0.01] (UltraPLIF). On the event-driven backend the neuron emits a spike event
    when ``s_k > 0.5`` (that is ``V > theta``: the ``eps -> 0`` spike); the real-valued
    ``s`` is the state variable ``s``.
    """

    eps: float = 1.0
    theta: float | np.ndarray = 1.0
    tau: float = 0.9
    learn_eps: bool = True
    learn_tau: bool = False
    eps_min: float = 0.1
    eps_max: float = 20.0

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("v", np.float64, 0.0, "1"),
        StateVar("i_in", np.float64, 0.0, "1"),
        StateVar("s", np.float64, 0.0, "1"),
    )
    ports: ClassVar[dict[str, str]] = {"exc": "i_in", "inh": "i_in"}
    per_neuron_params: ClassVar[tuple[str, ...]] = ("theta",)

    def __post_init__(self) -> None:
        _check_ultra(self, "UltraLIF")
        if isinstance(self.tau, np.ndarray) or not np.isscalar(self.tau):
            raise TypeError(f"UltraLIF.tau must be a scalar retention per step, got {self.tau!r}")
        tau = as_param("UltraLIF.tau", self.tau, positive=True)
        if not tau < 1.0:
            raise ValueError(f"UltraLIF.tau is the retention per step and must be in (0, 1), got {tau}")
        if self.learn_tau and not _LOG_TAU_RANGE[0] <= np.log(tau) <= _LOG_TAU_RANGE[1]:
            raise ValueError(
                f"UltraLIF.tau={tau:g} is outside [0.1, 0.99], where a learned tau is clamped "
                "(UltraPLIF); pass a tau in that range or learn_tau=False"
            )
        _set(self, "tau", tau)


@dataclass(frozen=True, eq=False)
class UltraDLIF(NeuronModel):
    """Diffusion (gap-junction) UltraLIF: neighbours along the population are coupled.

    One step for neuron ``i`` of ``n`` (indices wrap around: ``i - 1`` of neuron 0 is
    ``n - 1``)::

        V_i  = LSE_eps(u_i-1, tau u_i, u_i+1) + I_i      (u: the previous step's potentials)
        s_i = sigmoid((V_i - theta) / eps)     u_i <- V_i (1 - s_i)

    ``tau = 1`` (the default) is UltraDLIF; ``tau`` in [0.1, 0.99] scales the centre term as
    UltraDPLIF (learned in training with ``learn_tau=True``, clamped to [0.1, 0.99]). The
    official code's UltraDLIF accepts a ``tau`` but does not use it; here ``tau`` always means
    the centre factor. Neuron order matters: in a dense layer the neighbours are adjacent
    output features; in a conv layer, adjacent entries of the flattened (channel, y, x) map.
    ``eps``, ``theta``, units, spike events (``s > 0.5``) and gradients are as
    :class:`UltraLIF`. As ``eps -> 0`` this is the max-plus diffusion
    ``V_i = max(u_i-1, tau u_i, u_i+1) + I_i``, ``s = H(V_i - theta)``, reset to 0.

    Limit (ours; the brief gives none in which UltraDLIF reduces to UltraLIF, whose input
    enters inside the soft max): with a spatially uniform potential and input the coupling
    does nothing, and every neuron follows the one-neuron recursion
    ``V = LSE_eps(u, tau u, u) + I`` (for ``tau = 1``: ``V = u + eps log 3 + I``; as
    ``eps -> 0`` a non-leaky integrate-and-fire neuron reset to 0).
    """

    eps: float = 1.0
    theta: float | np.ndarray = 1.0
    tau: float = 1.0
    learn_eps: bool = True
    learn_tau: bool = False
    eps_min: float = 0.1
    eps_max: float = 20.0

    state_vars: ClassVar[tuple[StateVar, ...]] = UltraLIF.state_vars
    ports: ClassVar[dict[str, str]] = {"exc": "i_in", "inh": "i_in"}
    per_neuron_params: ClassVar[tuple[str, ...]] = ("theta",)

    def __post_init__(self) -> None:
        _check_ultra(self, "UltraDLIF")
        if isinstance(self.tau, np.ndarray) or not np.isscalar(self.tau):
            raise TypeError(f"UltraDLIF.tau must be a scalar centre factor, got {self.tau!r}")
        tau = as_param("UltraDLIF.tau", self.tau, positive=True)
        if tau > 1.0:
            raise ValueError(f"UltraDLIF.tau is a centre factor in (0, 1], got {tau}")
        if self.learn_tau and not 0.1 <= tau <= 0.99:
            raise ValueError(
                f"UltraDLIF.tau={tau:g} is outside [0.1, 0.99], where a learned tau is clamped "
                "(UltraDPLIF); pass a tau in that range or learn_tau=False"
            )
        _set(self, "tau", tau)


@dataclass(frozen=True, eq=False)
class PLIF(NeuronModel):
    """Parametric LIF of Fang et al. (2021): an LIF whose membrane time constant is learned, one
    value per layer, for data-set training (no simulation backend runs it).

    One step, time in steps, input ``I_k`` (``W x_k``), ``k = 1 / tau``::

        v_k = u_k-1 + k (I_k - (u_k-1 - v_reset))      (decay_input=True, Fang et al.'s form)
        v_k = u_k-1 - k (u_k-1 - v_reset) + I_k        (decay_input=False)
        s_k = H(v_k - v_thresh)                        (the layer's surrogate gradient)
        u_k = v_reset (reset="value") or v_k - (v_thresh - v_reset) (reset="subtract")

    With ``learn_tau`` a training layer learns ``w`` with ``k = sigmoid(w)`` (so ``tau`` stays
    above 1 step), starting from ``w = -log(tau - 1)``; Fang et al. start at ``tau = 2``
    (``w = 0``). The membrane starts at ``v_reset``. Units: ``tau`` in steps (> 1), potentials
    dimensionless (threshold 1).
    """

    tau: float = 2.0
    v_thresh: float | np.ndarray = 1.0
    v_reset: float | np.ndarray = 0.0
    reset: str = "value"
    decay_input: bool = True
    learn_tau: bool = True

    state_vars: ClassVar[tuple[StateVar, ...]] = (StateVar("v", np.float64, "v_reset", "1"),)
    ports: ClassVar[dict[str, str]] = {"exc": "v", "inh": "v"}
    per_neuron_params: ClassVar[tuple[str, ...]] = ("v_thresh", "v_reset")

    def __post_init__(self) -> None:
        if isinstance(self.tau, np.ndarray) or not np.isscalar(self.tau):
            raise TypeError(f"PLIF.tau must be a scalar (one time constant per layer), got {self.tau!r}")
        tau = as_param("PLIF.tau", self.tau, positive=True)
        if not tau > 1.0:
            raise ValueError(f"PLIF.tau is in steps and must be above 1 (1/tau = sigmoid(w) < 1), got {tau}")
        _set(self, "tau", tau)
        _set(self, "v_thresh", as_param("PLIF.v_thresh", self.v_thresh))
        _set(self, "v_reset", as_param("PLIF.v_reset", self.v_reset))
        if self.reset not in ("value", "subtract"):
            raise ValueError(f"PLIF.reset must be 'value' or 'subtract', got {self.reset!r}")
        for flag in ("decay_input", "learn_tau"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"PLIF.{flag} must be True or False")


@dataclass(frozen=True, eq=False)
class DSpikeLIF(NeuronModel):
    """LIF whose spike is the Differentiable Spike function itself (Li et al. 2021), smooth and
    real-valued in [0, 1]: the DSpike / DSpike+ baselines of the UltraLIF paper's official code,
    for data-set training (no simulation backend runs it). One step, input ``I_k``::

        v_k = tau u_k-1 + I_k          x = v_k / (2 v_thresh)   (x = 1/2 at v = v_thresh)
        s_k = clamp((tanh(b (x - 1/2)) + tanh(b / 2)) / (2 tanh(b / 2)), 0, 1)
        u_k = v_k (1 - s_k)            (soft multiplicative reset)

    Training uses the exact gradient (a layer's surrogate is ignored). ``learn_b``: the
    temperature is ``clamp(softplus(rho), 0.5, 50)``, one per layer (the official code's);
    ``learn_tau`` (DSpike+): ``tau = sigmoid(rho_tau)``, one per layer, starting at ``tau``
    (the official code starts its raw parameter at 0.9, i.e. tau = 0.71). ``tau`` is the
    retention per step, potentials dimensionless; the official baselines use
    ``v_thresh = 0.5``.
    """

    tau: float = 0.9
    v_thresh: float = 0.5
    b: float = 4.0
    learn_b: bool = True
    learn_tau: bool = False

    state_vars: ClassVar[tuple[StateVar, ...]] = (StateVar("v", np.float64, 0.0, "1"),)
    ports: ClassVar[dict[str, str]] = {"exc": "v", "inh": "v"}

    def __post_init__(self) -> None:
        for name in ("tau", "v_thresh", "b"):
            value = getattr(self, name)
            if isinstance(value, np.ndarray) or not np.isscalar(value):
                raise TypeError(f"DSpikeLIF.{name} must be a scalar (one value per layer), got {value!r}")
            _set(self, name, as_param(f"DSpikeLIF.{name}", value, positive=True))
        if not self.tau < 1.0:
            raise ValueError(f"DSpikeLIF.tau is the retention per step and must be in (0, 1), got {self.tau}")
        if not 0.5 <= self.b <= 50.0:
            raise ValueError(f"DSpikeLIF.b={self.b:g} is outside [0.5, 50], where the temperature is clamped")
        for flag in ("learn_b", "learn_tau"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"DSpikeLIF.{flag} must be True or False")


# -- conductance-based synapses ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConductanceLIF(NeuronModel):
    """Leaky integrate-and-fire neuron with exponentially decaying synaptic conductances.

    ``tau_m dv/dt = (v_rest - v) + g_exc (e_rev_exc - v) + g_inh (e_rev_inh - v) + i_bias``,
    ``dg_x/dt = -g_x / tau_syn_x``. Conductances are dimensionless, in units of the leak
    conductance (as in Diehl & Cook 2015 and Brian2's ``ge * (Ee - v)`` form); a spike
    arriving on port ``exc`` (``inh``) adds its weight to ``g_exc`` (``g_inh``), so weights on
    both ports must be >= 0 (inhibition comes from ``e_rev_inh``, not from the sign).
    ``g_exc_tonic`` and ``g_inh_tonic`` are constant conductances on top of the synaptic ones.
    NEST's ``iaf_cond_exp`` is this model in nS and pF: see :meth:`from_nest`.

    Integration (exponential Euler with the step-mean conductance): over one step the
    conductances decay exactly, and ``v`` is advanced exactly as if each conductance were
    held at its mean over the step, ``g_x (tau_syn_x / dt)(1 - exp(-dt / tau_syn_x))``::

        a = 1 + g_tonic + g_mean            v_inf = (v_rest + i_bias + sum g E) / a
        v_k+1 = v_inf + (v_k - v_inf) exp(-a dt / tau_m)

    This is second order in ``dt`` (halving ``dt`` quarters the error), stable for any
    conductance, and exact under constant conductance. The synaptic part of the decay factor,
    ``exp(-g_mean dt / tau_m)``, is a rational approximation (relative error < 2e-11 up to
    ``g_mean dt / tau_m = 1.6``) that vectorises and is reproduced bit for bit by the torch
    backend; the leak and tonic part is exact. Threshold, reset and refractory
    period are :class:`LIF`'s: ``v`` is held while refractory, the conductances keep decaying.

    Args:
        tau_m: membrane time constant ``C_m / g_L`` (s).
        v_rest: resting (leak reversal) potential (V).
        v_reset: reset potential (V).
        v_thresh: firing threshold (V).
        tau_ref: absolute refractory period (s), rounded to whole time steps.
        tau_syn_exc: decay time constant of ``g_exc`` (s, > 0).
        tau_syn_inh: decay time constant of ``g_inh`` (s, > 0).
        e_rev_exc: excitatory reversal potential (V).
        e_rev_inh: inhibitory reversal potential (V), below ``e_rev_exc``.
        g_exc_tonic: constant excitatory conductance (units of the leak, >= 0).
        g_inh_tonic: constant inhibitory conductance (units of the leak, >= 0).
        i_bias: constant input (V, the current divided by the leak conductance).
        reset: ``"value"`` or ``"subtract"``.
    """

    tau_m: float | np.ndarray = 20e-3
    v_rest: float | np.ndarray = -65e-3
    v_reset: float | np.ndarray = -65e-3
    v_thresh: float | np.ndarray = -50e-3
    tau_ref: float | np.ndarray = 2e-3
    tau_syn_exc: float | np.ndarray = 5e-3
    tau_syn_inh: float | np.ndarray = 10e-3
    e_rev_exc: float | np.ndarray = 0.0
    e_rev_inh: float | np.ndarray = -80e-3
    g_exc_tonic: float | np.ndarray = 0.0
    g_inh_tonic: float | np.ndarray = 0.0
    i_bias: float | np.ndarray = 0.0
    reset: str = "value"

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("v", np.float64, "v_rest", "V"),
        StateVar("g_exc", np.float64, 0.0, "1"),
        StateVar("g_inh", np.float64, 0.0, "1"),
        StateVar("refractory_until", np.int64, 0, "step"),
    )
    ports: ClassVar[dict[str, str]] = {"exc": "g_exc", "inh": "g_inh"}
    nonnegative_weights: ClassVar[bool] = True
    per_neuron_params: ClassVar[tuple[str, ...]] = (
        "tau_m", "v_rest", "v_reset", "v_thresh", "tau_ref", "tau_syn_exc", "tau_syn_inh",
        "e_rev_exc", "e_rev_inh", "g_exc_tonic", "g_inh_tonic", "i_bias",
    )

    def __post_init__(self) -> None:
        name = "ConductanceLIF"
        for field_name in ("tau_m", "tau_syn_exc", "tau_syn_inh"):
            _set(self, field_name,
                 as_param(f"{name}.{field_name}", getattr(self, field_name), positive=True))
        for field_name in ("tau_ref", "g_exc_tonic", "g_inh_tonic"):
            _set(self, field_name,
                 as_param(f"{name}.{field_name}", getattr(self, field_name), nonnegative=True))
        for field_name in ("v_rest", "v_reset", "v_thresh", "e_rev_exc", "e_rev_inh", "i_bias"):
            _set(self, field_name, as_param(f"{name}.{field_name}", getattr(self, field_name)))
        if self.reset not in ("value", "subtract"):
            raise ValueError(f"{name}.reset must be 'value' or 'subtract', got {self.reset!r}")
        if np.any(np.asarray(self.v_reset) >= np.asarray(self.v_thresh)):
            raise ValueError(f"{name}.v_reset must be below {name}.v_thresh; lower v_reset")
        if np.any(np.asarray(self.e_rev_inh) >= np.asarray(self.e_rev_exc)):
            raise ValueError(f"{name}.e_rev_inh must be below {name}.e_rev_exc (in volts, e.g. "
                             "-80e-3 and 0.0)")

    def check_dt(self, dt: float) -> None:
        _check_dt_against(self, dt, ["tau_m", "tau_syn_exc", "tau_syn_inh"])

    def refractory_steps(self, dt: float) -> np.ndarray | int:
        """The refractory period in whole steps of ``dt``."""
        return _refractory_steps(self, dt)

    @classmethod
    def from_nest(cls, C_m: float = 250.0, g_L: float = 16.6667, E_L: float = -70.0,
                  V_th: float = -55.0, V_reset: float = -60.0, t_ref: float = 2.0,
                  E_ex: float = 0.0, E_in: float = -85.0, tau_syn_ex: float = 0.2,
                  tau_syn_in: float = 2.0, I_e: float = 0.0) -> ConductanceLIF:
        """NEST's ``iaf_cond_exp`` from its parameters in NEST units (pF, nS, mV, ms, pA;
        the defaults are NEST's). ``tau_m = C_m / g_L`` and ``i_bias = I_e / g_L``; a NEST
        weight ``w`` (nS) is ``w / g_L`` here."""
        if not (np.isfinite(g_L) and g_L > 0):
            raise ValueError(f"from_nest: g_L must be a positive conductance in nS, got {g_L}")
        if not (np.isfinite(C_m) and C_m > 0):
            raise ValueError(f"from_nest: C_m must be a positive capacitance in pF, got {C_m}")
        ms, mV = 1e-3, 1e-3
        return cls(tau_m=C_m / g_L * ms, v_rest=E_L * mV, v_reset=V_reset * mV,
                   v_thresh=V_th * mV, tau_ref=t_ref * ms, tau_syn_exc=tau_syn_ex * ms,
                   tau_syn_inh=tau_syn_in * ms, e_rev_exc=E_ex * mV, e_rev_inh=E_in * mV,
                   i_bias=I_e / g_L * mV)


@dataclass(frozen=True, eq=False)
class AdaptiveConductanceLIF(ConductanceLIF):
    """:class:`ConductanceLIF` with Diehl & Cook's (2015) adaptive threshold ``theta`` (V).

    The neuron fires when ``v > v_thresh + theta - theta_offset`` (the paper's
    ``v > v_th + theta - 20 mV`` with ``theta`` from 20 mV: ``theta_offset = theta_init = 20 mV``;
    ``v_thresh`` itself must stay above ``v_reset``); ``theta`` decays exactly with
    ``tau_theta``, ``theta_k = theta_k-1 exp(-dt / tau_theta)``, and jumps by ``theta_plus``
    after each spike. ``theta_plus = 0`` and a huge ``tau_theta`` freeze it for testing.

    Args (on top of :class:`ConductanceLIF`'s):
        tau_theta: decay time constant of ``theta`` (s, > 0).
        theta_plus: increment of ``theta`` per spike (V, >= 0).
        theta_init: initial ``theta`` (V).
        theta_offset: constant subtracted from the threshold (V).
    """

    tau_theta: float | np.ndarray = 1e4
    theta_plus: float | np.ndarray = 5e-5
    theta_init: float | np.ndarray = 0.0
    theta_offset: float | np.ndarray = 0.0

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        *ConductanceLIF.state_vars, StateVar("theta", np.float64, "theta_init", "V"))
    per_neuron_params: ClassVar[tuple[str, ...]] = (
        *ConductanceLIF.per_neuron_params, "tau_theta", "theta_plus", "theta_init", "theta_offset")

    def __post_init__(self) -> None:
        super().__post_init__()
        name = "AdaptiveConductanceLIF"
        _set(self, "tau_theta", as_param(f"{name}.tau_theta", self.tau_theta, positive=True))
        _set(self, "theta_plus", as_param(f"{name}.theta_plus", self.theta_plus, nonnegative=True))
        _set(self, "theta_init", as_param(f"{name}.theta_init", self.theta_init))
        _set(self, "theta_offset", as_param(f"{name}.theta_offset", self.theta_offset))

    def check_dt(self, dt: float) -> None:
        super().check_dt(dt)
        _check_dt_against(self, dt, ["tau_theta"])


@dataclass(frozen=True, eq=False)
class SettablePoissonSource(NeuronModel):
    """Poisson spike trains (at most one spike per step) whose rates are state.

    ``rate`` (Hz, per neuron) is a state variable, starting at ``rate_init`` (Hz, >= 0):
    change it between runs with :func:`set_rates` (which also discards the pending spike
    times), so one compiled network can present many inputs. Each neuron draws its next spike
    step from a geometric distribution with the per-step probability ``rate * dt`` (one draw
    per spike), from the engine's counter-based generator.
    """

    rate_init: float = 0.0

    state_vars: ClassVar[tuple[StateVar, ...]] = (
        StateVar("rate", np.float64, "rate_init", "Hz"),
        StateVar("next_spike", np.int64, -1, "step"),
        StateVar("count", np.int64, 0, "draws"),
    )

    def __post_init__(self) -> None:
        _set(self, "rate_init", float(as_param("SettablePoissonSource.rate_init", self.rate_init,
                                               nonnegative=True)))


def set_rates(sim, population: str, rates: np.ndarray) -> None:
    """Give the :class:`SettablePoissonSource` ``population`` of the simulation ``sim`` (any
    backend's, from :meth:`snn.Network.build`) new rates (Hz, shaped like its ``rate`` state:
    ``(n,)``, or ``(batch, n)`` when batched) from the current step on; pending spike times
    are redrawn."""
    state = sim.state.get(population)
    if state is None or "rate" not in state or "next_spike" not in state:
        raise ValueError(f"population {population!r} is not a SettablePoissonSource population "
                         f"of this simulation")
    target = state["rate"]
    rates = np.asarray(rates, dtype=np.float64)
    if rates.shape != tuple(target.shape):
        raise ValueError(f"rates has shape {rates.shape}, expected {tuple(target.shape)}")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0) or np.any(rates * sim.dt > 1.0):
        raise ValueError(f"rates must be finite, >= 0 and at most 1/dt = {1.0 / sim.dt:g} Hz")
    if isinstance(target, np.ndarray):
        target[:] = rates
        state["next_spike"][:] = -1
    else:  # the torch backend's tensors
        target.copy_(target.new_tensor(rates))
        state["next_spike"].fill_(-1)
