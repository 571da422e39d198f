"""``snnref golden write --out DIR`` / ``snnref golden check DIR``: the standard golden set (docs/GOLDEN.md)."""
import os
import sys

NAME = "golden"


def add_parser(subparsers):
    p = subparsers.add_parser(NAME, help="write or check golden reference files (docs/GOLDEN.md)",
                              description="Write the standard, deterministic set of golden cases (every rule, "
                                          "float64 and float32) or check a golden directory against its manifest.")
    sub = p.add_subparsers(dest="golden_command", metavar="ACTION")
    w = sub.add_parser("write", help="write the standard golden set")
    w.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    w.add_argument("--cases", nargs="+", default=None, metavar="NAME", help="only these case families")
    w.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=("float64", "float32"))
    w.add_argument("--no-adjoints", action="store_true", help="omit the adjoints (smaller files)")
    c = sub.add_parser("check", help="check every file of a golden directory against MANIFEST.sha256 and the schema")
    c.add_argument("dir", metavar="DIR")
    sub.add_parser("list", help="list the standard case families")


def run(args):
    from ..errors import SnnrefError
    from ..verify.cases import STANDARD_CASES, standard_case
    from ..verify.golden import check_manifest, read_case, write_case, write_manifest

    action = getattr(args, "golden_command", None)
    if action is None:
        raise SnnrefError("give an action: `snnref golden write --out DIR`, `snnref golden check DIR` or `snnref golden list`.")
    if action == "list":
        for name, fn in STANDARD_CASES.items():
            sys.stdout.write(f"{name:16s} {standard_case_description(name)}\n")
        return 0
    if action == "check":
        if not os.path.isdir(args.dir):
            raise SnnrefError(f"{args.dir} is not a directory.")
        names = check_manifest(args.dir)
        for name in names:
            if name.endswith(".h5"):
                read_case(os.path.join(args.dir, name))
        sys.stdout.write(f"{len(names)} files match {args.dir}/MANIFEST.sha256 and the schema\n")
        return 0
    names = args.cases or list(STANDARD_CASES)
    bad = [n for n in names if n not in STANDARD_CASES]
    if bad:
        raise SnnrefError(f"unknown case(s) {bad}; choose from {sorted(STANDARD_CASES)} (see `snnref golden list`).")
    os.makedirs(args.out, exist_ok=True)
    written = []
    total = len(names) * len(args.dtypes)
    for name in names:
        for dt in args.dtypes:
            case = standard_case(name, dt, adjoints=not args.no_adjoints)
            fname = f"{case.name}.h5"
            write_case(case, os.path.join(args.out, fname))
            written.append(fname)
            sys.stderr.write(f"[{len(written)}/{total}] {fname}\n")
    write_manifest(args.out, written)
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in written)
    sys.stdout.write(f"wrote {len(written)} golden files ({size / 1024:.0f} KiB) and MANIFEST.sha256 to {args.out}\n")
    return 0


def standard_case_description(name):
    from ..verify.cases import STANDARD_CASES

    fn = STANDARD_CASES[name]
    doc = (fn.__doc__ or "").strip().splitlines()
    spec = fn("float64")
    return spec.get("description", doc[0] if doc else "")
