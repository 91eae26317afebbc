"""`python -m tracehouse` is the `tracehouse` command."""

from tracehouse.cli import main

main()
