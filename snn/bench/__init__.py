"""Benchmarks that compare the engine with peer simulators in one invocation."""
