"""Sub-commands of ``snnref`` beyond train / eval / presets, one module each.

Each module listed in :data:`COMMANDS` defines

``NAME``                      the sub-command name (``snnref NAME ...``);
``add_parser(subparsers)``    adds its argparse sub-parser (``subparsers.add_parser(NAME, ...)``);
``run(args) -> int``          runs it and returns the exit status.

User errors are raised as :class:`snnref.errors.SnnrefError` (one ``snnref: error:`` line, exit 2).
A module is imported only to build the parser, so keep heavy imports inside ``run``.
"""

#: sub-command modules of this package, in the order ``snnref --help`` lists them
COMMANDS = (
    "rules",
)
