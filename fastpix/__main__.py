import sys

from fastpix.cli import main

sys.exit(main())
