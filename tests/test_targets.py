"""Chip targets: Loihi 2 netx export and our model of Loihi's fixed point, against numbers
computed by hand from lava-nc's CUBA neuron; lava-nc itself as an opt-in check
(``SYNAPTICA_LAVA_PYTHON`` = a Python 3.10 with lava-nc 0.10.0 and lava-dl)."""

import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from hardware.targets import loihi
from snn.layers import Linear, Sequential
from snn.models import LI, LIF


def _net(weights, beta=0.5, bias=None):
    layers = []
    for w in weights:
        w = torch.as_tensor(np.asarray(w, dtype=np.float64), dtype=torch.float32)
        layer = Linear(w.shape[1], w.shape[0], LIF.from_beta(beta, dt=1e-3), dt=1e-3,
                       bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(w)
            if bias is not None:
                layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        layers.append(layer)
    return Sequential(*layers)


def test_quantize_by_hand():
    net = _net([[[0.9, -0.3]]], beta=0.5, bias=[0.05])
    (layer,) = loihi.quantize(net)
    scale = 254 / np.float32(0.9)                     # the largest weight fills 254
    assert layer.scale == pytest.approx(scale)
    assert layer.weight.tolist() == [[254, -84]]      # 2 round(s w / 2): -0.3 s = -84.67
    assert layer.bias.tolist() == [14]                # round(0.05 s) = round(14.1)
    assert layer.v_th_mant == 282                     # round(s * 1.0)
    assert (layer.i_decay, layer.v_decay) == (4096, 2048)   # delta synapse; 4096 (1 - 0.5)


def test_simulate_follows_loihi_cuba_by_hand():
    (layer,) = loihi.quantize(_net([[[0.9]]]))        # weight 254, vThMant 282, vDecay 2048
    spikes = np.array([[1], [1], [0], [0]], dtype=bool)
    out = loihi.simulate([layer], spikes)
    # t=1: a_in = 0 (the dense layer delivers a step late); t=2: u = 254 << 6 = 16256,
    # v = 16256 < 282 << 6 = 18048; t=3: v = 16256 / 2 + 16256 = 24384 > 18048: spike, v = 0.
    assert out[:, 0].tolist() == [False, False, True, False]
    # the float layer fires one step earlier (no dense delay): v = 0.9, then 1.35 > 1
    x = torch.as_tensor(spikes[:, None, :], dtype=torch.float32)
    assert net_spikes(_net([[[0.9]]]), x) == [0.0, 1.0, 0.0, 0.0]


def net_spikes(net, x):
    with torch.no_grad():
        return net(x)[:, 0, 0].tolist()


def test_simulate_reset_interval_zeroes_each_layer_in_turn():
    layers = loihi.quantize(_net([[[0.9]], [[1.2]]], beta=0.99))
    spikes = np.zeros((12, 1), dtype=bool)
    spikes[[0, 1, 2, 6, 7, 8]] = True
    no_reset = loihi.simulate(layers, spikes)
    reset = loihi.simulate(layers, spikes, reset_interval=6)
    # with the reset the second window repeats the first exactly, shifted by 6 steps
    assert reset[:6].tolist() == reset[6:].tolist()
    assert reset[:6].any() and no_reset.tolist() != reset.tolist()


def test_write_netx_layout(tmp_path):
    layers = loihi.quantize(_net([np.full((3, 2), 0.4), np.full((2, 3), -0.2)], bias=None))
    path = loihi.write_netx(layers, tmp_path / "net.h5")
    with h5py.File(path) as fh:
        assert sorted(fh["layer"]) == ["0", "1"]
        g = fh["layer/0"]
        assert g["type"][()] == b"dense" and g["shape"][()].tolist() == [3]
        assert g["weight"][()].shape == (3, 2) and "bias" not in g
        n = g["neuron"]
        assert n["type"][()] == b"CUBA"
        assert (n["iDecay"][()], n["vDecay"][()], n["vThMant"][()]) == (4096, 2048, 635)


def test_quantize_refuses_what_loihi_cannot_run():
    with pytest.raises(ValueError, match="--readout lif"):
        loihi.quantize(Sequential(Linear(2, 2, LI.from_beta(0.9, dt=1e-3), dt=1e-3)))
    with pytest.raises(ValueError, match="tau_syn_exc must be 0"):
        loihi.quantize(Sequential(Linear(2, 2, LIF(v_rest=0.0, v_reset=0.0, tau_ref=0.0,
                                                   v_thresh=1.0), dt=1e-3)))


LAVA = os.environ.get("SYNAPTICA_LAVA_PYTHON")


@pytest.mark.skipif(not LAVA, reason="set SYNAPTICA_LAVA_PYTHON to a Python with lava-nc 0.10.0")
def test_lava_nc_fixed_point_equals_our_model(tmp_path):
    rng = np.random.default_rng(0)
    net = _net([rng.normal(0, 0.3, (12, 8)), rng.normal(0, 0.3, (4, 12))], beta=0.9,
               bias=None)
    layers = loihi.quantize(net)
    path = loihi.write_netx(layers, tmp_path / "net.h5")
    stream = rng.random((200, 8)) < 0.4
    np.savez(tmp_path / "in.npz", spikes=stream, reset_interval=20)
    script = Path(loihi.__file__).with_name("lava_run.py")
    subprocess.run([LAVA, str(script), str(path), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, capture_output=True)
    theirs = np.load(tmp_path / "out.npz")["spikes"]
    ours = loihi.simulate(layers, stream, reset_interval=20)
    assert ours.sum() > 10
    assert np.array_equal(ours, theirs)


# -- Xylo ----------------------------------------------------------------------------------------


def test_xylo_quantize_by_hand():
    from hardware.targets import xylo

    net = _net([[[0.5, -0.25]], [[1.0]]], beta=0.9)
    spec = xylo.quantize(net)
    # tau_m = 9.49 dt -> dash_mem = round(log2 9.49) = 3; delta synapse -> dash_syn = 1
    assert int(spec.dash_mem[0]) == 3 and int(spec.dash_syn[0]) == 1
    # int8 weights scaled by 127 / max|W| = 254, then shifted left while the threshold stays
    # <= 2^12: 254 * 2^4 = 4064, so shift 4 and threshold 4064
    assert spec.weights_in[:, 0, 0].tolist() == [127, -64]   # -0.25 * 254 = -63.5 -> -64
    assert spec.weight_shift_in == 4 and int(spec.threshold[0]) == 4064
    assert spec.weights_out.tolist() == [[127]] and spec.weight_shift_out == 5
    assert int(spec.threshold_out[0]) == 127 * 32


def test_xylo_simulate_by_hand():
    from hardware.targets import xylo

    spec = xylo.XyloSpec(
        weights_in=np.array([[[100, 0]]]), weights_out=np.array([[50]]),
        dash_mem=np.array([2]), dash_syn=np.array([2]), dash_mem_out=np.array([2]),
        dash_syn_out=np.array([2]), threshold=np.array([150]), threshold_out=np.array([30]),
        bias=np.array([0]), bias_out=np.array([0]), weight_shift_in=0, weight_shift_out=0,
        dt=1e-3)
    spikes = np.array([[1], [1], [0], [0], [0]])
    # hidden: I = 75, 132, 99, 75; V = 75, 189 -> spike (39), 129, 172 -> spike (22)
    # output (one step later): I = 38 at step 2 -> V = 38 >= 30: one spike, V = 8;
    # step 3: I = 29, V = 8 - 2 + 29 = 35: spike, V = 5; step 4: I = 60 (spike of step 3),
    # V = 5 - 1 + 60 = 64: one spike (an output neuron fires at most once a step)
    assert xylo.simulate(spec, spikes)[:, 0].tolist() == [0, 0, 1, 1, 1]


def test_xylo_refuses_what_it_cannot_map():
    from hardware.targets import xylo

    with pytest.raises(ValueError, match="two Linear layers"):
        xylo.quantize(_net([[[0.5]]]))
    with pytest.raises(ValueError, match="output neurons"):
        xylo.quantize(_net([np.ones((4, 2)), np.ones((40, 4))]))


XYLO = os.environ.get("SYNAPTICA_XYLO_PYTHON")


@pytest.mark.skipif(not XYLO, reason="set SYNAPTICA_XYLO_PYTHON to a Python with rockpool 3.1.0 "
                                     "and xylosim")
def test_xylosim_equals_our_model(tmp_path):
    from hardware.targets import xylo

    rng = np.random.default_rng(1)
    net = _net([rng.normal(0, 0.4, (20, 8)), rng.normal(0, 0.4, (4, 20))], beta=0.9,
               bias=None)
    spec = xylo.quantize(net)
    path = xylo.save_spec(spec, tmp_path / "spec.npz")
    x = rng.random((6, 30, 8)) < 0.4
    np.savez(tmp_path / "in.npz", spikes=x)
    script = Path(xylo.__file__).with_name("xylo_run.py")
    subprocess.run([XYLO, str(script), str(path), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, capture_output=True)
    theirs = np.load(tmp_path / "out.npz")["spikes"]
    ours = np.stack([xylo.simulate(spec, s) for s in x])
    assert ours.sum() > 10
    assert np.array_equal(ours, theirs)


def test_cli_export_loihi_and_xylo(tmp_path, capsys):
    import json

    from rules.bptt import BPTT
    from snn.cli import main

    rule = BPTT.build([6, 5, 3], readout="lif", seed=2)
    ckpt = rule.save(tmp_path / "run.h5")
    assert main(["export", "loihi", str(ckpt), "-o", str(tmp_path / "net.h5"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [layer["shape"] for layer in info["layers"]] == [[5, 6], [3, 5]]
    assert h5py.File(tmp_path / "net.h5")["layer/1/neuron/vDecay"][()] == 410
    assert main(["export", "xylo", str(ckpt), "-o", str(tmp_path / "spec.npz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (info["hidden"], info["outputs"], info["dash_mem"]) == (5, 3, 3)
    assert np.load(tmp_path / "spec.npz")["weights_in"].shape == (6, 5, 2)
    assert main(["export", "loihi", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x.h5")]) == 1


def test_cli_export_refuses_an_li_readout(tmp_path, capsys):
    from rules.bptt import BPTT
    from snn.cli import main

    ckpt = BPTT.build([6, 5, 3], readout="li", seed=2).save(tmp_path / "run.h5")
    assert main(["export", "loihi", str(ckpt), "-o", str(tmp_path / "net.h5")]) == 1
    assert "--readout lif" in capsys.readouterr().err
