"""CLI: ``synaptica export nir MODEL -o net.nir`` (registered by :mod:`hardware.cli_export`).

``MODEL`` is a checkpoint written by ``synaptica train bptt ... --out DIR`` (``DIR/bptt_<data>.h5``)
or an engine network spec as ``synaptica export pynn`` takes it (``file.py[:name]``, ``cuba[:N]``).
"""

from __future__ import annotations

import argparse

from rules.bptt import load_network


def cmd_export_nir(a: argparse.Namespace) -> int:
    from hardware.nir import write_nir

    options = {"dt": a.dt, "accept": tuple(a.accept)}
    if a.model.endswith((".h5", ".hdf5")):
        net, notes = load_network(a.model, a.neuron, a.beta, a.readout)
        if a.input_shape:
            options["input_shape"] = tuple(a.input_shape)
    else:
        from hardware.cli_nest import load_network as load_engine_network

        try:
            net, notes = load_engine_network(a.model), []
        except ValueError as err:
            raise ValueError(f"MODEL {a.model!r} is neither a BPTT checkpoint (.h5) nor an engine "
                             f"network ({err})") from err
        options["seed"] = a.seed
    for note in notes:
        print(f"synaptica: note: {note}")
    path = write_nir(net, a.out, **options)
    print(f"wrote {path}; import it with hardware.nir.from_nir(path, dt={a.dt:g}), "
          f"snntorch.import_nir.import_from_nir or norse.torch.from_nir(graph, dt={a.dt:g})")
    return 0


def add_export_nir(formats) -> None:
    """Register ``nir`` under the ``export`` command's subparsers."""
    p = formats.add_parser(
        "nir", help="a NIR graph (snnTorch, Norse, Sinabs, Lava-DL, SpiNNaker2, ...)",
        description="Write MODEL as a NIR file (nir.write): Euler-equivalent parameters at --dt, our "
                    "dt, reset mode and units in the metadata (docs/nir.md).")
    p.add_argument("model", metavar="MODEL",
                   help="a BPTT checkpoint (.h5, from `synaptica train bptt`) or an engine network "
                        "(file.py[:name], cuba[:N])")
    p.add_argument("-o", "--out", required=True, help="the NIR file to write")
    p.add_argument("--dt", type=float, default=1e-4,
                   help="step (s) at which an importer's Euler step reproduces ours (default 1e-4, "
                        "snnTorch's; for engine networks also the simulation step)")
    p.add_argument("--accept", action="append", default=[], choices=["subtract", "refractory"],
                   help="allow an approximation NIR forces: subtract (reset by subtraction written as "
                        "reset to v_reset), refractory (refractory periods dropped); repeatable")
    p.add_argument("--input-shape", type=int, nargs="+", default=None,
                   help="one step's input shape without batch (needed if the net starts with Conv2d)")
    p.add_argument("--neuron", default=None, help="BPTT checkpoints without a recorded architecture: "
                                                  "hidden neuron (default lif)")
    p.add_argument("--beta", type=float, default=None, help="... their beta (default 0.9)")
    p.add_argument("--readout", default=None, choices=["li", "lif"], help="... their read-out (default li)")
    p.add_argument("--seed", type=int, default=0, help="engine networks: seed of the connectivity")
    p.set_defaults(func=cmd_export_nir)
