"""Plastic projections on the torch simulation backend, whatever the mechanism.

A mechanism runs on torch through an implementation registered with
``@implements(Mechanism, "torch")`` (a subclass of :class:`TorchPlasticity`). A plastic
projection keeps its weights as one float64 tensor in CSR order (the numba backend's order)
and delivers the spikes of a step synapse by synapse with ``index_add_`` in CSR order (on the
CPU that adds in the same order as the numba loop, so float64 sums agree bit for bit), then
calls the mechanisms on the synapses of the neurons that fired: ``on_pre`` for the rows of
presynaptic spikes, ``on_post`` for the columns of postsynaptic spikes (through the CSC
index), then ``after``. Each synapse is touched at most once per phase, so the vectorised
updates equal the numba loop's sequential ones.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import implementation_for
from snn.backends.common import csc_index, mechanisms


class TorchPlasticity:
    """Base class of a plasticity mechanism's torch implementation."""

    def setup(self, mech, proj, n_pre: int, n_post: int, dt: float, device) -> dict:
        """The mechanism's state and constants (tensors on ``device``)."""
        return {}

    def on_pre(self, mech, st: dict, w: torch.Tensor, q: torch.Tensor, i: torch.Tensor,
               j: torch.Tensor, k: int) -> None:
        """Update ``w[q]`` for synapses ``q`` (pre ``i``, post ``j``) of presynaptic spikes."""

    def on_post(self, mech, st: dict, w: torch.Tensor, q: torch.Tensor, i: torch.Tensor,
                j: torch.Tensor, k: int) -> None:
        """Update ``w[q]`` for synapses into postsynaptic neurons that fired."""

    def after(self, mech, st: dict, w: torch.Tensor, pre: torch.Tensor, post: torch.Tensor,
              k: int, others: dict[str, torch.Tensor]) -> None:
        """Once per step after the updates; ``pre``/``post`` are the indices that fired,
        ``others`` the indices that fired in the populations of :meth:`populations`."""

    def populations(self, mech) -> dict[str, str]:
        """Other populations whose spikes ``after`` reads, as ``{token: population name}``."""
        return {}

    def finish(self, mech, st: dict, w: torch.Tensor, k: int) -> None:
        """Called at the end of each run, at step ``k``."""

    def set_modulator(self, mech, st: dict, w: torch.Tensor, k: int, value: float) -> None:
        """Set the mechanism's modulator at step ``k`` (mechanisms without one ignore it)."""


def ranges(ptr: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entries ``ptr[r]:ptr[r+1]`` of each row in ``rows``, concatenated in order, and the row
    of each entry."""
    start = ptr[rows]
    counts = ptr[rows + 1] - start
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if ends.numel() else 0
    entry = torch.arange(total, device=ptr.device)
    pos = torch.searchsorted(ends, entry, right=True)  # (repeat_interleave is ~1000x slower here)
    return start[pos] + entry - (ends - counts)[pos], rows[pos]


class PlasticProjection:
    """One plastic projection at run time: weights, CSR/CSC indices and mechanism states."""

    def __init__(self, proj, n_pre: int, n_post: int, dt: float, device) -> None:
        self.proj, self.n_post = proj, n_post
        self.device = torch.device(device)
        as_long = lambda a: torch.as_tensor(np.asarray(a, np.int64), device=self.device)  # noqa: E731
        self.w = torch.as_tensor(np.asarray(proj.weights, np.float64), device=self.device)
        if self.device.type == "cpu":  # share memory: BuiltProjection.weights stays current
            self.w = torch.from_numpy(proj.weights)
        self.indptr, self.indices = as_long(proj.indptr), as_long(proj.indices)
        self.delays = as_long(proj.delays if proj.delays is not None
                              else np.full(proj.n_synapses, proj.delay))
        cptr, csyn, cpre = csc_index(proj.indptr, proj.indices, n_post)
        self.cptr, self.csyn, self.cpre = as_long(cptr), as_long(csyn), as_long(cpre)
        self.mechs = []
        for mech in mechanisms(proj.plasticity):
            impl = implementation_for(mech, "torch")
            self.mechs.append((impl, mech, impl.setup(mech, proj, n_pre, n_post, dt, self.device)))

    def step(self, k: int, fired_pre: torch.Tensor, fired_post: torch.Tensor,
             ring: torch.Tensor, fired_by_name: dict[str, torch.Tensor]) -> None:
        """Deliver step ``k``'s presynaptic spikes into ``ring`` (depth x n_post) and apply the
        mechanisms (``fired_by_name``: every population's boolean spikes of this step)."""
        pre = torch.nonzero(fired_pre).flatten()
        post = torch.nonzero(fired_post).flatten()
        w = self.w
        if pre.numel():
            q, i = ranges(self.indptr, pre)
            j = self.indices[q]
            slot = (k + self.delays[q]) % ring.shape[0]
            ring.view(-1).index_add_(0, slot * self.n_post + j, w[q])
            for impl, mech, st in self.mechs:
                impl.on_pre(mech, st, w, q, i, j, k)
        if post.numel():
            c, j = ranges(self.cptr, post)
            q, i = self.csyn[c], self.cpre[c]
            for impl, mech, st in self.mechs:
                impl.on_post(mech, st, w, q, i, j, k)
        for impl, mech, st in self.mechs:
            others = {}
            for token, name in impl.populations(mech).items():
                if name not in fired_by_name:
                    raise ValueError(f"{type(mech).__name__} on projection {self.proj.name!r} reads "
                                     f"the population {name!r}, which is not in the network")
                others[token] = torch.nonzero(fired_by_name[name]).flatten()
            impl.after(mech, st, w, pre, post, k, others)

    def finish(self, k: int) -> None:
        """End of a run at step ``k``: let the mechanisms bring their synapses up to date."""
        for impl, mech, st in self.mechs:
            impl.finish(mech, st, self.w, k)

    def set_modulator(self, name: str, value: float, k: int) -> int:
        """Set modulator ``name`` in every mechanism that has it; returns how many did."""
        count = 0
        for impl, mech, st in self.mechs:
            if getattr(mech, "modulator", None) == name:
                impl.set_modulator(mech, st, self.w, k, value)
                count += 1
        return count

    def weights(self) -> np.ndarray:
        """A copy of the weights (CSR order)."""
        return self.w.detach().cpu().numpy().copy()

    def set_weights(self, values: np.ndarray) -> None:
        """Overwrite the weights (CSR order)."""
        self.w.copy_(torch.as_tensor(values, dtype=torch.float64, device=self.w.device))


__all__ = ["PlasticProjection", "TorchPlasticity", "ranges"]
