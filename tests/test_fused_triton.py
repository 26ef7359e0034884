"""The Triton training kernels (snn.training.fused_triton, dispatched by snn.training.fused_gpu).

Forward outputs, final state and gradients equal the fused CPU path's (numba) and snnTorch's,
for several T, neuron counts that are not multiples of the block, both reset modes, every
built-in surrogate, per-neuron parameters and chunked time. With a GPU the kernels run on
CUDA tensors; without one in Triton's interpreter on CPU tensors (tests/conftest.py sets
TRITON_INTERPRET=1), which is slow, so the shapes are small. The references always run on
the CPU.
"""

import contextlib
import copy
import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

import snn  # noqa: E402
from snn.backends import implementation_for  # noqa: E402
from snn.surrogate import ArcTan, FastSigmoid, Sigmoid, StraightThrough, Surrogate, Triangle  # noqa: E402
from snn.training import fused_gpu, fused_triton  # noqa: E402
from snn.training.neurons import _LIFSequence, _LISequence  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"  # where the kernels run
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def kernels():
    """On the GPU the kernels run CUDA layers by default; on the CPU they must be asked to."""
    return contextlib.nullcontext() if CUDA else fused_gpu.dispatch("cpu")
FEATURES = 50  # neurons per sample: batch * 50 is never a multiple of the 128-neuron block


def lif(reset="subtract", tau_syn=0.0, v_thresh=1.0):
    return snn.LIF(tau_m=10e-3, v_rest=0.3, v_reset=-0.2, v_thresh=v_thresh, tau_ref=0.0,
                   tau_syn_exc=tau_syn, reset=reset)


def run_lif(node, model, current, sg, detach, dtype, state_grads, device="cpu"):
    """Spikes, final state and the gradients with respect to the currents and the initial
    state of ``node`` (an autograd Function with _LIFSequence's signature) on ``device``,
    returned on the CPU."""
    impl = implementation_for(model, "training")
    c = impl.constants(model, 1e-3, device=device, dtype=dtype)
    state = impl.initial_state(model, current[0].to(device))
    u0 = state["u"].clone().requires_grad_()
    i0 = (state["i"] + 0.05).requires_grad_()
    x = current.to(device).requires_grad_()
    spikes, u, i = node.apply(x, u0, i0, c, sg, detach)
    g = torch.Generator().manual_seed(9)
    w = torch.randn(spikes.shape, generator=g, dtype=dtype).to(device)
    loss = (spikes * w).sum() + spikes.sum(0).pow(2).sum()  # a time-broadcast gradient too
    if state_grads:  # a later chunk used the final state
        wu = torch.randn(u.shape, generator=g, dtype=dtype).to(device)
        loss = loss + (u * wu).sum() + (i ** 2).sum()
    grads = torch.autograd.grad(loss, (x, u0, i0))
    return tuple(t.detach().cpu() for t in (spikes, u, i)), tuple(t.cpu() for t in grads)


CASES = [  # reset, tau_syn (s), surrogate, detach_reset, T, batch, state gradients
    ("subtract", 0.0, FastSigmoid(25.0), False, 1, 3, False),
    ("subtract", 4e-3, ArcTan(2.0), True, 9, 5, True),
    ("value", 0.0, Sigmoid(25.0), False, 17, 3, True),
    ("value", 4e-3, StraightThrough(2.0), False, 6, 4, False),
    ("subtract", 0.0, Triangle(1.5), True, 12, 3, False),
    ("value", 0.0, FastSigmoid(10.0), True, 7, 7, True),
]


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # the interpreter's numpy
@pytest.mark.parametrize(("reset", "tau_syn", "sg", "detach", "steps", "batch", "state_grads"),
                         CASES, ids=[f"{c[0]}-syn{c[1]}-{type(c[2]).__name__}-T{c[4]}-b{c[5]}"
                                     for c in CASES])
def test_lif_kernels_equal_the_fused_cpu_loops(reset, tau_syn, sg, detach, steps, batch,
                                               state_grads):
    model = lif(reset, tau_syn)
    g = torch.Generator().manual_seed(steps)
    current = torch.randn(steps, batch, FEATURES, generator=g) * 0.8 + 0.35
    ours, g_ours = run_lif(fused_gpu.LIFSequence, model, current, sg, detach, torch.float32,
                           state_grads, DEVICE)
    ref, g_ref = run_lif(_LIFSequence, model, current, sg, detach, torch.float32, state_grads)
    assert torch.equal(ours[0], ref[0]) and 0 < ours[0].sum() < ours[0].numel()
    for a, b in zip(ours[1:], ref[1:], strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    assert g_ref[0].abs().max() > 0 and g_ref[1].abs().max() > 0
    for a, b in zip(g_ours, g_ref, strict=True):  # i0's is 0 without synaptic current
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5,
                                   atol=1e-6 * float(b.abs().max()))


