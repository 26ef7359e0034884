"""Thread synchronisation for the numba run loop on several threads: atomics and a barrier.

numba has no atomic operations on the CPU, so these are LLVM intrinsics: ``atomic_add``
(read-modify-write) and ``atomic_load``, both sequentially consistent; ``cpu_pause`` (the
spin-wait hint: ``pause`` on x86-64, ``yield`` on Arm); ``futex_wait`` / ``futex_wake``
(Linux's futex system call: sleep until a word changes, wake its sleepers),
``yield_cpu`` (``sched_yield``) where there is no futex, ``thread_cpu_ns`` (the thread's
CPU clock), ``cycle_count`` (the processor's cycle counter, cheap to read)
and ``nonnegative`` (a promise to LLVM that an index is >= 0, so the threads'
block loops vectorise). They compile into cached machine
code like any other njit function.

:func:`barrier` is a counting barrier on an ``int64`` array: the ``e``-th barrier of a thread
adds one to word 0 and waits until it reaches ``e * threads``, so it needs no reset between
barriers (the counter is zeroed once per call of the run loop). A waiting thread spins
:data:`SPINS` times with ``cpu_pause`` (tens of microseconds: more than the usual imbalance
between threads on idle cores), then sleeps on the futex of word 0 (registered in word 1,
so the last thread to arrive makes the wake-up call only when someone sleeps). On a busy
machine a waiting thread therefore gives its core to the thread it waits for instead of
burning it.
"""

from __future__ import annotations

import platform
import sys

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Spin-wait iterations (``pause`` hints, about 10-40 ns each) before a waiting thread sleeps
#: (or, without a futex, yields its core between checks).
SPINS = 1000

# The spin-wait hint as an LLVM intrinsic (name, arguments) for this processor.
_PAUSE = {"x86_64": ("llvm.x86.sse2.pause", ()), "amd64": ("llvm.x86.sse2.pause", ()),
          "aarch64": ("llvm.aarch64.hint", (1,)), "arm64": ("llvm.aarch64.hint", (1,))
          }.get(platform.machine().lower())
# Linux's futex system call number on this processor (None: no futex, waiters yield instead).
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98, "ppc64le": 221,
              "s390x": 238, "riscv64": 98}.get(platform.machine().lower()) \
    if sys.platform.startswith("linux") else None
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129
#: Whether waiting threads sleep on a futex (Linux) rather than yield between checks.
HAS_FUTEX = _SYS_FUTEX is not None


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
    """``arr[index]`` read atomically (sequentially consistent: later reads see what the
    writer wrote before its atomic add)."""
    _check_word_array(arr)
    sig = types.int64(arr, index)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_word_pointer(context, builder, sig, args), "seq_cst", 8)

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


# CLOCK_THREAD_CPUTIME_ID of clock_gettime (None: no thread CPU clock, waits count as 0).
_THREAD_CLOCK = {"linux": 3, "darwin": 16}.get(
    "linux" if sys.platform.startswith("linux") else sys.platform)


@intrinsic
def thread_cpu_ns(typingctx):
    """CPU nanoseconds the calling thread has used (``clock_gettime`` of its CPU clock)."""
    sig = types.int64()

    def codegen(context, builder, sig, args):
        i64, i32 = ir.IntType(64), ir.IntType(32)
        if _THREAD_CLOCK is None:
            return ir.Constant(i64, 0)
        timespec = ir.LiteralStructType([i64, i64])
        ts = cgutils.alloca_once(builder, timespec)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i32, [i32, timespec.as_pointer()]), "clock_gettime")
        builder.call(fn, [ir.Constant(i32, _THREAD_CLOCK), ts])
        sec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 0))
        nsec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 1))
        return builder.add(builder.mul(sec, ir.Constant(i64, 10**9)), nsec)

    return sig, codegen


def _syscall(builder, number: int, *values) -> None:
    i64 = ir.IntType(64)
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64], var_arg=True),
                                        "syscall")
    builder.call(fn, [ir.Constant(i64, number), *values])


