"""The extended neuron family: adaptive LIF, probabilistic meta-neuron, UltraLIF, UltraDLIF.

Each model runs on the numba simulation backend and in torch training layers; the two give
the same trajectories on the same inputs. Model-specific checks: the UltraLIF max-plus limit
and exact gradients, the UltraDLIF neighbour coupling, the adaptive threshold's analytic trace
and spike-frequency adaptation, the meta-neuron's firing probability and learnable intrinsics.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import snn  # noqa: E402
from snn.backends import implementation_for  # noqa: E402
from snn.backends.numba_rng import uniform01  # noqa: E402
from snn.layers import Linear  # noqa: E402
from snn.models import AdaptiveLIF, MetaNeuron, UltraDLIF, UltraLIF  # noqa: E402
from snn.surrogate import ArcTan, FastSigmoid  # noqa: E402


@pytest.fixture
def float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


# -- helpers: one population driven by a SpikeSource, on numba and stepped in torch -------------

def random_drive(n_src, n, steps, rate, w_low, w_high, seed):
    rng = np.random.default_rng(seed)
    # Weights are stored as float32 by the network; draw them as float32 so both sides agree.
    weights = rng.uniform(w_low, w_high, (n_src, n)).astype(np.float32).astype(np.float64)
    trains = [np.flatnonzero(rng.random(steps) < rate).tolist() for _ in range(n_src)]
    return weights, trains


def run_numba(model, weights, trains, steps, dt, variables, seed=0):
    """Rows 1..steps of the state record: the state after update 0..steps-1."""
    net = snn.Network()
    src = net.population(len(trains), snn.SpikeSource(spike_steps=trains), name="src")
    pop = net.population(weights.shape[1], model, name="pop")
    net.connect(src, pop, snn.FromMatrix(weights), synapse="exc")
    net.spike_monitor(pop, name="spikes")
    net.state_monitor(pop, list(variables), name="state")
    res = net.run((steps + 1) * dt, dt=dt, seed=seed)
    fired = np.zeros((steps + 1, weights.shape[1]), bool)
    fired[res["spikes"].steps, res["spikes"].indices] = True
    return {v: res["state"][v][1:] for v in variables}, fired[:steps]


def torch_currents(weights, trains, steps):
    """The input of update k: the weights of the source spikes of step k - 1 (one-step delay)."""
    spikes = np.zeros((steps, len(trains)))
    for i, train in enumerate(trains):
        for s in train:
            if s + 1 < steps:
                spikes[s + 1, i] = 1.0
    return torch.tensor(spikes @ weights, dtype=torch.float64).unsqueeze(1)  # (T, batch 1, n)


def run_torch(model, current, dt, noise=None, params=None):
    impl = implementation_for(model, "training")
    consts = impl.constants(model, dt, dtype=torch.float64)
    if noise is not None:
        consts["noise"] = noise
    state = impl.initial_state(model, current[0])
    outs, states = [], []
    for k in range(current.shape[0]):
        out, state = impl.step(model, consts, current[k], state, FastSigmoid(), params=params)
        outs.append(out[0].detach().numpy())
        states.append({key: val[0].detach().numpy() for key, val in state.items()})
    return np.array(outs), {key: np.array([s[key] for s in states]) for key in states[0]}


ATOL = 1e-12  # float64 round-off over a few hundred steps


# -- cross-backend: numba and torch follow the same trajectory ----------------------------------

@pytest.mark.parametrize("reset", ["value", "subtract"])
def test_adaptive_lif_same_trajectory_on_numba_and_torch(float64_default, reset):
    dt, steps = 1e-3, 300
    model = AdaptiveLIF(tau_m=20e-3, v_rest=-65e-3, v_reset=-70e-3, v_thresh=-52e-3, tau_ref=0.0,
                        tau_syn_exc=5e-3, reset=reset, theta_plus=2e-3, tau_theta=50e-3,
                        theta_init=1e-3)
    weights, trains = random_drive(12, 7, steps, 0.2, -2e-3, 6e-3, seed=1)
    state, fired = run_numba(model, weights, trains, steps, dt, ("v", "theta"))
    out, tstate = run_torch(model, torch_currents(weights, trains, steps), dt)
    assert fired.sum() > 20  # the threshold adapts only if neurons fire
    np.testing.assert_array_equal(out.astype(bool), fired)
    np.testing.assert_allclose(tstate["u"], state["v"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(tstate["theta"], state["theta"], rtol=0, atol=ATOL)
    assert state["theta"].max() > model.theta_init + model.theta_plus  # adaptation happened


def meta_noise(seed, stream, steps, n):
    """The numba backend's uniform numbers for (step, neuron) of population ``stream``."""
    table = np.array([[uniform01(seed, stream, k, j) for j in range(n)] for k in range(steps)])
    calls = iter(range(steps))
    return table, lambda like: torch.as_tensor(table[next(calls)]).reshape(like.shape)