def test_float64_and_per_neuron_parameters_equal_the_fused_cpu_loops():
    """Per-neuron thresholds (the kernels' strided parameters) in float64: bit for bit but
    for the order of a few roundings, so within 1e-12."""
    thresholds = np.linspace(0.6, 1.4, FEATURES)
    model = lif("value", 4e-3, v_thresh=thresholds)
    g = torch.Generator().manual_seed(3)
    current = torch.randn(8, 3, FEATURES, generator=g, dtype=torch.float64) * 0.8 + 0.35
    ours, g_ours = run_lif(fused_gpu.LIFSequence, model, current, ArcTan(2.0), False,
                           torch.float64, True, DEVICE)
    ref, g_ref = run_lif(_LIFSequence, model, current, ArcTan(2.0), False, torch.float64, True)
    assert torch.equal(ours[0], ref[0]) and ours[0].sum() > 0
    for a, b in zip(ours[1:] + g_ours, ref[1:] + g_ref, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("steps", "per_neuron"), [(1, False), (11, True)])
def test_li_readout_kernels_equal_the_torch_loop(steps, per_neuron):
    model = snn.LI(tau_m=np.linspace(5e-3, 20e-3, FEATURES) if per_neuron else 10e-3)
    em = implementation_for(model, "training").constants(model, 1e-3)["em"]
    g = torch.Generator().manual_seed(5)
    current = torch.randn(steps, 3, FEATURES, generator=g)
    w = torch.randn(steps, 3, FEATURES, generator=g)
    results = []
    for node, device in ((fused_gpu.LISequence, DEVICE), (_LISequence, "cpu")):
        x = current.to(device).requires_grad_()
        v0 = torch.full((3, FEATURES), 0.2, device=device, requires_grad=True)
        out = node.apply(x, v0, em.to(device) if isinstance(em, torch.Tensor) else em)
        grads = torch.autograd.grad((out * w.to(device)).sum() + out[-1].pow(2).sum(), (x, v0))
        results.append(tuple(t.detach().cpu() for t in (out, *grads)))
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def snntorch_step(sizes, readout, steps, batch):
    """Loss and gradients of one training step of ``rules.bptt.mlp`` with the Triton kernels
    (interpreted), with the numba loops, and of snnTorch's twin on the same weights."""
    pytest.importorskip("snntorch")
    from rules.bench import _snntorch_twin
    from rules.bptt import mlp

    torch.manual_seed(2)
    net = mlp(sizes, beta=0.9, readout=readout, surrogate=FastSigmoid(25.0), chunk_steps=4)
    twin = _snntorch_twin(sizes, net, 0.9, 25.0, readout=readout)
    g = torch.Generator().manual_seed(7)
    x = snn.encoding.rate(torch.rand(batch, sizes[0], generator=g), steps, gain=0.5, generator=g)
    y = torch.randint(0, sizes[-1], (batch,), generator=g)

    net_k = copy.deepcopy(net).to(DEVICE)  # the network the kernels run
    x_k = snn.layers.mark_binary(x.to(DEVICE))

    def decode(out):
        return out.amax(0) if readout == "li" else out.sum(0)

    results = {}
    with kernels():
        loss = torch.nn.functional.cross_entropy(decode(net_k(x_k)), y.to(DEVICE))
    grads = torch.autograd.grad(loss, list(net_k.parameters()))
    results["triton"] = (loss.item(), [g.cpu() for g in grads])
    for name, out, model in (("numba", decode(net(x)), net), ("snntorch", twin(x), twin)):
        loss = torch.nn.functional.cross_entropy(out, y)
        results[name] = (loss.item(), torch.autograd.grad(loss, list(model.parameters())))

    def nodes(net, x):  # the autograd node of each layer's output
        h, names = x, set()
        for layer in net:
            h = layer(h)
            names.add(type(h.grad_fn).__name__)
        return names

    with kernels():
        nodes_triton = nodes(net_k, x_k)
    return results, nodes(net, x), nodes_triton


@pytest.mark.parametrize(("readout", "steps", "batch"), [("lif", 10, 5), ("li", 13, 3)])
def test_layers_dispatch_to_the_kernels_and_gradients_equal_snntorch(readout, steps, batch):
    results, nodes, nodes_triton = snntorch_step([20, FEATURES, 10], readout, steps, batch)
    assert all(n.startswith("_") for n in nodes)  # numba nodes by default on the CPU
    assert nodes_triton == ({"LIFSequenceBackward"} if readout == "lif"
                            else {"LIFSequenceBackward", "LISequenceBackward"})
    ref_loss, ref_grads = results["snntorch"]
    for name in ("triton", "numba"):
        loss, grads = results[name]
        assert loss == pytest.approx(ref_loss, rel=1e-6)
        for a, b in zip(grads, ref_grads, strict=True):
            scale = float(b.abs().max())
            assert scale > 0
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5 * scale)


