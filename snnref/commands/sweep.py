"""``snnref sweep``: a grid of settings x seeds on Dask (local worker processes or a cluster).

::

    snnref sweep (--preset P | --config FILE) [--seeds 0-15] [--set key=v1,v2 ...] [--out DIR]
                 [--workers N | --scheduler tcp://HOST:PORT] [--threads T] [--quiet]
    snnref sweep --summarize DIR

Each trial is an ordinary run directory ``DIR/<setting>__seed-<s>``; re-running the same command
skips finished trials and resumes interrupted ones. Summaries: ``DIR/summary.{csv,json,md}``
(see :mod:`snnref.sweep`). Exit status 0 when every trial finished, 1 when some failed (they are
listed; re-running retries them), 2 for a usage or configuration error (nothing is run then).
"""
import os
import sys

NAME = "sweep"


def add_parser(subparsers):
    p = subparsers.add_parser(
        NAME, help="train a grid of settings x seeds on Dask and summarise it (mean ± std over seeds)",
        description="Train every combination of --set values and --seeds (each an ordinary run directory "
                    "in --out) on a local Dask cluster of --workers processes or on --scheduler; finished "
                    "trials are skipped and interrupted ones resumed when the command is re-run. Writes "
                    "summary.csv, summary.json and summary.md (mean ± std and best over seeds). Needs the "
                    "'sweep' extra: pip install \"snnref[sweep]\".")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", default=None, help="base preset (see `snnref presets`)")
    src.add_argument("--config", default=None, metavar="FILE", help="base JSON config file")
    src.add_argument("--summarize", default=None, metavar="DIR",
                     help="only (re)write the summaries of the sweep in DIR (no Dask needed)")
    p.add_argument("--seeds", default=None, metavar="LIST",
                   help="seeds, e.g. 0-15 or 0,2,5-7 (default: the base config's seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2",
                   help="grid axis over a config key (values JSON or bare words, e.g. lr=1e-3,1e-4, "
                        "hidden=[400,400],[800]); one value = a fixed override; repeat for more axes")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="sweep directory (default sweeps/<config name>); re-run with the same DIR to resume")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="local worker processes, one trial each (default: the number of cores)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (`dask scheduler`)")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="numba/BLAS threads per trial (default: cores // workers locally; "
                        "unchanged on a --scheduler cluster)")
    p.add_argument("--quiet", action="store_true", help="no live progress line (one line per change)")
    return p


def _stdout_summary(out, summary):
    from ..sweep import format_markdown

    sys.stdout.write(format_markdown(summary))
    sys.stdout.write(f"summaries: {os.path.join(out, 'summary.md')} (.csv, .json)\n")


def run(args):
    from ..config import resolve_config
    from ..errors import SnnrefError
    from .. import sweep

    if args.summarize is not None:
        if args.set or args.seeds or args.out or args.workers or args.scheduler:
            raise SnnrefError("--summarize DIR takes no other options (it reads the sweep recorded in DIR).")
        summary = sweep.write_summary(args.summarize)
        _stdout_summary(args.summarize, summary)
        return 0
    if args.threads is not None and args.threads < 1:
        raise SnnrefError(f"--threads must be >= 1; got {args.threads}.")
    if args.workers is not None and args.workers < 1:
        raise SnnrefError(f"--workers must be >= 1; got {args.workers}.")
    base = resolve_config(preset=args.preset, config_file=args.config)
    axes, fixed = [], {}
    for text in args.set:
        key, values = sweep.parse_axis(text)
        if key in fixed or key in dict(axes):
            raise SnnrefError(f"--set {key}=... is given twice; put all its values in one --set {key}=v1,v2,....")
        if len(values) == 1:
            fixed[key] = values[0]
        else:
            axes.append((key, values))
    if fixed:
        try:
            base = base.replace(**sweep._with_selection(fixed))
        except ValueError as exc:
            raise SnnrefError(f"--set {', '.join(f'{k}=...' for k in fixed)}: {exc}") from None
    seeds = sweep.parse_seeds(args.seeds) if args.seeds is not None else [base.seed]
    trials = sweep.plan_sweep(base, axes, seeds)
    out = args.out or os.path.join("sweeps", base.name)
    for t in trials:                                     # every existing run checked before anything runs
        sweep.trial_state(os.path.join(out, t.dirname), t.cfg)
    sweep.save_sweep(out, base, axes, seeds, trials, write=False)
    sweep._import_distributed()
    client = sweep.open_client(workers=args.workers, scheduler=args.scheduler, threads=args.threads)
    try:
        sweep.save_sweep(out, base, axes, seeds, trials)
        if args.scheduler:
            sweep.check_workers(client, out)
    except BaseException:
        sweep.close_client(client)
        raise
    where = args.scheduler or f"a local cluster of {args.workers or os.cpu_count()} worker process(es)"
    sys.stderr.write(f"snnref sweep: {len(trials)} trial(s) ({len(trials) // len(seeds)} setting(s) x "
                     f"{len(seeds)} seed(s)) of {base.name!r} in {out} on {where}\n")
    try:
        result = sweep.run_sweep(out, trials, client, threads=args.threads, live=False if args.quiet else None)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; re-run the same command to resume (finished trials are kept, "
                         "interrupted ones continue from their last epoch)\n")
        return 130
    finally:
        sweep.close_client(client)
    _stdout_summary(out, result["summary"])
    if result["failed"]:
        for name, f in result["failed"].items():
            sys.stderr.write(f"snnref sweep: trial {name} failed: {f['error']}\n")
        sys.stderr.write(f"snnref sweep: {len(result['failed'])} of {len(trials)} trial(s) failed; fix the "
                         "cause and re-run the same command to retry them (finished trials are skipped)\n")
        return 1
    return 0
