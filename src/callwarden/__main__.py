"""`python -m callwarden` runs the command line."""

from callwarden.cli import main

main()
