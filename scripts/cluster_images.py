"""Stand-in images for machines with no image registry, built from Debian packages only.

    python scripts/cluster_images.py          # builds what is missing or changed; prints the tags

What each stand-in replaces: devtools.build.images.
"""

import sys

from devtools.build.images import main

if __name__ == "__main__":
    sys.exit(main())
