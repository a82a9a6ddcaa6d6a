"""Put a drop of new people into <lake>/drops/incoming/ (``make drop``; devtools.make_drop).

    python scripts/make_drop.py NAME --rows 1000000 [--files 4] [--no-salary] [--lake-root URI]
        [--ages 50-80] [--pay-rise 50-80:20]
"""

import sys

try:
    from devtools.make_drop import main
except ModuleNotFoundError as err:  # run by a Python without the project's venv
    sys.exit(f"{err}: run it in the project's venv: `make drop NAME=...` or `source scripts/env.sh` first")

if __name__ == "__main__":
    sys.exit(main())