@pytest.mark.parametrize("reset", ["value", "subtract"])
def test_meta_neuron_same_trajectory_and_spikes_with_the_same_uniforms(float64_default, reset):
    dt, steps, n, seed = 1e-3, 300, 6, 11
    model = MetaNeuron(tau_m=20e-3, v_rest=-65e-3, v_reset=-68e-3, v_thresh=-55e-3, kappa=2e-3,
                       reset=reset)
    weights, trains = random_drive(10, n, steps, 0.25, -1e-3, 5e-3, seed=2)
    state, fired = run_numba(model, weights, trains, steps, dt, ("v", "p"), seed=seed)
    _, noise = meta_noise(seed, 1, steps, n)  # the meta-neuron population is stream 1
    impl = implementation_for(model, "training")
    params = impl.parameters(model, (n,), dt)  # the learnable intrinsics, reparameterised
    assert set(params) == {"beta_logit", "v_thresh", "v_reset", "log_kappa"}
    out, tstate = run_torch(model, torch_currents(weights, trains, steps), dt, noise, params)
    assert 20 < fired.sum() < fired.size - 20
    np.testing.assert_array_equal(out.astype(bool), fired)
    np.testing.assert_allclose(tstate["u"], state["v"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(tstate["p"], state["p"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("model", [UltraLIF(), UltraLIF(eps=0.3, tau=0.7, learn_eps=False),
                                   UltraDLIF(), UltraDLIF(eps=0.5, tau=0.8, theta=1.2)],
                         ids=["ultralif", "ultralif-sharp", "ultradlif", "ultradplif-sharp"])
def test_ultra_same_trajectory_on_numba_and_torch(float64_default, model):
    dt, steps = 1e-3, 200
    weights, trains = random_drive(10, 9, steps, 0.3, -0.6, 0.9, seed=3)
    state, fired = run_numba(model, weights, trains, steps, dt, ("v", "s"))
    out, tstate = run_torch(model, torch_currents(weights, trains, steps), dt)
    np.testing.assert_allclose(tstate["u"], state["v"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(out, state["s"], rtol=0, atol=ATOL)
    # A spike event is s > 0.5; there are some, and not everywhere.
    np.testing.assert_array_equal(fired, state["s"] > 0.5)
    assert 0 < fired.sum() < fired.size


# -- UltraLIF -----------------------------------------------------------------------------------

def hard_max_plus_lif(current, tau, theta):
    """The eps -> 0 limit: V = max(u + log tau, I), s = H(V - theta), u = V (1 - s)."""
    u = np.zeros(current.shape[1:])
    spikes, mem = [], []
    for i_k in current:
        V = np.maximum(u + np.log(tau), i_k)
        s = (V > theta).astype(float)
        u = V * (1 - s)
        spikes.append(s)
        mem.append(u)
    return np.array(spikes), np.array(mem)


def test_ultralif_converges_to_max_plus_lif_as_eps_shrinks(float64_default):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(60, 2, 8, generator=g)
    # Inputs stay >= 0.1 away from the threshold 1, so the hard trajectory never grazes it.
    current = torch.where(x < 0.75, -0.3 + 1.2 * x / 0.75, 1.1 + 0.4 * (x - 0.75) / 0.25)
    hard_s, hard_u = hard_max_plus_lif(current.numpy(), tau=0.9, theta=1.0)
    assert 0.1 < hard_s.mean() < 0.5
    errors = []
    for eps in (1.0, 0.1, 0.01, 0.001):
        out, state = run_torch(UltraLIF(eps=eps, tau=0.9, learn_eps=False), current[:, :1], 1.0)
        err = max(np.abs(out - hard_s[:, 0]).max(), np.abs(state["u"] - hard_u[:, 0]).max())
        errors.append(err)
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 2e-3, errors  # LSE is within eps log 2 of the max


def test_ultralif_gradients_are_exact(float64_default):
    model = UltraLIF(eps=0.5, tau=0.8, learn_tau=True)
    impl = implementation_for(model, "training")
    g = torch.Generator().manual_seed(0)
    current = (torch.rand(6, 2, 3, generator=g) * 2 - 0.5).requires_grad_()
    log_eps = torch.tensor(np.log(0.5), requires_grad=True)
    log_tau = torch.tensor(np.log(0.8), requires_grad=True)

    def forward(current, log_eps, log_tau):
        return impl.sequence(model, current, 1e-3, FastSigmoid(),
                             params={"log_eps": log_eps, "log_tau": log_tau})

    assert torch.autograd.gradcheck(forward, (current, log_eps, log_tau), eps=1e-6, atol=1e-8)


def test_ultradlif_gradients_are_exact(float64_default):
    model = UltraDLIF(eps=0.7, tau=0.9, learn_tau=True)
    impl = implementation_for(model, "training")
    g = torch.Generator().manual_seed(1)
    current = (torch.rand(5, 2, 4, generator=g) - 0.3).requires_grad_()
    log_eps = torch.tensor(np.log(0.7), requires_grad=True)
    log_tau = torch.tensor(np.log(0.9), requires_grad=True)

    def forward(current, log_eps, log_tau):
        return impl.sequence(model, current, 1e-3, FastSigmoid(),
                             params={"log_eps": log_eps, "log_tau": log_tau})

    assert torch.autograd.gradcheck(forward, (current, log_eps, log_tau), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("model", [UltraLIF(), UltraDLIF()], ids=["ultralif", "ultradlif"])
def test_ultra_eps_is_learned_in_a_layer_and_the_surrogate_is_ignored(model):
    results = []
    for surrogate in (FastSigmoid(), ArcTan()):
        torch.manual_seed(0)
        layer = Linear(12, 8, model, surrogate=surrogate)
        assert set(dict(layer.named_parameters())) >= {"neuron_params.log_eps"}
        x = (torch.rand(10, 4, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float()
        out = layer(x)
        assert not getattr(out, "_synaptica_binary", False)  # real-valued, never stored as bool
        out.pow(2).sum().backward()
        grad = layer.neuron_params["log_eps"].grad
        assert grad is not None and torch.isfinite(grad) and grad != 0
        results.append((out.detach(), grad.clone(), layer.weight.grad.clone()))
    for a, b in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- UltraDLIF ----------------------------------------------------------------------------------

def test_ultradlif_couples_circular_neighbours_on_both_backends(float64_default):
    n, dt, kick = 7, 1e-3, 5
    model = UltraDLIF(eps=0.5, theta=100.0)  # no spikes: the coupling alone moves the potentials
    weights = np.zeros((1, n))
    weights[0, 0] = 0.75
    # numba: one input spike to neuron 0 at step `kick` (arrives in update kick + 1)
    with_kick, _ = run_numba(model, weights, [[kick]], 12, dt, ("v",))
    without, _ = run_numba(model, weights, [[]], 12, dt, ("v",))
    changed = np.abs(with_kick["v"] - without["v"]) > 1e-12
    # torch: the same through step()
    base = torch.full((12, 1, n), 0.1)
    kicked = base.clone()
    kicked[kick + 1, 0, 0] += 0.75
    _, a = run_torch(model, base, dt)
    _, b = run_torch(model, kicked, dt)
    t_changed = np.abs(a["u"] - b["u"]) > 1e-12
    for diff in (changed, t_changed):
        assert not diff[:kick + 1].any()
        assert np.flatnonzero(diff[kick + 1]).tolist() == [0]
        assert np.flatnonzero(diff[kick + 2]).tolist() == [0, 1, n - 1]  # wraps around
        assert np.flatnonzero(diff[kick + 3]).tolist() == [0, 1, 2, n - 2, n - 1]


def test_ultradlif_uniform_field_and_max_plus_limit(float64_default):
    """With a spatially uniform state and input each neuron follows the one-neuron recursion
    V = u + eps log 3 + I (tau = 1); as eps -> 0 the layer is the max-plus diffusion
    V_i = max(u_i-1, u_i, u_i+1) + I_i with a hard spike and reset to 0."""
    g = torch.Generator().manual_seed(5)
    drive = torch.rand(30, 1, 1, generator=g) * 0.5 - 0.1
    eps = 0.4
    out, state = run_torch(UltraDLIF(eps=eps), drive.expand(30, 1, 6).contiguous(), 1.0)
    u, expect = 0.0, []
    for i_k in drive[:, 0, 0].numpy():
        V = u + eps * np.log(3.0) + i_k
        s = 1 / (1 + np.exp(-(V - 1.0) / eps))
        u = V * (1 - s)
        expect.append(u)
    np.testing.assert_allclose(state["u"], np.repeat(np.array(expect)[:, None], 6, 1), atol=1e-13)
    assert np.ptp(state["u"], axis=1).max() == 0.0

    # Inputs on a 0.1 grid and threshold 1.05: hard potentials stay 0.05 clear of it.
    current = torch.randint(-4, 4, (40, 1, 9), generator=g).double() * 0.1
    u = np.zeros(9)
    hard = []
    for i_k in current[:, 0].numpy():
        V = np.maximum(np.maximum(np.roll(u, 1), u), np.roll(u, -1)) + i_k
        s = (V > 1.05).astype(float)
        u = V * (1 - s)
        hard.append(u)
    assert 0.05 < np.mean(np.array(hard) == 0) < 0.9  # it fires, not all the time
    errors = []
    for e in (0.1, 0.01, 0.001):
        _, st = run_torch(UltraDLIF(eps=e, theta=1.05, learn_eps=False), current, 1.0)
        errors.append(np.abs(st["u"] - np.array(hard)).max())
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2, errors


# -- AdaptiveLIF --------------------------------------------------------------------------------

def adaptive_single(theta_plus, duration=2.0, dt=1e-4):
    model = AdaptiveLIF(tau_m=20e-3, v_rest=-65e-3, v_reset=-65e-3, v_thresh=-50e-3, tau_ref=2e-3,
                        i_bias=30e-3, theta_plus=theta_plus, tau_theta=100e-3, theta_init=0.5e-3)
    net = snn.Network()
    pop = net.population(1, model, name="n")
    net.spike_monitor(pop, name="spikes")
    net.state_monitor(pop, ["theta"], name="state")
    res = net.run(duration, dt=dt, seed=0)
    return res["spikes"].steps, res["state"]["theta"][:, 0]


def test_adaptive_threshold_decays_exponentially_and_jumps_at_spikes():
    dt, tau_theta, theta_plus, theta0 = 1e-4, 100e-3, 2e-3, 0.5e-3
    steps, theta = adaptive_single(theta_plus, duration=0.5, dt=dt)
    assert len(steps) > 10
    rows = np.arange(theta.size)  # row m: the threshold after m updates
    expected = theta0 * np.exp(-rows * dt / tau_theta)
    for s in steps:  # a spike in update s adds theta_plus, decaying from update s + 1 on
        later = rows > s
        expected[later] += theta_plus * np.exp(-(rows[later] - 1 - s) * dt / tau_theta)
    np.testing.assert_allclose(theta, expected, rtol=1e-10, atol=0)
    jumps = theta[steps + 1] - theta[steps] * np.exp(-dt / tau_theta)
    np.testing.assert_allclose(jumps, theta_plus, rtol=1e-9)


def test_adaptive_lif_rate_decreases_under_constant_drive_and_settles():
    steps, _ = adaptive_single(theta_plus=2e-3)
    isi = np.diff(steps)
    assert len(isi) > 50
    assert np.all(np.diff(isi[:10]) >= 0)  # adaptation: each early interval longer than the last
    assert isi[0] < 0.75 * isi[-1]
    assert np.ptp(isi[-20:]) <= 1  # settled: a constant interval up to the step grid
    # Without the threshold jump the intervals never grow (theta_init only decays).
    control = np.diff(adaptive_single(theta_plus=0.0)[0])
    assert np.all(np.diff(control) <= 0) and control[-1] < 0.75 * isi[-1]


# -- MetaNeuron ---------------------------------------------------------------------------------

def meta_clamped(seed, n=40, steps=2000, kappa=1e-3, v_thresh=-50e-3):
    """Neurons held at fixed potentials (reset = rest, no input): each step is a Bernoulli draw
    with the probability of its potential."""
    v = np.linspace(-54e-3, -46e-3, n)
    model = MetaNeuron(tau_m=20e-3, v_rest=v, v_reset=v, v_thresh=v_thresh, kappa=kappa)
    net = snn.Network()
    pop = net.population(n, model, name="m")
    net.spike_monitor(pop, name="spikes")
    net.state_monitor(pop, ["p"], name="state", every=500)
    res = net.run(steps * 1e-4, dt=1e-4, seed=seed)
    counts = np.bincount(res["spikes"].indices, minlength=n)
    return v, counts, res


def test_meta_neuron_fires_with_the_logistic_probability_of_its_potential():
    steps, kappa, thr = 2000, 1e-3, -50e-3
    v, counts, res = meta_clamped(seed=3, steps=steps, kappa=kappa, v_thresh=thr)
    p = 1 / (1 + np.exp(-(v - thr) / kappa))
    np.testing.assert_allclose(res["state"]["p"][1:], np.broadcast_to(p, (3, v.size)), rtol=1e-12)
    z = (counts - steps * p) / np.sqrt(steps * p * (1 - p))
    assert np.abs(z).max() < 4.5, z
    chi2 = float((z ** 2).sum())  # ~ chi-square with 40 degrees of freedom
    assert chi2 < 80, chi2
    # The same statistic rejects a slope off by 30%.
    p_wrong = 1 / (1 + np.exp(-(v - thr) / (1.3 * kappa)))
    z_wrong = (counts - steps * p_wrong) / np.sqrt(steps * p_wrong * (1 - p_wrong))
    assert float((z_wrong ** 2).sum()) > 200


def test_meta_neuron_is_reproducible_from_the_seed_on_numba():
    _, _, a = meta_clamped(seed=7, steps=500)
    _, _, b = meta_clamped(seed=7, steps=500)
    _, _, c = meta_clamped(seed=8, steps=500)
    assert a["spikes"].count > 100
    np.testing.assert_array_equal(a["spikes"].steps, b["spikes"].steps)
    np.testing.assert_array_equal(a["spikes"].indices, b["spikes"].indices)
    assert not (a["spikes"].count == c["spikes"].count
                and np.array_equal(a["spikes"].indices, c["spikes"].indices))


def test_meta_neuron_intrinsics_are_learned_in_a_layer():
    torch.manual_seed(0)
    layer = Linear(20, 16, MetaNeuron.from_beta(0.9, kappa=0.3))
    names = {"beta_logit", "v_thresh", "v_reset", "log_kappa"}
    assert set(layer.neuron_params) == names
    assert all(p.shape == (16,) for p in layer.neuron_params.values())
    x = (torch.rand(15, 8, 20) < 0.4).float()
    out = layer(x)
    assert set(out.unique().tolist()) <= {0.0, 1.0} and out.sum() > 0
    (out.sum(0) - 3.0).pow(2).sum().backward()
    for name in names:
        grad = layer.neuron_params[name].grad
        assert grad is not None and torch.all(torch.isfinite(grad)) and grad.abs().sum() > 0, name
    # Same generator state, same samples; only the named intrinsics are learnable.
    torch.manual_seed(1)
    first = layer(x)
    torch.manual_seed(1)
    torch.testing.assert_close(layer(x), first, rtol=0, atol=0)
    only = Linear(20, 16, MetaNeuron.from_beta(0.9, learn=("v_thresh",)))
    assert set(only.neuron_params) == {"v_thresh"}


# -- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: AdaptiveLIF(tau_theta=0.0), "AdaptiveLIF.tau_theta"),
    (lambda: AdaptiveLIF(theta_plus=-1e-3), "AdaptiveLIF.theta_plus"),
    (lambda: AdaptiveLIF(v_reset=-40e-3), "AdaptiveLIF.v_reset"),
    (lambda: MetaNeuron(kappa=0.0), "MetaNeuron.kappa"),
    (lambda: MetaNeuron(learn=("tau_m", "gain")), "MetaNeuron.learn"),
    (lambda: MetaNeuron(learn="tau_m"), "MetaNeuron.learn"),
    (lambda: UltraLIF(tau=1.0), "UltraLIF.tau"),
    (lambda: UltraLIF(eps=0.01), "UltraLIF.eps"),
    (lambda: UltraLIF(eps=np.ones(3)), "UltraLIF.eps"),
    (lambda: UltraLIF(tau=0.05, learn_tau=True), "UltraLIF.tau"),
    (lambda: UltraDLIF(tau=1.5), "UltraDLIF.tau"),
    (lambda: UltraDLIF(eps=-1.0), "UltraDLIF.eps"),
])
def test_arguments_are_validated_by_name(make, match):
    with pytest.raises((ValueError, TypeError), match=match.replace(".", r"\.")):
        make()


def test_adaptive_lif_checks_dt_and_training_refractoriness():
    with pytest.raises(ValueError, match="tau_theta"):
        AdaptiveLIF(tau_theta=1e-4).check_dt(1e-3)
    with pytest.raises(ValueError, match="tau_ref"):
        Linear(4, 3, AdaptiveLIF())  # tau_ref = 2 ms by default: simulation only


# -- learning ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return snn.datasets.load_digits().stratified_split(0.2, seed=0)


@pytest.mark.parametrize("neuron", ["adaptive", "meta", "ultralif", "ultradlif"])
def test_mlp_with_each_new_neuron_learns_digits(digits, neuron):
    from rules.bptt import BPTT, BPTTConfig, mlp

    train, test = digits
    torch.manual_seed(0)
    trainer = BPTT(mlp([64, 64, 10], neuron=neuron), BPTTConfig(steps=8, batch_size=64))
    history = trainer.fit(train, test, epochs=3)
    assert history[-1].test_accuracy > 0.5, [r.test_accuracy for r in history]


def test_mlp_lists_the_available_neurons():
    from rules.bptt import mlp

    with pytest.raises(ValueError, match="adaptive, dspike, lif, meta, plif, ultradlif, ultralif"):
        mlp([4, 3], neuron="izhikevich")
