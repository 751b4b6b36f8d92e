import sys

from nodeflow.cli.main import main

sys.exit(main())
