"""`python -m guard.cli`."""

from guard.cli.main import main

main()
