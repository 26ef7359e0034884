"""Device kernels of the chunked torch engine (:mod:`snn.backends.torch.chunked`).

Each has a Triton kernel (one launch, so one node of a CUDA graph) and an equivalent made of
torch operations, used where Triton is not (and by default on the CPU).

:func:`compact` appends the indices of the set flags of a step to a fixed-capacity buffer and
counts them on the device, as GeNN does: each Triton program takes a block of flags, reserves
room with one atomic add on the count and writes its indices in order; the blocks land in
any order (the torch version keeps them sorted), which neither the delivery (exact sums) nor
the monitors (sorted when drained) notice. Indices beyond the capacity are dropped but
counted, so the caller sees the overflow.

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
FLAGS_BLOCK = 1024  # flags per program of the compaction and neurons per program of arrive


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


    @triton.jit
    def _compact_kernel(flags_ptr, n, out_ptr, count_ptr, peak_ptr, capacity, k_ptr, k0_ptr,
                        stride, HAS_PEAK: tl.constexpr, BLOCK: tl.constexpr):
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        f = tl.load(flags_ptr + i, mask=i < n, other=0).to(tl.int64)
        total = tl.sum(f, 0)
        if total > 0:
            base = tl.atomic_add(count_ptr, total)
            pos = base + tl.cumsum(f, 0) - 1
            code = (tl.load(k_ptr) - tl.load(k0_ptr)) * stride + i
            tl.store(out_ptr + pos, code, mask=(f > 0) & (pos < capacity))
            if HAS_PEAK:
                tl.atomic_max(peak_ptr, base + total)

    @triton.jit
    def _arrive_kernel(ring_ptr, target_ptr, k_ptr, depth, size, BLOCK: tl.constexpr):
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = i < size
        slot = (tl.load(k_ptr) + 1) % depth
        r = tl.load(ring_ptr + slot * size + i, mask=m, other=0.0)
        t = tl.load(target_ptr + i, mask=m, other=0.0)
        tl.store(target_ptr + i, t + r.to(target_ptr.dtype.element_ty), mask=m)
        tl.store(ring_ptr + slot * size + i, tl.zeros_like(r), mask=m)


def compact(flags: torch.Tensor, out: torch.Tensor, count: torch.Tensor, capacity: int,
            k: torch.Tensor, k0: torch.Tensor, stride: int, index: torch.Tensor,
            use_triton: bool, peak: torch.Tensor | None = None) -> None:
    """Append ``(k - k0) * stride + i`` for every set ``flags[i]`` (bool, contiguous, 1-D)
    to ``out[count:capacity]`` (``out`` has ``capacity + 1`` entries) and add their number to
    ``count`` (one-element int64); with ``peak``, raise it to the new count. ``index`` is
    ``arange(flags.numel())`` on the device."""
    n = flags.numel()
    if use_triton:
        grid = (triton.cdiv(n, FLAGS_BLOCK),)
        _compact_kernel[grid](flags, n, out, count, count if peak is None else peak, capacity,
                              k, k0, stride, HAS_PEAK=peak is not None, BLOCK=FLAGS_BLOCK)
        return
    pos = torch.cumsum(flags, 0, dtype=torch.int64) - 1 + count
    dest = torch.where(flags, pos.clamp(max=capacity), capacity)  # the spare entry takes the rest
    out.scatter_(0, dest, (k - k0) * stride + index)
    count.copy_(pos[-1:] + 1)
    if peak is not None:
        torch.maximum(peak, count, out=peak)


def arrive(ring: torch.Tensor, target: torch.Tensor, k: torch.Tensor, use_triton: bool) -> None:
    """Add the ring slot of step ``k + 1`` (float64, ``ring[(k + 1) % depth]``) to ``target``
    (contiguous, rounded to its dtype) and clear the slot."""
    depth = ring.shape[0]
    if use_triton:
        size = target.numel()
        _arrive_kernel[(triton.cdiv(size, FLAGS_BLOCK),)](ring, target, k, depth, size,
                                                          BLOCK=FLAGS_BLOCK)
        return
    slot = ((k + 1) % depth).view(1)
    target += ring.index_select(0, slot)[0].to(target.dtype)
    ring.index_fill_(0, slot, 0.0)


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


__all__ = ["BLOCK", "FLAGS_BLOCK", "HAVE_TRITON", "arrive", "compact", "deliver"]
