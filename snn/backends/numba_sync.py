"""Thread synchronisation for the numba run loop on several threads: atomics and a barrier.

numba has no atomic operations on the CPU, so these are LLVM intrinsics: ``atomic_add``
(sequentially consistent read-modify-write), ``atomic_load`` (acquire), ``cpu_pause`` (the
spin-wait hint: ``pause`` on x86-64, ``yield`` on Arm) and ``yield_cpu`` (``sched_yield``,
which hands the core to another runnable thread). They compile into cached machine code like
any other njit function.

:func:`barrier` is a counting barrier on one ``int64`` word: the ``e``-th barrier of a thread
adds one to the word and waits until it reaches ``e * threads``, so it needs no reset between
barriers (the counter is zeroed once per call of the run loop). A waiting thread spins
:data:`SPINS` times with ``cpu_pause`` (a few microseconds: the usual imbalance between
threads on idle cores) and then yields its core between checks, so a thread that waits for a
descheduled one does not keep that one off a busy machine's cores.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Spin-wait iterations (``pause`` hints, about 5-40 ns each) before a waiting thread starts
#: yielding its core between checks.
SPINS = 500

# The spin-wait hint as an LLVM intrinsic (name, arguments) for this processor.
_PAUSE = {"x86_64": ("llvm.x86.sse2.pause", ()), "amd64": ("llvm.x86.sse2.pause", ()),
          "aarch64": ("llvm.aarch64.hint", (1,)), "arm64": ("llvm.aarch64.hint", (1,))
          }.get(platform.machine().lower())


def _word_pointer(context, builder, sig, args):
    aryty = sig.args[0]
    ary = context.make_array(aryty)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)


def _check_word_array(arr) -> None:
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        raise TypeError(f"atomics need a 1-d int64 array, got {arr}")


@intrinsic
def atomic_add(typingctx, arr, index, value):
    """``arr[index] += value`` atomically (sequentially consistent); returns the old value."""
    _check_word_array(arr)
    sig = types.int64(arr, index, value)

    def codegen(context, builder, sig, args):
        ptr = _word_pointer(context, builder, sig, args)
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, index):
    """``arr[index]`` read with acquire ordering (later reads see what the writer wrote
    before its release)."""
    _check_word_array(arr)
    sig = types.int64(arr, index)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_word_pointer(context, builder, sig, args), "acquire", 8)

    return sig, codegen


@intrinsic
def cpu_pause(typingctx):
    """The processor's spin-wait hint (nothing on processors without one)."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        if _PAUSE is not None:
            name, values = _PAUSE
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i32] * len(values)), name)
            builder.call(fn, [ir.Constant(i32, v) for v in values])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def yield_cpu(typingctx):
    """``sched_yield()``: let another runnable thread have this core."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def barrier(count, target: int) -> int:
    """Arrive at a barrier and wait until ``count[0]`` reaches ``target`` (``threads`` times
    the number of barriers each thread has passed, this one included). Returns the number of
    checks this thread waited for (0: it arrived last)."""
    atomic_add(count, 0, 1)
    waits = 0
    while atomic_load(count, 0) < target:
        waits += 1
        if waits < SPINS:
            cpu_pause()
        else:
            yield_cpu()
    return waits


__all__ = ["SPINS", "atomic_add", "atomic_load", "barrier", "cpu_pause", "yield_cpu"]
