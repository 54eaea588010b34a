"""`python -m chendian` runs the CLI, as the `chendian` command does."""

from .cli import main

main(prog_name="chendian")
