import sys

from eigenrnn.cli import main

sys.exit(main())
