"""Runs: the orchestration the commands call (sweeps, evaluation, benchmarks, configs,
checkpoints, multi-process sweeps).

Above the methods and io; only ``messjax.commands`` (and the server) sit on top."""
