"""``snnref rules``: list the learning rules and their options (from the registry and the option
table of :mod:`snnref.rules.options`)."""
NAME = "rules"


def add_parser(subparsers):
    p = subparsers.add_parser(NAME, help="list the learning rules and their options (defaults, allowed values)")
    p.add_argument("rule", nargs="?", default=None, help="show only this rule")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (as in docs/CONTRIBUTING.md)")
    return p


def run(args):
    from ..errors import SnnrefError
    from ..rules import RULES
    from ..rules.options import format_markdown, format_table

    if args.rule is not None and args.rule not in RULES:
        raise SnnrefError(f"unknown rule {args.rule!r}; the rules are {', '.join(RULES)}.")
    names = [args.rule] if args.rule else list(RULES)
    if args.markdown:
        print(format_markdown(names))
        return 0
    for name in names:
        print(f"{name} ({RULES[name].family} family): {RULES[name].summary}")
    print()
    print(format_table(names))
    return 0
