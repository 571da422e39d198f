"""Command-line interface (placeholder until the training issue lands)."""


def main(argv=None):
    return 0
