"""The rules benchmark harness: its JSON schema, the files it writes, reproducibility, failure
handling, and BPTT's synaptic-operation count. A tiny rule defined here (class prototypes of
input spike counts) stands in for the local rules, so the checks do not depend on them."""

import csv
import json
from dataclasses import asdict, dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rules  # noqa: E402
from rules.base import EpochRecord, batch_order, epoch_generator  # noqa: E402
from rules.bench import RulesBenchConfig, bench_rules, read_rules_bench, write_rules_bench  # noqa: E402
from rules.bptt import BPTT  # noqa: E402
from rules.metrics import METRIC_KEYS  # noqa: E402
from snn.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from snn.datasets import load_digits  # noqa: E402
from snn.encoding import rate  # noqa: E402


@dataclass
class ProtoConfig:
    steps: int = 10
    encoder: str = "rate"
    batch_size: int = 64
    lr: float = 1.0
    seed: int = 0


class Prototypes:
    """Sums of input spike counts per class; predicts the class whose mean is nearest in angle.
    No autograd: its training memory is exactly ``state_bytes``."""

    def __init__(self, n_in: int, n_classes: int, config: ProtoConfig, device: str = "cpu") -> None:
        self.config, self.device = config, device
        self.sums = torch.zeros(n_classes, n_in)
        self.history: list[EpochRecord] = []

    @classmethod
    def build(cls, sizes, *, steps=10, encoder="rate", seed=0, device="cpu", spiking=True, **options):
        if not spiking:
            raise ValueError("proto-test has no non-spiking variant")
        config = ProtoConfig(steps=steps, encoder=encoder, seed=seed, **options)
        return cls(sizes[0], sizes[-1], config, device)

    def _scores(self, counts: torch.Tensor) -> torch.Tensor:
        means = torch.nn.functional.normalize(self.sums, dim=1)
        return torch.nn.functional.normalize(counts, dim=1) @ means.t()

    def train_batch(self, x, y):
        counts = x.sum(0)
        scores = self._scores(counts)
        self.sums.index_add_(0, y, counts)
        return torch.zeros(()), scores

    def _xy(self, ds):
        return torch.as_tensor(ds.to_float32()), torch.as_tensor(np.asarray(ds.labels, dtype=np.int64))

    def fit(self, train, test=None, epochs=1, progress=False):
        x_all, y_all = self._xy(train)
        for epoch in range(len(self.history), epochs):
            order = batch_order(len(train), self.config.seed, epoch)
            gen = epoch_generator(self.config.seed, epoch)
            correct = 0
            for start in range(0, len(order), self.config.batch_size):
                idx = torch.as_tensor(order[start:start + self.config.batch_size])
                _, scores = self.train_batch(rate(x_all[idx], self.config.steps, generator=gen), y_all[idx])
                correct += int((scores.argmax(1) == y_all[idx]).sum())
            acc = self.evaluate(test) if test is not None else None
            self.history.append(EpochRecord(epoch + 1, 0.0, correct / len(train), acc, 0.01))
        return self.history

    def evaluate(self, ds):
        x, y = self._xy(ds)
        gen = torch.Generator().manual_seed(self.config.seed + 7)
        return float((self._scores(rate(x, self.config.steps, generator=gen).sum(0)).argmax(1) == y)
                     .float().mean())

    def synaptic_ops(self, x):
        return float(x.sum()) / x.shape[1] * self.sums.shape[0]

    def state_bytes(self, batch, steps):
        return self.sums.numel() * 4 + batch * self.sums.shape[1] * 4

    def save(self, path):
        return save_checkpoint(path, {"sums": self.sums.numpy()}, {"rule": "proto-test",
                                                                   "config": asdict(self.config)})

    def load(self, path):
        arrays, _ = load_checkpoint(path)
        self.sums = torch.as_tensor(arrays["sums"])


@pytest.fixture
def proto_rule():
    rules.register("proto-test")(Prototypes)
    yield "proto-test"
    rules._RULES.pop("proto-test", None)


@pytest.fixture(scope="module")
def small_digits():
    train, test = load_digits().stratified_split(0.2, seed=0)
    return train[:192], test[:96]


def tiny(**kw):
    base = dict(rules=("proto-test",), sizes=(64, 12, 10), steps=3, epochs=1, batch=32,
                memory_steps=(2, 6))
    return RulesBenchConfig(**{**base, **kw})


