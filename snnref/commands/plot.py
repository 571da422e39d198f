"""``snnref plot RUN_DIR``: the figures of a training run as PNG (optional extra ``plot``)."""

NAME = "plot"


def add_parser(subparsers):
    p = subparsers.add_parser(
        NAME, help="draw a run's training curves, raster, membrane trace and rule gradients as PNG",
        description="Write PNG figures of a run directory of `snnref train`: training_curves.png (from "
                    "metrics.json) and, from the checkpoint, raster.png, membrane.png and rule_gradients.png "
                    "for one test sample. Needs matplotlib: pip install -e \".[plot]\".")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `snnref train`")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default RUN_DIR/plots)")
    p.add_argument("--sample", type=int, default=0, metavar="N", help="test sample to draw (default 0)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"), help="checkpoint to draw (default best)")
    return p


def run(args):
    import sys

    from ..plot import plot_run

    paths = plot_run(args.run_dir, args.out, sample=args.sample, checkpoint=args.checkpoint,
                     progress=lambda msg: sys.stderr.write(msg + "\n"))
    sys.stdout.write("\n".join(paths) + "\n")
    return 0