def test_conv_stack_in_chunks_equals_the_numba_loops():
    """A convolutional LIF layer (5-D currents) and an LI read-out, time in chunks of 3."""
    from snn.layers import Conv2d, Flatten, Linear, MaxPool2d, Sequential

    torch.manual_seed(4)
    net = Sequential(Conv2d(1, 3, 3, snn.LIF.from_beta(0.85, v_thresh=0.5), padding=1),
                     MaxPool2d(2), Flatten(), Linear(27, 4, snn.LI.from_beta(0.85)), chunk_steps=3)
    g = torch.Generator().manual_seed(6)
    x = snn.encoding.rate(torch.rand(2, 1, 6, 6, generator=g), 7, gain=0.8, generator=g)
    results = []
    for model, inputs, context in ((copy.deepcopy(net).to(DEVICE), x.to(DEVICE), kernels()),
                                   (net, x, contextlib.nullcontext())):
        with context:
            out = model(snn.layers.mark_binary(inputs))
        grads = torch.autograd.grad(out.pow(2).sum(), list(model.parameters()))
        results.append([out.detach().cpu()] + [t.cpu() for t in grads])
    assert results[1][0].abs().sum() > 0
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6 * float(b.abs().max()))


def test_dispatch_rules(monkeypatch):
    """What :func:`fused_gpu.runs` chooses: CUDA tensors of float32/64 with a built-in
    surrogate (the LI read-out has none) when Triton is installed; CPU tensors only inside
    dispatch("cpu"); nothing inside dispatch("off")."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # what dispatch("cpu") checks (nothing runs)

    class Custom(Surrogate):
        def derivative(self, x):
            return torch.ones_like(x)

    cuda = SimpleNamespace(device=torch.device("cuda", 0), dtype=torch.float32)
    cpu = torch.zeros(2, 3)
    assert fused_gpu.installed() == (importlib.util.find_spec("triton") is not None)
    assert fused_gpu.runs(cuda, FastSigmoid()) and fused_gpu.runs(cuda)
    assert fused_gpu.runs(SimpleNamespace(device=torch.device("cuda"), dtype=torch.float64), ArcTan())
    assert not fused_gpu.runs(SimpleNamespace(device=torch.device("cuda"), dtype=torch.float16))
    assert not fused_gpu.runs(cuda, Custom())
    assert not fused_gpu.runs(cpu, FastSigmoid()) and not fused_gpu.runs(cpu)
    with fused_gpu.dispatch("cpu"):
        assert fused_gpu.runs(cpu, Triangle()) and fused_gpu.runs(cuda, Triangle())
        with fused_gpu.dispatch("off"):
            assert not fused_gpu.runs(cuda, FastSigmoid()) and not fused_gpu.runs(cpu)
        assert fused_gpu.runs(cpu)
    assert not fused_gpu.runs(cpu)
    assert set(fused_triton.KINDS) == {cls.compiled_kind for cls in
                                       (FastSigmoid, ArcTan, Sigmoid, StraightThrough, Triangle)}


def test_dispatch_arguments_are_checked(monkeypatch):
    with pytest.raises(ValueError, match="mode must be one of 'auto', 'off', 'cpu'"):
        with fused_gpu.dispatch("gpu"):
            pass
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        with fused_gpu.dispatch("cpu"):
            pass


def test_memory_saved_is_one_membrane_per_neuron_and_step():
    from torch.autograd.graph import saved_tensors_hooks

    model = lif()
    impl = implementation_for(model, "training")
    current = torch.randn(6, 3, FEATURES, device=DEVICE, requires_grad=True)
    state = impl.initial_state(model, current[0])
    saved = []
    with saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        fused_gpu.LIFSequence.apply(current, state["u"], state["i"],
                                    impl.constants(model, 1e-3, device=DEVICE), FastSigmoid(), False)
    assert [(tuple(t.shape), t.dtype) for t in saved] == [((6, 3 * FEATURES), torch.float32)]


@needs_cuda
@pytest.mark.parametrize("reset", ["subtract", "value"])
def test_cuda_layers_run_the_kernels_and_equal_the_cpu(reset):
    model = lif(reset, 4e-3)
    g = torch.Generator().manual_seed(1)
    current = torch.randn(40, 33, FEATURES, generator=g) * 0.8 + 0.35
    layer_cpu = snn.layers.Linear(FEATURES, FEATURES, model)
    layer_gpu = snn.layers.Linear(FEATURES, FEATURES, model).cuda()
    layer_gpu.load_state_dict(layer_cpu.state_dict())
    out_cpu, out_gpu = layer_cpu(current), layer_gpu(current.cuda())
    assert type(out_gpu.grad_fn).__name__ == "LIFSequenceBackward"
    mismatch = float((out_cpu != out_gpu.cpu()).float().mean())
    assert mismatch < 1e-3  # fused multiply-adds may flip a spike sitting on the threshold
    w = torch.randn(out_cpu.shape, generator=g)
    (out_cpu * w).sum().backward()
    (out_gpu * w.cuda()).sum().backward()
    if mismatch == 0:
        np.testing.assert_allclose(layer_gpu.weight.grad.cpu().numpy(),
                                   layer_cpu.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_bench_bptt_runs_the_kernels_beside_the_unfused_loop():
    from rules.bench import bench_bptt

    with kernels():
        r = bench_bptt("20-30-10", steps=3, batch=3, device=DEVICE, repeat=1, vs=())
    assert r["kernels"] == "triton" and r["unfused"]["time_per_step_s"] > 0
    assert r["speedup_vs_unfused"] > 0
    # The kernels save what the CPU loops and the torch loop save: one membrane per step.
    assert r["peak_memory_bytes"] == r["unfused"]["peak_memory_bytes"] > 0
    assert ("cuda_peak_bytes" in r) == CUDA
    assert bench_bptt("20-30-10", steps=3, batch=3, repeat=1, vs=())["kernels"] == "numba"


# Compiles kernels for an H100/H200 (sm_90) without a GPU, through Triton's whole pipeline to a
# cubin: what the interpreter cannot check (types across branches, constexpr folding, the
# loop-carried pointers). argv[1]: "some" (each kernel, each surrogate, both parameter
# layouts, both resets, float32: 14 kernels) or "all" (every specialisation, float32 and
# float64: 184 kernels).
AHEAD_OF_TIME = """
import itertools, sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
if "nvidia" not in triton.backends.backends:
    sys.exit(77)
