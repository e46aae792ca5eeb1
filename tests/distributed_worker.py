"""One process of the multi-process sweep test (tests/test_distributed.py).

python tests/distributed_worker.py OUT_DIR NUM_PROCESSES PROCESS_ID PORT CPU_DEVICES
"""

from __future__ import annotations

import sys

import jax


def sweep_inputs():
    """Two small synthetic streams with their grids (the test's reference uses the same)."""
    from messjax.core.sweep import make_grid
    from messjax.data.synthetic_stream import SyntheticStream

    streams, grids = [], []
    for j, (n, cs) in enumerate(((300, [0.1, 1.0]), (220, [0.5]))):
        streams.append(SyntheticStream("toy", num_requests=n, feature_dim=12, seed=j).materialize())
        grids.append(make_grid([1, 2, 3], alpha=[0.6, 0.7], V=[1e-3, 1e-2], c=cs))
    return streams, grids


def main(out_dir: str, num_processes: int, process_id: int, port: int, cpu_devices: int) -> int:
    jax.config.update("jax_num_cpu_devices", cpu_devices)
    from messjax.core.types import EngineConfig
    from messjax.runs import distributed

    if num_processes > 1:
        distributed.initialize(f"localhost:{port}", num_processes, process_id)
    streams, grids = sweep_inputs()
    config = EngineConfig(num_models=3, feature_dim=12)
    results = distributed.run_sweeps_global(streams, grids, config, out_dir=out_dir, trace_every=20)
    print(jax.process_index(), jax.device_count(), float(results[0].summary.total_cost.sum()))
    if num_processes > 1:
        jax.distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], *map(int, sys.argv[2:6])))