ROW_KEYS = {"rule", "test_accuracy", "wall_s_per_epoch", "peak_memory_bytes", "memory_by_T",
            "allocated_by_T", "synaptic_ops_per_sample"}


def test_cli_json_schema_and_files(proto_rule, tmp_path, capsys):
    from snn.cli import main

    assert main(["bench", "rules", "--rules", "proto-test", "--arch", "64-12-10", "--T", "3",
                 "--epochs", "1", "--batch", "128", "--no-snntorch", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [r["rule"] for r in report["rows"]]
    assert names == ["proto-test", "bptt"]
    for row in report["rows"]:
        assert set(row) == ROW_KEYS | (set() if row["rule"] == "proto-test" else set(METRIC_KEYS))
        assert set(row["memory_by_T"]) == {"10", "50", "200", "400"}
        assert 0 <= row["test_accuracy"] <= 1 and row["wall_s_per_epoch"] > 0
        assert row["synaptic_ops_per_sample"] > 0
    for key in ("dataset", "arch", "steps", "epochs", "batch", "seed", "device", "n_train", "n_test",
                "memory_method", "skipped", "notes", "files"):
        assert key in report
    proto, bptt = report["rows"][0], report["rows"][1]
    # The harness adds the rule's state_bytes(batch, T) and measures on the first 128 samples.
    assert set(proto["memory_by_T"].values()) == {10 * 64 * 4 + 128 * 64 * 4}
    train, _ = load_digits().stratified_split(0.2, seed=0)
    x = rate(torch.as_tensor(train[:128].to_float32()), 3, generator=torch.Generator().manual_seed(0))
    assert proto["synaptic_ops_per_sample"] == pytest.approx(float(x.sum()) / 128 * 10)
    # BPTT keeps every step for backward: its memory grows with T, roughly in proportion.
    by_t = [bptt["memory_by_T"][t] for t in ("10", "50", "200", "400")]
    assert by_t == sorted(by_t) and by_t[3] > 20 * by_t[0]
    # From the images, the prototype rule holds its whole encoded input (T x 128 x 64 float32).
    alloc = proto["allocated_by_T"]
    assert alloc["400"] >= 400 * 128 * 64 * 4 and alloc["400"] > 20 * alloc["10"]

    files = report["files"]
    with open(files["csv"], newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0][:4] == ["rule", "test_accuracy", "wall_s_per_epoch", "peak_memory_bytes"]
    assert [r[0] for r in table[1:]] == names
    back = read_rules_bench(files["h5"])
    assert back["rows"] == report["rows"] and back["arch"] == "64-12-10"
    with open(files["png"], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules_bench.csv", "rules_bench.h5",
                                                         "rules_bench.png"]


def test_same_seed_same_table(proto_rule, small_digits, tmp_path):
    train, test = small_digits
    a = bench_rules(train, test, tiny(seed=4))
    b = bench_rules(train, test, tiny(seed=4))

    def strip(report):
        return [{k: v for k, v in row.items() if k != "wall_s_per_epoch"} for row in report["rows"]]

    assert strip(a) == strip(b)
    snntorch = ["snntorch-bptt"] if a["snntorch"] else []  # the row is there when snntorch is
    assert [r["rule"] for r in a["rows"]] == ["proto-test", "bptt", *snntorch]
    write_rules_bench(a, tmp_path / "a")
    write_rules_bench(b, tmp_path / "b")
    assert strip(read_rules_bench(tmp_path / "a" / "rules_bench.h5")) == strip(a)


def test_unknown_rules_and_bptt_always_in():
    with pytest.raises(ValueError, match="available rules: .*bptt"):
        RulesBenchConfig(rules=("bptt", "hebbian-magic"))
    assert RulesBenchConfig(rules=("bptt",)).rules == ("bptt",)
    assert RulesBenchConfig(rules=("ff", "ff")).rules == ("ff", "bptt")
    with pytest.raises(ValueError, match="sizes start with 784"):
        bench_rules(*load_digits().stratified_split(0.2, seed=0), RulesBenchConfig(rules=("bptt",)))


def test_failing_rules_are_skipped_or_named(proto_rule, small_digits, monkeypatch):
    train, test = small_digits
    monkeypatch.setitem(rules._RULES, "missing-test", "rules.no_such_module_xyz:Rule")

    class Broken(Prototypes):
        def train_batch(self, x, y):
            raise RuntimeError("weights went NaN")

    monkeypatch.setitem(rules._RULES, "broken-test", Broken)
    config = tiny(rules=("missing-test", "broken-test", "proto-test"), snntorch=False)
    with pytest.raises(RuntimeError, match="rule 'broken-test' failed.*weights went NaN"):
        bench_rules(train, test, config)
    report = bench_rules(train, test, tiny(rules=config.rules, snntorch=False, skip_failures=True))
    assert [r["rule"] for r in report["rows"]] == ["proto-test", "bptt"]
    reasons = {s["rule"]: s["reason"] for s in report["skipped"]}
    assert "does not import" in reasons["missing-test"] and "NaN" in reasons["broken-test"]


def test_bptt_synaptic_ops_counts():
    dense = BPTT.build([6, 5, 3], spiking=False)
    x = torch.rand(1, 4, 6)
    params = 6 * 5 + 5 + 5 * 3 + 3
    # forward 6*5 + 5*3 MACs, backward: weight gradients of both layers, input gradient of the
    # second, and one update per parameter shared by the 4 samples.
    assert dense.synaptic_ops(x) == pytest.approx((30 + 15) + (30 + 2 * 15) + params / 4)

    spiking = BPTT.build([6, 5, 3], steps=7)
    x = (torch.rand(7, 4, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    from snn.layers import mark_binary

    mark_binary(x)
    with torch.no_grad():
        hidden = spiking.net[0](x)
    trainable = sum(p.numel() for p in spiking.net.parameters() if p.requires_grad)
    expected = (float(x.sum()) / 4 * 5 + float(hidden.sum()) / 4 * 3      # spikes x fan-out
                + 7 * (30 + 2 * 15) + trainable / 4)                        # backward, updates
    assert spiking.synaptic_ops(x) == pytest.approx(expected)
    assert float(hidden.sum()) > 0


def test_streaming_rules_memory_flat_in_T_inputs_included(small_digits):
    """allocated_by_T counts the input too: TESS streams it a chunk at a time, so its step from
    the images holds as much at T=100 as at T=10, while BPTT's grows with T."""
    train, test = small_digits
    report = bench_rules(train[:64], test[:32], RulesBenchConfig(
        rules=("tess",), sizes=(64, 16, 10), steps=4, epochs=1, batch=32, memory_steps=(10, 100),
        snntorch=False))
    rows = {r["rule"]: r["allocated_by_T"] for r in report["rows"]}
    assert rows["tess"]["100"] <= 1.2 * rows["tess"]["10"]
    assert rows["bptt"]["100"] > 3 * rows["bptt"]["10"]


@pytest.mark.slow
def test_local_rules_table_reproducible(small_digits):
    """The rules of the registry (those that import) give the same table twice from one seed."""
    train, test = small_digits
    config = dict(rules=("tess", "ff", "ccl", "softhebb", "bptt"), sizes=(64, 16, 10), steps=4, epochs=1,
                  batch=32, memory_steps=(4, 8), skip_failures=True)
    a = bench_rules(train, test, RulesBenchConfig(**config))
    b = bench_rules(train, test, RulesBenchConfig(**config))
    for report in (a, b):
        for row in report["rows"]:
            row.pop("wall_s_per_epoch")
    assert a["rows"] == b["rows"] and a["skipped"] == b["skipped"]
    assert not [s for s in a["skipped"] if "does not import" not in s["reason"]]


def test_cpu_peak_is_the_same_in_every_repeat():
    """A step that frees the last step's gradients: the profiler reported that free only when a
    stale entry for the gradient's address happened to exist, so the peak varied between
    identical calls in one process (CI saw 32776 vs 35848 bytes). Both calls now run under the
    profiler and the figure repeats exactly."""
    from rules.base import cpu_peak_bytes

    x, y = torch.rand(32, 64), torch.randint(0, 10, (32,))
    peaks = set()
    for _ in range(12):
        net = BPTT.build([64, 12, 10], steps=6, seed=4, batch_size=32)
        peaks.add(cpu_peak_bytes(
            lambda n=net: n.train_batch(n._encode(x, torch.Generator().manual_seed(4)), y)))
    assert len(peaks) == 1, peaks


def test_cpu_peak_keeps_standard_error_but_not_the_profiler_notices(capfd):
    import sys

    from rules.base import cpu_peak_bytes

    def step():
        print("a line of the step's own", file=sys.stderr)
        return torch.ones(100)

    assert cpu_peak_bytes(step) >= 400
    err = capfd.readouterr().err
    assert "USDT:" not in err and err.count("a line of the step's own") == 2
