import sys

from messjax.cli import main

sys.exit(main())
