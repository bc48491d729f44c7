"""`python -m monitor` runs the liqmon command line."""

from monitor.cli import main

raise SystemExit(main())
