"""``snnref verify REFERENCE CANDIDATE [--json] [--rtol R]``: compare a candidate with a golden case.

Exit status 0: every compared quantity within tolerance; 1: not; 2: unusable input.
"""
import sys

NAME = "verify"


def add_parser(subparsers):
    p = subparsers.add_parser(NAME, help="compare another implementation's numbers with a golden case",
                              description="Compare CANDIDATE (an HDF5 file of the golden schema holding any part "
                                          "of it) with the golden case REFERENCE: per-quantity errors, the first "
                                          "divergence in forward and backward order, threshold margins, and what "
                                          "a diverging candidate matches instead. Exit status 0 = all within "
                                          "tolerance, 1 = divergence, 2 = unusable input. See docs/VERIFYING.md.")
    p.add_argument("reference", metavar="REFERENCE", help="golden file (snnref golden write, data/golden/)")
    p.add_argument("candidate", metavar="CANDIDATE", help="candidate file of the same schema")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--rtol", type=float, default=None, help="one relative tolerance for every quantity "
                   "(default: the measured table of docs/VERIFYING.md)")
    p.add_argument("--layout", choices=("TBN", "BTN"), default="TBN", help="layout of the candidate's (T, B, N) arrays")
    p.add_argument("--weight-layout", choices=("in_out", "out_in"), default="in_out",
                   help="layout of the candidate's W and dW")
    p.add_argument("--no-fingerprint", action="store_true", help="skip re-running snnref variants")


def run(args):
    from ..verify.compare import verify

    rep = verify(args.reference, args.candidate, layout=args.layout, weight_layout=args.weight_layout,
                 rtol=args.rtol, fingerprint=not args.no_fingerprint)
    if args.json:
        sys.stdout.write(rep.to_json() + "\n")
    else:
        sys.stdout.write(rep.summary() + "\n")
    return 0 if rep.ok else 1
