"""``synaptica info``: versions, backends, threads, CUDA."""

from __future__ import annotations

import argparse

from snn.cli.common import print_json, print_table


def cmd_info(a: argparse.Namespace) -> int:
    import platform
    from importlib import metadata

    import numba
    import numpy

    from snn import __version__
    from snn.backends import available_backends
    from snn.backends.common import kernel_cache_dir
    from snn.backends.numba import NEURONS_PER_THREAD

    info = {
        "synaptica": __version__, "python": platform.python_version(),
        "platform": platform.platform(), "numpy": numpy.__version__,
        "numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS,
        # net.build(backend="numba", threads=n or "auto"): one per this many neurons, one a core
        "numba_default_threads": "auto", "numba_neurons_per_thread": NEURONS_PER_THREAD,
        "backends": available_backends(), "kernel_cache": str(kernel_cache_dir()),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = bool(torch.cuda.is_available())
        info["cuda_devices"] = [torch.cuda.get_device_name(i)
                                for i in range(torch.cuda.device_count())]
    except ImportError:
        info["torch"], info["cuda"], info["cuda_devices"] = None, False, []
    for key, dist in (("h5py", "h5py"), ("brian2", "brian2"), ("nest", "nest-simulator")):
        try:
            info[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[key] = None
    if a.json:
        print_json(info)
    else:
        print_table([(k, ", ".join(v) if isinstance(v, list) else v) for k, v in info.items()])
    return 0


def add_parser(subparsers) -> None:
    """Add the ``info`` command."""
    info = subparsers.add_parser("info", help="versions, backends, threads, CUDA")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_info)
