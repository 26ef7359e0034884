"""Encoders streamed a chunk of time steps at a time (issue 13 §3c): ``snn.encoding.SpikeStream``
gives bit for bit the whole encoding and leaves the generator where the whole encoding does;
TESS, forward-forward and CCL train identically on a stream and on the whole encoded batch, and
their peak memory, measured by the CPU allocator with the input's encoding inside the step, does
not grow from T = 10 to T = 400."""

import pytest

torch = pytest.importorskip("torch")

import rules  # noqa: E402
from rules.base import cpu_peak_bytes  # noqa: E402
from snn.encoding import SpikeStream, direct, latency, rate  # noqa: E402


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk", [1, 4, 7, 50])
def test_rate_stream_is_the_whole_encoding_bit_for_bit(dtype, chunk):
    x = torch.rand(5, 13, generator=seeded(2), dtype=dtype)
    g_whole, g_stream = seeded(9), seeded(9)
    whole = rate(x, 23, gain=0.7, generator=g_whole)
    stream = SpikeStream(x, 23, gain=0.7, generator=g_stream, chunk_steps=chunk)
    # creating the stream leaves the generator where the whole encoding leaves it
    after_whole, after_stream = (torch.rand(8, generator=g, dtype=dtype) for g in (g_whole, g_stream))
    assert torch.equal(after_whole, after_stream)
    parts = list(stream.chunks())
    assert [len(p) for p in parts] == [min(chunk, 23 - s) for s in range(0, 23, chunk)]
    assert all(getattr(p, "_synaptica_binary", False) for p in parts)
    assert torch.equal(torch.cat(parts), whole)
    assert torch.equal(torch.cat(list(stream.chunks(3))), whole)  # replayed, in other chunks
    assert torch.equal(stream.dense(), whole) and stream.shape == whole.shape and stream.dim() == 3
    assert 0 < float(whole.mean()) < 1  # the comparison is not between empty trains


def test_latency_direct_dtype_and_batch_selection():
    x = torch.rand(6, 4, generator=seeded(1))
    assert torch.equal(SpikeStream(x, 11, "latency", chunk_steps=3).dense(), latency(x, 11))
    assert int(latency(x, 11).sum()) > 0
    assert torch.equal(torch.cat(list(SpikeStream(x, 5, "direct", chunk_steps=2).chunks())), direct(x, 5))
    stream = SpikeStream(x, 9, generator=seeded(4), dtype=torch.float64, chunk_steps=2)
    whole = rate(x, 9, generator=seeded(4))
    assert torch.equal(stream.dense(), whole.double()) and stream.dense().dtype == torch.float64
    idx = torch.tensor([4, 1, 3])
    picked = stream[:, idx]
    assert picked.shape == (9, 3, 4) and torch.equal(picked.dense(), whole.double()[:, idx])
    assert torch.equal(picked[:, torch.tensor([2, 0])].dense(), whole.double()[:, idx[[2, 0]]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_rate_stream_on_cuda_is_the_whole_encoding():
    x = torch.rand(64, 100, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    g_whole, g_stream = (torch.Generator("cuda").manual_seed(3) for _ in range(2))
    whole = rate(x, 37, generator=g_whole)
    stream = SpikeStream(x, 37, generator=g_stream, chunk_steps=5)
    assert torch.equal(torch.rand(9, device="cuda", generator=g_whole),
                       torch.rand(9, device="cuda", generator=g_stream))
    assert torch.equal(torch.cat(list(stream.chunks(4))), whole) and 0 < float(whole.mean()) < 1


def test_bad_arguments():
    x = torch.rand(2, 3)
    with pytest.raises(ValueError, match="encoder"):
        SpikeStream(x, 4, "poisson")
    with pytest.raises(ValueError, match="steps"):
        SpikeStream(x, 0)
    with pytest.raises(ValueError, match="chunk_steps"):
        SpikeStream(x, 4, chunk_steps=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        SpikeStream([[0.5]], 4)
    with pytest.raises(TypeError, match="stream\\[:, idx\\]"):
        SpikeStream(x, 4, generator=seeded(0))[2]


def digits_batch(rule, n: int):
    from snn.datasets import load_digits

    train, _ = load_digits().stratified_split(0.2, seed=0)
    return rule._inputs(train[:n])


@pytest.mark.parametrize("name, options", [("tess", {}), ("ff", {}), ("ff", {"negatives": "label"}),
                                           ("ccl", {})])
def test_training_on_a_stream_equals_training_on_the_whole_encoding(name, options):
    cls = rules.get(name)
    a, b = (cls.build([64, 24, 10], steps=12, seed=3, batch_size=16, **options) for _ in range(2))
    x, y = digits_batch(a, 16)
    stream = a._stream(x, seeded(5))
    assert isinstance(stream, SpikeStream)
    whole = rate(x, 12, generator=seeded(5))  # the encoding as it was before streaming
    a.train_batch(stream, y)
    b.train_batch(whole, y)
    state_a, state_b = a_modules(a).state_dict(), a_modules(b).state_dict()
    for key, value in state_a.items():
        assert torch.equal(value, state_b[key]), key
    assert torch.equal(a.scores(a._stream(x, seeded(6))), b.scores(rate(x, 12, generator=seeded(6))))


def a_modules(rule):
    return rule.net if hasattr(rule, "net") else rule.modules


def flat_in_t(name: str, long: int, batch: int) -> None:
    """The CPU allocator's peak of a training step whose input is encoded inside the step: with
    the stream, T = ``long`` holds at most 1.2x what T = 10 holds; the whole encoding at
    T = ``long`` (what the rules read before) holds several times more, so the measurement
    sees inputs."""
    cls = rules.get(name)
    peak = {}
    for steps in (10, long):
        rule = cls.build([64, 32, 10], steps=steps, seed=0, batch_size=batch)
        x, y = digits_batch(rule, batch)
        gen = seeded(0)
        peak[steps] = cpu_peak_bytes(lambda r=rule, x=x, y=y, g=gen: r.train_batch(r._stream(x, g), y))
    whole = cpu_peak_bytes(lambda r=rule, x=x, y=y, g=gen: r.train_batch(r._encode(x, g), y))
    assert peak[long] <= 1.2 * peak[10], peak
    assert whole > 2 * peak[long], (whole, peak)


@pytest.mark.parametrize("name", ["tess", "ff", "ccl"])
def test_peak_memory_is_flat_in_T_including_the_input(name):
    flat_in_t(name, 100, 16)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tess", "ff", "ccl"])
def test_peak_memory_at_T400_is_within_1_2x_of_T10(name):
    flat_in_t(name, 400, 32)
