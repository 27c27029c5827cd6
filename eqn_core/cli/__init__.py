"""The `eqn` command line: one module per group of commands, main.py builds the parser."""
