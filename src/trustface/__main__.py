"""`python -m trustface` is the `trustface` command."""

from trustface.cli import main

main()