from snn.training import fused_triton as ft

def build(fn, types, consts):
    names = list(fn.arg_names)
    signature = {n: "constexpr" if n in consts else types[n] for n in names}
    src = ASTSource(fn=fn, signature=signature,
                    constexprs={(names.index(k),): v for k, v in consts.items()})
    return triton.compile(src, target=GPUTarget("cuda", 90, 32),
                          options={"num_warps": ft.NUM_WARPS, "enable_fp_fusion": False})

every = sys.argv[1] == "all"
count = 0
for fp in ("fp32", "fp64") if every else ("fp32",):
    t = {n: "*" + fp for n in ("current", "params", "u", "i", "membrane", "spikes", "grad_spikes",
                              "surrogate", "g_u", "g_i", "grad_current", "v0", "out", "grad_out",
                              "g_v")}
    t.update(current_tstride="i32", grad_tstride="i32", steps="i32", size="i32")
    layouts = list(itertools.product((True, False), repeat=3)) if every else [
        (True, True, True), (True, False, False), (False, False, True)]
    for shared, delta, subtract in layouts:
        flags = dict(SHARED=shared, DELTA=delta, SUBTRACT=subtract, BLOCK=ft.BLOCK)
        assert "cubin" in build(ft._lif_forward, t, flags).asm
        kinds = ft.KINDS if every or delta else ft.KINDS[:1]
        for detach, kind in itertools.product((False, True) if every else (shared,), kinds):
            assert "cubin" in build(ft._lif_backward, t, dict(flags, DETACH=detach, KIND=kind)).asm
            count += 1
        count += 1
    for shared in (True, False):
        for fn in (ft._li_forward, ft._li_backward):
            assert "cubin" in build(fn, t, dict(SHARED=shared, BLOCK=ft.BLOCK)).asm
            count += 1
print(count)
"""


def compile_for_sm90(tmp_path, which):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path)  # compile for real, not from a cache
    proc = subprocess.run([sys.executable, "-c", AHEAD_OF_TIME, which], env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode == 77:
        pytest.skip("this Triton build has no NVIDIA backend")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return int(proc.stdout.split()[-1])


def test_kernels_compile_for_sm90_without_a_gpu(tmp_path):
    assert compile_for_sm90(tmp_path, "some") == 3 + len(fused_triton.KINDS) + 2 + 4


@pytest.mark.slow
def test_every_kernel_specialisation_compiles_for_sm90(tmp_path):
    assert compile_for_sm90(tmp_path, "all") == 2 * (8 + 8 * 2 * len(fused_triton.KINDS) + 4)
