"""The NIR round-trip table: the same network run in two libraries after a trip through NIR.

    python benchmarks/nir_roundtrip.py                     # 100 inputs, 25 steps
    python benchmarks/nir_roundtrip.py --inputs 20 --out out/nir

For each pair (snnTorch -> us, us -> snnTorch, us -> Norse, us -> us) and each network (a
feed-forward LIF MLP, a convolutional net, a recurrent net) the output spikes of the source on
100 random Bernoulli inputs (p = 0.3 per input and step) are compared with those of the
importer: the fraction of inputs whose whole output spike train is identical, and the fraction
of output entries (step, input, neuron) that agree. snnTorch's networks are trained for a few
Adam steps first (hardware.nir.peers.train_snntorch). Both sides run forward Euler at
dt = 1e-4 s (snnTorch's fixed step; Norse is given dt=1e-4), so these rows must be 100%.

Below the table, rows where a convention differs, each named and measured: a Norse-built
net exported by Norse (its tau is dt x tau, read back at dt**2), Norse at its
default dt (1e-3 s), snnTorch's default neuron (subtract, reset delay) read as NIR's reset to
v_reset, snnTorch's LIF export (r = tau/dt) in Norse (which ignores r), snnTorch's flat
recurrent export re-imported by snnTorch 1.0.0, an accepted subtract reset in snnTorch (which
always resets to zero) and in Norse (reset_subtract with CubaLIF carriers, exact).

Last, the graphs Sinabs 3.1.3 and Rockpool 3.1.0 exported (``tests/data/nir_peers``, made by
``tools/nir_peer_fixtures.py`` in each library's environment) imported by us and compared with
the library's own outputs on the fixture's inputs.

Writes ``nir_roundtrip.md`` and ``nir_roundtrip.json`` to ``--out`` (default out/) and prints
the markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import torch

from hardware.nir import from_nir, to_nir
from hardware.nir.peers import (
    PEER_FIXTURES,
    agreement,
    count_agreement,
    export_norse,
    export_snntorch,
    norse_network,
    run_fixture,
    run_norse,
    run_norse_import,
    run_snntorch,
    run_snntorch_import,
    snntorch_network,
    synaptica_network,
    train_snntorch,
)

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "nir_peers"
KINDS = ("ff", "conv", "recurrent")
NAMES = {"ff": "feed-forward", "conv": "conv", "recurrent": "recurrent"}


def _inputs(shape, n: int, steps: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, n, *shape, generator=gen) < 0.3).float()


def _row(pair: str, kind: str, ref: torch.Tensor, got: torch.Tensor, convention: str = "") -> dict:
    samples, entries = agreement(ref, got)
    return {"pair": pair, "net": NAMES[kind], "identical_inputs": samples, "identical_entries": entries,
            "spikes_source": int(torch.as_tensor(ref).sum()),
            "spikes_importer": int(torch.as_tensor(got).sum()), "convention": convention}


def _ours(kind: str, reset: str = "value"):
    net, shape = synaptica_network(kind, reset=reset)
    return net, shape, {"input_shape": shape} if kind == "conv" else {}


def measure(n: int, steps: int, seed: int) -> dict:
    torch.set_num_threads(1)
    main, other = [], []
    for kind in KINDS:
        # snnTorch-trained -> NIR -> ours
        snet, shape = snntorch_network(kind, seed=seed)
        train_snntorch(snet, shape, seed=seed)
        x = _inputs(shape, n, steps, seed + 1)
        sref = run_snntorch(snet, x)
        sgraph = export_snntorch(snet, shape)
        with torch.no_grad():
            main.append(_row("snnTorch -> us", kind, sref, from_nir(sgraph, dt=1e-4)(x)))
        # ours -> NIR -> snnTorch, Norse, ours
        net, shape, opts = _ours(kind)
        graph = to_nir(net, **opts)
        with torch.no_grad():
            ref = net(x)
            main.append(_row("us -> snnTorch", kind, ref, run_snntorch_import(graph, x)))
            main.append(_row("us -> Norse (dt=1e-4)", kind, ref, run_norse_import(graph, x, dt=1e-4)))
            with tempfile.TemporaryDirectory() as tmp:  # through a file, as users do
                from hardware.nir import read_nir, write_nir

                back = from_nir(read_nir(write_nir(graph, Path(tmp) / "net.nir")), dt=1e-4)
            main.append(_row("us -> us", kind, ref, back(x)))
        # conventions that differ
        other.append(_row("us -> Norse, its default dt=1e-3", kind, ref, run_norse_import(graph, x, dt=1e-3),
                          "dt: Norse's from_nir defaults to 1e-3 s, the graph is Euler-exact at 1e-4 s"))
        other.append(_row("snnTorch -> Norse (dt=1e-4)", kind, sref, run_norse_import(sgraph, x, dt=1e-4),
                          "r: snnTorch writes LIF with r = tau/dt, Norse ignores r on LIF (and "
                          "imports a flat recurrence wrongly)"))
        dnet, dshape = snntorch_network(kind, seed=seed, reset="subtract", reset_delay=True)
        train_snntorch(dnet, dshape, seed=seed)
        dref = run_snntorch(dnet, x)
        with torch.no_grad():
            other.append(_row("snnTorch default neuron -> us", kind, dref,
                              from_nir(export_snntorch(dnet, dshape), dt=1e-4)(x),
                              "reset: snnTorch's default subtracts one step late (reset_delay); NIR "
                              "declares reset to v_reset"))
        snet_net, _, _ = _ours(kind, reset="subtract")
        with torch.no_grad():
            sub_ref = snet_net(x)
        sub_graph = to_nir(snet_net, accept=["subtract"], cubalif=True, **opts)
        other.append(_row("us (subtract, accepted) -> snnTorch", kind, sub_ref,
                          run_snntorch_import(sub_graph, x),
                          "reset: snnTorch's importer always resets to zero"))
        other.append(_row("us (subtract, accepted, cubalif) -> Norse reset_subtract", kind, sub_ref,
                          run_norse_import(sub_graph, x, dt=1e-4, reset="subtract"),
                          "none: Norse's reset_subtract on CubaLIF is our subtraction (v_reset = 0)"))
        if kind == "recurrent":
            other.append(_row("snnTorch -> snnTorch", kind, sref, run_snntorch_import(sgraph, x),
                              "bug: snnTorch 1.0.0 re-nests its flat recurrent export with input -> "
                              "w_rec instead of input -> lif"))
    # Norse-built (LIFBox MLP, its dt 1e-3 s) -> NIR -> ours
    nnet, shape = norse_network(seed=seed)
    x = _inputs(shape, n, steps, seed + 2)
    with torch.no_grad():
        other.append(_row("Norse (dt=1e-3) -> us at dt=1e-6", "ff", run_norse(nnet, x),
                          from_nir(export_norse(nnet, shape, dt=1e-3), dt=1e-6)(x),
                          "tau: Norse 1.1.0 writes tau = dt / tau_mem_inv = dt x tau (Norse #411), so its "
                          "graphs are Norse's dynamics at the step dt**2 (at dt itself Euler is unstable "
                          "and from_nir refuses)"))
    import nir
    import nirtorch
    import norse
    import snntorch

    versions = {"nir": nir.__version__ if hasattr(nir, "__version__") else "?",
                "nirtorch": getattr(nirtorch, "__version__", "?"), "snntorch": snntorch.__version__,
                "norse": getattr(norse, "__version__", "?"), "torch": torch.__version__,
                "python": platform.python_version()}
    return {"inputs": n, "steps": steps, "seed": seed, "dt": 1e-4, "versions": versions,
            "table": main, "conventions": other, "peer_exports": peer_exports(FIXTURES)}


def peer_exports(folder: Path) -> list[dict]:
    """The graphs Sinabs and Rockpool exported (fixtures, with the library's own outputs)
    imported by us: one row each (empty when the fixtures are absent)."""
    if not folder.is_dir():
        return []
    rows = []
    for name, (mode, convention) in PEER_FIXTURES.items():
        ours, theirs, info = run_fixture(folder, name)
        samples, entries = count_agreement(ours, theirs)
        rows.append({"fixture": name, "library": f"{info['library']} {info['version']}",
                     "nir": info["nir"], "network": info["network"], "import": mode,
                     "dt": info["dt"], "identical_inputs": samples, "identical_entries": entries,
                     "spikes_source": int(theirs.sum()), "spikes_importer": int(ours.sum()),
                     "convention": convention})
    return rows


def markdown(report: dict) -> str:
    v = report["versions"]
    lines = [f"NIR round trips: {report['inputs']} random inputs x {report['steps']} steps, dt = 1e-4 s "
             f"(snnTorch {v['snntorch']}, Norse {v['norse']}, nir {v['nir']}, nirtorch {v['nirtorch']}, "
             f"torch {v['torch']}).", "",
             "Identical output spikes (fraction of inputs whose whole output spike train is identical; "
             "in brackets the fraction of output entries):", "",
             "| pair | " + " | ".join(NAMES[k] for k in KINDS) + " |",
             "| --- |" + " --- |" * len(KINDS)]
    pairs = dict.fromkeys(r["pair"] for r in report["table"])
    for pair in pairs:
        cells = []
        for kind in KINDS:
            r = next(r for r in report["table"] if r["pair"] == pair and r["net"] == NAMES[kind])
            cells.append(f"{100 * r['identical_inputs']:.0f}% ({100 * r['identical_entries']:.2f}%, "
                         f"{r['spikes_source']} spikes)")
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    lines += ["", "Where a convention differs:", "",
              "| pair | net | identical inputs | identical entries | spikes source / importer | convention |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in report["conventions"]:
        lines.append(f"| {r['pair']} | {r['net']} | {100 * r['identical_inputs']:.0f}% | "
                     f"{100 * r['identical_entries']:.2f}% | {r['spikes_source']} / {r['spikes_importer']} | "
                     f"{r['convention']} |")
    if report.get("peer_exports"):
        lines += ["", "Graphs exported by Sinabs and Rockpool (fixtures in tests/data/nir_peers, each "
                  "library's own outputs), imported by us with reset='subtract':", "",
                  "| library (nir) -> us | fixture | import, dt | identical inputs | identical entries | "
                  "spikes library / us | convention |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in report["peer_exports"]:
            lines.append(f"| {r['library']} (nir {r['nir']}) | {r['fixture']} | {r['import']}, {r['dt']:g} | "
                         f"{100 * r['identical_inputs']:.0f}% | {100 * r['identical_entries']:.2f}% | "
                         f"{r['spikes_source']} / {r['spikes_importer']} | {r['convention']} |")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=100, help="random inputs (default 100)")
    ap.add_argument("--steps", type=int, default=25, help="time steps per input (default 25)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out", help="folder for nir_roundtrip.md / .json (default out)")
    a = ap.parse_args(argv)
    report = measure(a.inputs, a.steps, a.seed)
    text = markdown(report)
    out = Path(a.out)
    _write(out / "nir_roundtrip.md", text)
    _write(out / "nir_roundtrip.json", json.dumps(report, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
