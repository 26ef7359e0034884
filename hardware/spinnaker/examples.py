"""The networks the SpiNNaker commands take by name, or from a Python file.

``cuba``         the CUBA benchmark (:func:`snn.bench.cuba.cuba_network`), ``neurons`` neurons
                 (default 4000);
``song-abbott``  Song, Miller & Abbott's STDP experiment with current-based LIF
                 (:func:`snn.bench.stdp.song_abbott_network`, ``membrane="example"``),
                 ``neurons`` Poisson inputs (default 1000);
``pattern``      the STDP + homeostasis pattern detector in training
                 (:class:`rules.pattern.PatternDetector`, one pattern of half of ``neurons``
                 inputs, default 32), sampled at its 1 ms step;
``file.py``      a Python file defining ``build_network()`` (or ``network``) returning a
                 :class:`snn.Network`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = ("cuba", "pattern", "song-abbott")


def example_network(name: str, neurons: int | None = None, seed: int = 0):
    """The network ``name`` stands for (see the module docstring): a :class:`snn.Network`,
    or for ``pattern`` its sampled :class:`~snn.network.BuiltNetwork`."""
    if name == "cuba":
        from snn.bench.cuba import cuba_network

        return cuba_network(4000 if neurons is None else neurons)
    if name == "song-abbott":
        from snn.bench.stdp import N_INPUTS, song_abbott_network

        return song_abbott_network(seed, membrane="example",
                                   n_inputs=N_INPUTS if neurons is None else neurons)
    if name == "pattern":
        import numpy as np

        from rules.pattern import PatternDetector, make_patterns

        n_inputs = 32 if neurons is None else neurons
        rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
        patterns = make_patterns(n_inputs, n_inputs // 2, 1, None, rng)
        model = PatternDetector(n_inputs, 1, pattern_size=n_inputs // 2, seed=seed)
        targets = np.zeros(model.config.presentations, dtype=np.int64)
        sim, _ = model._network(patterns[targets], targets, rng)
        return sim.built
    path = Path(name)
    if path.suffix == ".py" and path.is_file():
        spec = importlib.util.spec_from_file_location(f"_synaptica_map_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if callable(getattr(module, "build_network", None)):
            return module.build_network()
        if hasattr(module, "network"):
            return module.network
        raise ValueError(f"{path} defines neither build_network() nor network; add "
                         "def build_network(): ... return net")
    raise ValueError(f"network {name!r} is unknown: use one of {', '.join(EXAMPLES)} or a "
                     "Python file that defines build_network()")


def add_network_arguments(parser) -> None:
    """The arguments ``synaptica emulate`` and ``synaptica map`` share: the network, its size,
    the machine and the neurons per core."""
    from snn.cli.common import positive_int

    parser.add_argument("network", metavar="NETWORK",
                        help="cuba, pattern, song-abbott, or a Python file defining build_network()")
    parser.add_argument("--neurons", type=positive_int,
                        help="size of a built-in network (cuba: neurons, default 4000; song-abbott: "
                             "inputs, default 1000; pattern: inputs, default 32)")
    parser.add_argument("--machine", default="spinn5",
                        help="spinn3, spinn5 or WxH such as 16x16 (add -wrap for a torus); "
                             "default spinn5")
    parser.add_argument("--neurons-per-core", type=positive_int,
                        help="neurons per core of every neuron population (default 256; Poisson 500)")


__all__ = ["add_network_arguments", "EXAMPLES", "example_network"]
