"""CUBA on the torch backend's chunked engine beside its loop engine and numba, one process.

For each network size the CUBA network (:func:`snn.bench.cuba.cuba_network`) is sampled once
from ``--seed``; each engine gets its own copy: the torch chunked engine (whole chunks on the
device: event-driven delivery, CUDA graphs on CUDA; ``snn.backends.torch.chunked``), the torch
loop engine (a Python loop over steps, the backend before issue 13) on the same device, and
the numba backend on the CPU (``--numba-threads`` threads). Each runs a short warm-up (JIT and
Triton compilation, CUDA graph capture), then ``--duration`` simulated seconds, timed. Reported
per size and engine: wall seconds per simulated second, the mean rate, and the ratios of the
chunked engine's speed to the others' (> 1: the chunked engine is faster).

Run: ``python benchmarks/cuda_cuba.py [--device cuda|cpu] [--sizes 4000,64000,512000]
[--duration 0.5] [--engines chunked,loop,numba] [--json out.json]``. The last line printed is
the report as one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time

WARMUP_STEPS = 20


def measure(device: str, sizes: list[int], duration: float, engines: list[str], seed: int,
            dtype: str, numba_threads: int) -> dict:
    """Wall seconds per simulated second of every engine in ``engines`` at every size."""
    import numba
    import torch

    from snn.backends import get_backend
    from snn.bench.cuba import DT, cuba_network

    options = {
        "chunked": ("torch", {"device": device, "dtype": dtype, "engine": "chunked"}),
        "loop": ("torch", {"device": device, "dtype": dtype, "engine": "loop"}),
        "numba": ("numba", {"threads": numba_threads}),
    }
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        built = cuba_network(n).instantiate(DT, seed)
        sample_s = time.perf_counter() - t0
        row = {"neurons": n, "synapses": built.n_synapses, "sample_s": sample_s, "engines": {}}
        for engine in engines:
            backend, kw = options[engine]
            t0 = time.perf_counter()
            sim = get_backend(backend)(copy.deepcopy(built), **kw)
            build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            sim.run(WARMUP_STEPS * DT)
            warmup_s = time.perf_counter() - t0
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            res = sim.run(duration)
            if device == "cuda":
                torch.cuda.synchronize()
            wall = time.perf_counter() - t0
            count = res["spikes"].count
            row["engines"][engine] = {
                "wall_s": wall, "wall_s_per_simulated_s": wall / duration,
                "rate_hz": count / (n * duration), "spikes": count, "build_s": build_s,
                "warmup_s": warmup_s, "options": sim.options}
            engine_state = getattr(sim, "_chunked", None)
            if engine_state is not None:  # overflow re-runs (warm-up included), final capacities
                row["engines"][engine].update(
                    reruns=engine_state.reruns,
                    spike_capacity=[c.capacity for c in engine_state.compactions.values()],
                    graphs=engine_state.cuda_graphs)
            del sim, res
            if device == "cuda":
                torch.cuda.empty_cache()
        if "chunked" in row["engines"]:
            own = row["engines"]["chunked"]["wall_s"]
            row["chunked_speedup"] = {e: r["wall_s"] / own for e, r in row["engines"].items()
                                      if e != "chunked"}
            if "numba" in row["engines"]:
                row["rate_vs_numba"] = (row["engines"]["chunked"]["rate_hz"]
                                        / row["engines"]["numba"]["rate_hz"] - 1)
        rows.append(row)
    gpu = torch.cuda.get_device_name() if device == "cuda" else None
    return {"benchmark": "cuda_cuba", "device": device, "gpu": gpu, "dtype": dtype,
            "duration_s": duration, "seed": seed, "rows": rows,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "torch": torch.__version__, "numba": numba.__version__,
                        "numba_threads": numba_threads, "torch_threads": torch.get_num_threads(),
                        "loadavg": os.getloadavg()}}


def main(argv: list[str] | None = None) -> int:
    import numba
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"),
                        default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated neuron counts (default 4000,64000,512000 on cuda, "
                             "1000,4000 on cpu)")
    parser.add_argument("--duration", type=float, default=None,
                        help="simulated seconds timed per engine (default 0.5 on cuda, 0.1 on cpu)")
    parser.add_argument("--engines", default="chunked,loop,numba")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--numba-threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads on the CPU (default: torch's)")
    parser.add_argument("--json", help="write the full report to this file")
    a = parser.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available; use --device cpu")
    engines = a.engines.split(",")
    unknown = set(engines) - {"chunked", "loop", "numba"}
    if unknown:
        parser.error(f"--engines: unknown {sorted(unknown)}; choose from chunked, loop, numba")
    sizes = [int(s) for s in (a.sizes or ("4000,64000,512000" if a.device == "cuda"
                                          else "1000,4000")).split(",")]
    duration = a.duration or (0.5 if a.device == "cuda" else 0.1)
    if a.torch_threads:
        torch.set_num_threads(a.torch_threads)
    out = measure(a.device, sizes, duration, engines, a.seed, a.dtype, a.numba_threads)
    for row in out["rows"]:
        for engine, r in row["engines"].items():
            print(f"CUBA {row['neurons']:>7} {engine:>8}: {r['wall_s_per_simulated_s']:8.3f} s per "
                  f"simulated s, {r['rate_hz']:.2f} Hz")
        for engine, ratio in row.get("chunked_speedup", {}).items():
            print(f"CUBA {row['neurons']:>7} chunked is x{ratio:.3g} the speed of {engine}")
    print(json.dumps({"benchmark": "cuda_cuba", "device": out["device"], "gpu": out["gpu"],
                      "wall_s_per_simulated_s": {
                          str(row["neurons"]): {e: round(r["wall_s_per_simulated_s"], 4)
                                                for e, r in row["engines"].items()}
                          for row in out["rows"]},
                      "rate_vs_numba": {str(row["neurons"]): row.get("rate_vs_numba")
                                        for row in out["rows"]}}))
    if a.json:
        from pathlib import Path

        from snn.h5io import temporary_sibling

        tmp = temporary_sibling(Path(a.json))
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
