"""Generated kernels are keyed by structure, not parameters, and reused across processes."""

import json
import os
import subprocess
import sys

import snn
from snn.bench.cuba import cuba_network

PROBE = """
import json
from snn.bench.cuba import cuba_network
sim = cuba_network(300).build(dt=1e-4, seed=1)
stats = sim._kernel.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def test_parameters_do_not_change_the_kernel_source():
    a = cuba_network(300).build(dt=1e-4, seed=1)
    net = snn.Network()
    P = net.population(300, snn.LIF(tau_m=5e-3, v_thresh=-40e-3, tau_ref=0.0), name="P")
    net.connect(P[:200], P, snn.FixedProbability(0.3), weight=1e-3, synapse="exc", name="Ce")
    net.connect(P[200:], P, snn.FixedInDegree(4), weight=-2e-3, synapse="inh", name="Ci")
    net.spike_monitor(P, name="spikes")
    b = net.build(dt=5e-5, seed=9)
    assert a.source == b.source


def test_second_process_loads_the_compiled_kernel(tmp_path):
    env = dict(os.environ, SYNAPTICA_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE], env=env, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(2)]
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0
    assert runs[1]["hits"] == 1 and runs[1]["misses"] == 0
