"""CLI: ``synaptica export FORMAT ...``, a network out of Synaptica.

Each format registers its own subcommand: ``pynn`` (:mod:`hardware.cli_nest`) and the chip
targets ``loihi`` and ``xylo`` (:mod:`hardware.targets`) here, and ``nir``
(:func:`hardware.nir.cli.add_export_nir`).
"""

from __future__ import annotations

import argparse
import json


def load_bptt(checkpoint: str, beta: float | None, readout: str | None):
    """The layers of a ``synaptica train bptt`` checkpoint, which must end in a spiking read-out."""
    from rules.bptt import load_network

    net, _ = load_network(checkpoint, beta=beta, readout=readout)
    if type(net[-1].neuron).__name__ != "LIF":
        raise ValueError(f"{checkpoint!r} ends in an LI read-out; chips need a spiking one: train "
                         "with `synaptica train bptt --readout lif`")
    return net


def cmd_export_loihi(a: argparse.Namespace) -> int:
    from hardware.targets import loihi

    net = load_bptt(a.checkpoint, a.beta, a.readout)
    layers = loihi.quantize(net)
    path = loihi.write_netx(layers, a.out)
    info = {"netx": str(path), "layers": [
        {"shape": list(layer.weight.shape), "vThMant": layer.v_th_mant, "iDecay": layer.i_decay,
         "vDecay": layer.v_decay, "scale": layer.scale} for layer in layers]}
    if a.json:
        print(json.dumps(info))
    else:
        print(f"wrote {path} (lava-dl netx; run it with lava-nc, see docs/deploy.md)")
        for i, layer in enumerate(info["layers"]):
            print(f"  layer {i}: {layer['shape'][1]} -> {layer['shape'][0]}, vThMant "
                  f"{layer['vThMant']}, vDecay {layer['vDecay']}, scale {layer['scale']:.4g}")
    return 0


def cmd_export_xylo(a: argparse.Namespace) -> int:
    from hardware.targets import xylo

    net = load_bptt(a.checkpoint, a.beta, a.readout)
    spec = xylo.quantize(net)
    path = xylo.save_spec(spec, a.out)
    info = {"spec": str(path), "hidden": int(spec.weights_in.shape[1]),
            "outputs": int(spec.weights_out.shape[1]), "dash_mem": int(spec.dash_mem[0]),
            "dash_syn": int(spec.dash_syn[0]), "threshold": int(spec.threshold[0]),
            "threshold_out": int(spec.threshold_out[0]),
            "weight_shift_in": spec.weight_shift_in, "weight_shift_out": spec.weight_shift_out}
    if a.json:
        print(json.dumps(info))
    else:
        print(f"wrote {path} (XyloSim.from_specification(**numpy.load(path)); see docs/deploy.md)")
        print("  " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "spec"))
    return 0


def add_parser(sub) -> None:
    """Register ``export`` and its formats under the top-level subparsers (see :mod:`snn.cli`)."""
    from hardware.cli_nest import add_export_pynn

    export = sub.add_parser("export", help="export a network: pynn, nir, loihi",
                            description="Write a network in another tool's format.")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    add_export_pynn(formats)
    from hardware.nir.cli import add_export_nir

    add_export_nir(formats)
    lo = formats.add_parser(
        "loihi", help="a BPTT-trained net as a Loihi 2 netx file (lava-dl)",
        description="Quantise a network trained by `synaptica train bptt --readout lif` to "
                    "Loihi 2's integers (8-bit weights, 12-bit decays, threshold mantissa) and "
                    "write it as a lava-dl netx HDF5 file.")
    lo.add_argument("checkpoint", metavar="CHECKPOINT", help="the .h5 checkpoint of the run")
    lo.add_argument("-o", "--out", required=True, help="netx file to write (.h5)")
    lo.add_argument("--beta", type=float, default=None,
                    help="override the checkpoint's recorded --beta")
    lo.add_argument("--readout", choices=["lif"], default=None,
                    help="Loihi needs a spiking read-out (train with --readout lif)")
    lo.add_argument("--json", action="store_true", help="print one JSON object")
    lo.set_defaults(func=cmd_export_loihi)
    xy = formats.add_parser(
        "xylo", help="a BPTT-trained net as a SynSense Xylo specification (rockpool)",
        description="Quantise a two-layer network trained by `synaptica train bptt --readout lif` "
                    "to Xylo's integers (int8 weights with shifts, int16 thresholds, time "
                    "constants as bit shifts) and write the arguments of rockpool's "
                    "XyloSim.from_specification as .npz.")
    xy.add_argument("checkpoint", metavar="CHECKPOINT", help="the .h5 checkpoint of the run")
    xy.add_argument("-o", "--out", required=True, help="specification file to write (.npz)")
    xy.add_argument("--beta", type=float, default=None,
                    help="override the checkpoint's recorded --beta")
    xy.add_argument("--readout", choices=["lif"], default=None,
                    help="Xylo needs a spiking read-out (train with --readout lif)")
    xy.add_argument("--json", action="store_true", help="print one JSON object")
    xy.set_defaults(func=cmd_export_xylo)
