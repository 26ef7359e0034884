"""Device kernels of the chunked torch engine (:mod:`snn.backends.torch.chunked`).

:func:`deliver` scatters the synapse rows of the neurons that spiked in one step into a
projection's ring buffer, event-driven as GeNN and Brian2CUDA do: one Triton program per
entry of the compacted spike buffer, looping over that neuron's CSR row in blocks and adding
each weight (float64) to ``ring[(k + delay) % depth, sample, post]`` with an atomic add.
Sums of float32 weights in float64 are exact, so the order the atomics land in does not
change the result. Without Triton (or on the CPU, unless asked for), the same scatter runs as
torch gather/``index_add_`` operations over a fixed ``capacity x longest row`` window, which
also needs no host synchronisation.

On the CPU the Triton kernel runs in Triton's interpreter (``TRITON_INTERPRET=1``, set before
the first ``import triton``), which is how the tests exercise it without a GPU.
"""

from __future__ import annotations

import torch

try:  # Triton ships with CUDA builds of torch; CPU-only installs may lack it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised only where triton is absent
    triton = None

HAVE_TRITON = triton is not None
BLOCK = 128  # synapses per block of a row


if HAVE_TRITON:

    @triton.jit
    def _deliver_kernel(spikes_ptr, count_ptr, indptr_ptr, indices_ptr, weights_ptr, delays_ptr,
                        ring_ptr, k_ptr, n_pre, n_post, slot_stride, depth, capacity,
                        BLOCK: tl.constexpr):
        s = tl.program_id(0)
        count = tl.minimum(tl.load(count_ptr), capacity)
        if s < count:
            flat = tl.load(spikes_ptr + s)  # sample * n_pre + neuron
            sample = flat // n_pre
            i = flat - sample * n_pre
            start = tl.load(indptr_ptr + i)
            end = tl.load(indptr_ptr + i + 1)
            k = tl.load(k_ptr)
            base = sample * n_post
            for q0 in range(start, end, BLOCK):
                q = q0 + tl.arange(0, BLOCK)
                m = q < end
                j = tl.load(indices_ptr + q, mask=m, other=0).to(tl.int64)
                w = tl.load(weights_ptr + q, mask=m, other=0.0).to(tl.float64)
                d = tl.load(delays_ptr + q, mask=m, other=0).to(tl.int64)
                slot = (k + d) % depth
                tl.atomic_add(ring_ptr + slot * slot_stride + base + j, w, mask=m)


def deliver(spikes: torch.Tensor, count: torch.Tensor, capacity: int, indptr: torch.Tensor,
            indices: torch.Tensor, weights: torch.Tensor, delays: torch.Tensor,
            ring: torch.Tensor, k: torch.Tensor, n_pre: int, n_post: int, max_row: int,
            use_triton: bool) -> None:
    """Add the rows of the spikes ``spikes[:min(count, capacity)]`` (flat ``sample * n_pre +
    neuron`` indices) into ``ring`` (float64, ``(depth, [batch,] n_post)``) at slot ``(k +
    delay) % depth``.

    ``indptr`` (int64, ``n_pre + 1``), ``indices`` (int32), ``weights`` (float32 or float64)
    and ``delays`` (int32, steps) are the projection's CSR arrays; ``count`` and ``k`` are
    one-element int64 device tensors; ``max_row`` is the longest row (the torch path's
    window).
    """
    depth = ring.shape[0]
    slot_stride = ring[0].numel()
    if use_triton:
        _deliver_kernel[(capacity,)](spikes, count, indptr, indices, weights, delays, ring, k,
                                     n_pre, n_post, slot_stride, depth, capacity, BLOCK=BLOCK)
        return
    if max_row == 0:
        return
    device = spikes.device
    live = torch.arange(capacity, device=device) < count  # (capacity,)
    flat = spikes[:capacity]
    sample = torch.div(flat, n_pre, rounding_mode="floor")
    i = flat - sample * n_pre
    start = indptr[i]
    length = indptr[i + 1] - start
    offset = torch.arange(max_row, device=device)
    valid = live[:, None] & (offset[None, :] < length[:, None])  # (capacity, max_row)
    q = torch.where(valid, start[:, None] + offset[None, :], 0)
    w = torch.where(valid, weights[q].to(torch.float64), 0.0)
    slot = (k + delays[q].to(torch.int64)) % depth
    target = slot * slot_stride + sample[:, None] * n_post + indices[q].to(torch.int64)
    ring.view(-1).index_add_(0, target.flatten(), w.flatten())


__all__ = ["BLOCK", "HAVE_TRITON", "deliver"]
