import sys

from tablelog.cli.main import main

sys.exit(main())
