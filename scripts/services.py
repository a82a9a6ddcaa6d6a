"""Local services on loopback, stopped by their PIDs: Ray, HDFS, Spark standalone, a Docker engine.

    python scripts/services.py ray|spark|hdfs start|stop|status DIR [options]
    python scripts/services.py hdfs fetch
    python scripts/services.py docker start|stop|status

The code is devtools.services (importable, typed); see its cli module for the options.
"""

import sys

from devtools.services.cli import main

if __name__ == "__main__":
    sys.exit(main())
