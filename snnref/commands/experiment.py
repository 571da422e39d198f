"""``snnref experiment landscape|spike-train``: the ANTLR paper's sections 3.4 and 4.1 (PNG + CSV/JSON)."""

NAME = "experiment"


def _common(p, default_out):
    p.add_argument("--out", default=default_out, metavar="DIR", help=f"output directory (default {default_out})")
    p.add_argument("--fast", action="store_true", help="tiny sizes and few steps (seconds; used by CI)")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="number of seeds 0..N-1")


def add_parser(subparsers):
    p = subparsers.add_parser(
        NAME, help="run an experiment of the ANTLR paper (landscape, spike-train); needs the 'plot' extra",
        description="Experiments of the ANTLR paper with the Table A1 settings (spec 7.1, 7.2). Each writes PNG "
                    "figures, CSV and JSON into --out. Needs matplotlib: pip install -e \".[plot]\".")
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    sub.required = True
    land = sub.add_parser("landscape", help="section 3.4: true loss vs each rule's first-order prediction",
                          description="Loss landscape around a trained point (spec 7.1): the true loss along each "
                                      "rule's descent direction and along random directions, split into spike "
                                      "moves and spikes appearing/disappearing, and a 2-D slice.")
    _common(land, "results/landscape")
    land.add_argument("--train-iters", type=int, default=None, metavar="N",
                      help="SGD steps (ANTLR) to reach the trained point (default 300)")
    land.add_argument("--directions", type=int, default=None, metavar="N", help="random lines per seed (default 8)")
    land.add_argument("--points", type=int, default=None, metavar="N", help="points per line (default 201)")
    land.add_argument("--radius", type=float, default=None, metavar="R",
                      help="half-width of the lines relative to the weight norm (default 0.03)")
    land.add_argument("--grid", type=int, default=None, metavar="N", help="2-D slice grid size N x N (default 41)")
    land.add_argument("--subspace", default="output", choices=("output", "all"),
                      help="parameters the random lines perturb (default: the output layer's)")
    st = sub.add_parser("spike-train", help="section 4.1: random spike-train matching with every ANTLR-family rule",
                        description="Random spike-train matching (spec 7.2, preset spike-train-matching) with "
                                    "act_rnn, act_srm, act_slayer, timing and antlr over seeds.")
    _common(st, "results/spike-train")
    st.add_argument("--iters", type=int, default=None, metavar="N", help="SGD steps per run (default 1000)")
    st.add_argument("--rules", default=None, metavar="R1,R2", help="comma-separated subset of the rules")
    return p


def run(args):
    import sys

    say = lambda msg: sys.stderr.write(msg + "\n")  # noqa: E731
    if args.experiment == "landscape":
        from ..experiments import landscape

        res = landscape.run(args.out, fast=args.fast, seeds=args.seeds, train_iters=args.train_iters,
                            directions=args.directions, points=args.points, radius=args.radius, grid=args.grid,
                            subspace=args.subspace,
                            progress=say)
        lines = [f"{rule:8s} " + "  ".join(f"{k} {v:+.2f}" for k, v in row.items())
                 for rule, row in res["table"].items()]
    else:
        from ..experiments import spike_train

        rules = spike_train.RULES if args.rules is None else tuple(r for r in args.rules.split(",") if r)
        res = spike_train.run(args.out, fast=args.fast, seeds=args.seeds, iters=args.iters, rules=rules,
                              progress=say)
        lines = [f"{rule:10s} final loss {s['loss']['mean']:.4f} +/- {s['loss']['std']:.4f}  timing error "
                 f"{s['timing_error']['mean']:.2f} +/- {s['timing_error']['std']:.2f} steps  van Rossum "
                 f"{s['vr']['mean']:.3f} +/- {s['vr']['std']:.3f}" for rule, s in res["summary"].items()]
    sys.stdout.write("\n".join(lines + [f"files in {args.out}: " + ", ".join(
        f.rsplit('/', 1)[-1] for f in res["files"])]) + "\n")
    return 0
