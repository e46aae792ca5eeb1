"""Load test of ``messjax serve``: concurrent clients, every feedback counted, kill -9, restore
(the code is :mod:`messjax.runs.serve_load`).

    python experiments/serve_load.py --clients 64 --requests 100 --json results/serve_load.json
"""

import sys

from messjax.runs.serve_load import main

if __name__ == "__main__":
    sys.exit(main())
