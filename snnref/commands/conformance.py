"""``snnref conformance --adapter package.module:factory``: Hypothesis conformance suite (docs/VERIFYING.md)."""
import sys

NAME = "conformance"


def add_parser(subparsers):
    p = subparsers.add_parser(NAME, help="run the conformance suite on another implementation (an adapter)",
                              description="Draw Hypothesis cases, run the adapter's forward/backward, compare with "
                                          "snnref, shrink a failure to a minimal case and save it as golden files. "
                                          "Exit status 0 = conforms, 1 = a divergence was found, 2 = unusable adapter.")
    p.add_argument("--adapter", required=True, metavar="MODULE:FACTORY",
                   help="e.g. snnref.verify.numpy_adapter:factory (the protocol is in docs/VERIFYING.md)")
    p.add_argument("--examples", type=int, default=100, metavar="N", help="number of cases (default 100)")
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    p.add_argument("--rules", nargs="+", default=None, metavar="RULE", help="only these rules")
    p.add_argument("--dtypes", nargs="+", default=None, choices=("float64", "float32"))
    p.add_argument("--out", default="conformance-failures", metavar="DIR",
                   help="where a minimal failing case is saved (default ./conformance-failures)")
    p.add_argument("--json", action="store_true", help="print the failing case's verify report as JSON")


def run(args):
    from ..errors import SnnrefError
    from ..verify.conformance import main_progress, run_conformance

    if args.examples < 1:
        raise SnnrefError(f"--examples must be >= 1; got {args.examples}.")
    res = run_conformance(args.adapter, max_examples=args.examples, seed=args.seed, rules=args.rules,
                          dtypes=args.dtypes, out_dir=args.out, progress=main_progress)
    if res.ok:
        sys.stdout.write(f"conforms: {res.examples} cases ({res.discarded} discarded as near-threshold raster flips)\n")
        return 0
    if args.json and res.report is not None:
        sys.stdout.write(res.report.to_json() + "\n")
    else:
        sys.stdout.write(f"DOES NOT CONFORM after {res.examples} cases: {res.error}\n")
        if res.report is not None:
            sys.stdout.write(res.report.summary() + "\n")
        for f in res.files:
            sys.stdout.write(f"saved {f}\n")
        if len(res.files) == 2:
            sys.stdout.write(f"reproduce: snnref verify {res.files[0]} {res.files[1]}\n")
    return 1
