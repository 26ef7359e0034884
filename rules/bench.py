"""Benchmarks of training: our BPTT against snnTorch on the same network, in one process.

Both get the same weights, the same Bernoulli input (rate 0.2) and the same loss
(cross-entropy on output spike counts); a step is one mini-batch forward and backward pass.
Memory is what autograd keeps for the backward pass, counted with
``torch.autograd.graph.saved_tensors_hooks`` for both, each storage once (a weight saved at
every step is one weight). The two run alternately, ``repeat`` times, and the median counts.
"""

from __future__ import annotations

import statistics
import time

import torch


def _saved_bytes(fn) -> int:
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    loss.backward()
    return sum(seen.values())


def _snntorch_twin(sizes: list[int], ours, beta: float, slope: float):
    import snntorch
    from snntorch import surrogate

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fcs = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                                strict=True))
            self.lifs = torch.nn.ModuleList(
                snntorch.Leaky(beta=beta, spike_grad=surrogate.fast_sigmoid(slope=slope),
                               reset_mechanism="subtract", reset_delay=False)
                for _ in sizes[1:])

        def forward(self, x):
            mems = [lif.init_leaky() for lif in self.lifs]
            counts = 0
            for k in range(x.shape[0]):
                h = x[k]
                for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs, strict=True)):
                    h, mems[i] = lif(fc(h), mems[i])
                counts = counts + h
            return counts

    twin = Twin().to(ours[0].weight.device)
    with torch.no_grad():
        for fc, layer in zip(twin.fcs, ours, strict=True):
            fc.weight.copy_(layer.weight)
            fc.bias.copy_(layer.bias)
    return twin


def bench_bptt(arch: str = "784-500-10", steps: int = 25, batch: int = 128, device: str = "cpu",
               repeat: int = 5, vs: tuple[str, ...] = ("snntorch",), seed: int = 0,
               beta: float = 0.9, slope: float = 25.0, chunk_steps: int | None = 25) -> dict:
    """Time per training step and memory saved for backward, ours and each peer."""
    from rules.bptt import mlp
    from snn.layers import mark_binary
    from snn.surrogate import FastSigmoid

    sizes = [int(s) for s in arch.split("-")]
    torch.manual_seed(seed)
    net = mlp(sizes, beta=beta, readout="lif", surrogate=FastSigmoid(slope),
              chunk_steps=chunk_steps).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    x = mark_binary((torch.rand(steps, batch, sizes[0], generator=gen, device=device) < 0.2).float())
    y = torch.randint(0, sizes[-1], (batch,), generator=gen, device=device)
    runners = {"synaptica": lambda: torch.nn.functional.cross_entropy(net(x).sum(0), y)}
    models = {"synaptica": net}
    for peer in vs:
        if peer != "snntorch":
            raise ValueError(f"--vs {peer!r} is unknown; choose from snntorch")
        twin = _snntorch_twin(sizes, net, beta, slope)
        runners[peer] = lambda twin=twin: torch.nn.functional.cross_entropy(twin(x), y)
        models[peer] = twin
    memory = {name: _saved_bytes(fn) for name, fn in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            models[name].zero_grad(set_to_none=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn().backward()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    report = {
        "arch": arch, "steps": steps, "batch": batch, "device": device, "repeat": repeat,
        "chunk_steps": chunk_steps,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "time_per_step_s": statistics.median(times["synaptica"]),
        "peak_memory_bytes": memory["synaptica"],
    }
    for peer in vs:
        report[peer] = {"time_per_step_s": statistics.median(times[peer]),
                        "peak_memory_bytes": memory[peer]}
    if vs:
        ref = report[vs[0]]
        report["time_ratio"] = report["time_per_step_s"] / ref["time_per_step_s"]
        report["memory_ratio"] = report["peak_memory_bytes"] / ref["peak_memory_bytes"]
    return report