@intrinsic
def futex_wait(typingctx, arr, index, expected):
    """Sleep while the low 32 bits of ``arr[index]`` equal those of ``expected`` (returns at
    once if they differ; may return early, so callers check again)."""
    _check_word_array(arr)
    sig = types.void(arr, index, expected)

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        ptr = builder.bitcast(_word_pointer(context, builder, sig, args), ir.IntType(8).as_pointer())
        low = builder.and_(context.cast(builder, args[2], sig.args[2], types.int64),
                           ir.Constant(i64, 0xFFFFFFFF))
        _syscall(builder, _SYS_FUTEX, ptr, ir.Constant(i64, _FUTEX_WAIT_PRIVATE), low,
                 ir.Constant(ir.IntType(8).as_pointer(), None))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def futex_wake(typingctx, arr, index):
    """Wake every thread sleeping in :func:`futex_wait` on ``arr[index]``."""
    _check_word_array(arr)
    sig = types.void(arr, index)

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        ptr = builder.bitcast(_word_pointer(context, builder, sig, args), ir.IntType(8).as_pointer())
        _syscall(builder, _SYS_FUTEX, ptr, ir.Constant(i64, _FUTEX_WAKE_PRIVATE),
                 ir.Constant(i64, 2**31 - 1))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def cycle_count(typingctx):
    """The processor's cycle counter (``rdtsc`` on x86-64, ``cntvct`` on Arm; 0 where there is
    none): tens of cycles to read, against half a microsecond for a thread CPU clock, which
    is a system call under a hypervisor. Ticks become seconds with :func:`cycle_rate`."""
    sig = types.int64()

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])

    return sig, codegen


@njit(cache=True, nogil=True)
def cycles() -> int:
    """:func:`cycle_count` from Python."""
    return cycle_count()


_RATE: list[float] = []


def cycle_rate(window: float = 0.02) -> float:
    """Ticks of :func:`cycle_count` a second (measured once per process over ``window``
    seconds; 0 where the counter does not advance)."""
    if not _RATE:
        import time

        cycles()  # compiled or loaded before the window opens
        t0, c0 = time.perf_counter(), cycles()
        while time.perf_counter() - t0 < window:
            pass
        _RATE.append(max(0, cycles() - c0) / (time.perf_counter() - t0))
    return _RATE[0]


@njit(cache=True, nogil=True)
def barrier(count, target: int) -> int:
    """Arrive at a barrier and wait until ``count[0]`` reaches ``target`` (``threads`` times
    the number of barriers each thread has passed, this one included); ``count[1]`` counts
    the threads asleep. Returns the :func:`cycle_count` ticks this thread spent spinning (0 if
    it did not wait; time asleep on the futex is left out, as it uses no CPU). The counter,
    not the thread's CPU clock: the waiting thread reads it when the barrier opens, so a
    slow clock would delay it behind the thread it waited for, every step."""
    if atomic_add(count, 0, 1) + 1 == target:
        if HAS_FUTEX and atomic_load(count, 1) > 0:
            futex_wake(count, 0)
        return 0
    if atomic_load(count, 0) >= target:
        return 0
    start = cycle_count()  # only a thread that waits reads the counter
    asleep = 0
    waits = 0
    while True:
        now = atomic_load(count, 0)
        if now >= target:
            return cycle_count() - start - asleep
        waits += 1
        if waits < SPINS:
            cpu_pause()
        elif HAS_FUTEX:
            atomic_add(count, 1, 1)
            # the last thread's add changes word 0 before it reads word 1, so either it sees
            # this sleeper or the futex sees a changed word and returns at once
            slept = cycle_count()
            futex_wait(count, 0, now)
            asleep += cycle_count() - slept
            atomic_add(count, 1, -1)
        else:
            yield_cpu()


@intrinsic
def nonnegative(typingctx, value):
    """``value``, with the promise to LLVM that it is >= 0 (so loops from it index arrays without
    the negative-index check, and vectorise)."""
    sig = value(value)

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(1)]), "llvm.assume")
        builder.call(fn, [builder.icmp_signed(">=", args[0], ir.Constant(args[0].type, 0))])
        return args[0]

    return sig, codegen


__all__ = ["HAS_FUTEX", "SPINS", "atomic_add", "atomic_load", "barrier", "cpu_pause", "cycle_count",
           "cycle_rate", "cycles", "futex_wait", "futex_wake", "nonnegative", "thread_cpu_ns",
           "yield_cpu"]
