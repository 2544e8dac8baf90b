"""The ``bench`` command. Heavy modules are imported inside the commands that need them, so
``bench --help`` and ``bench datasets`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from bench.errors import UserError

EPILOG = """\
examples:
  bench run                                  quick benchmark: german + diabetes, every
                                             synthesizer, seed 1234, into ./bench-results
  bench run --preset paper                   the paper's grid: 4 datasets, seeds 1234-1236
  bench run --datasets adult --synthesizers smote --seeds 1 2 3
  bench run --data churn.csv --target churned  your own table (split 7:1:2, seeded)
  bench run --synthesizers csv --param csv.path=synth/{dataset}-{seed}.csv
  bench run --preset paper --shard 3/8 --out part-3   this machine's share of 8
  bench merge part-* --out paper             join the shares' folders into one
  bench status                               what the last run stored
"""


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


# ---- bench datasets -----------------------------------------------------------------------


def _dataset_row(s: dict[str, Any]) -> list[str]:
    f = s["features"]
    return [
        s["name"],
        "/".join(str(s["rows"][k]) for k in ("train", "val", "test")),
        f"{f['integer']}/{f['float']}/{f['categorical']}/{f['boolean']}",
        s["target"],
        s["task"],
        ", ".join(map(str, s["classes"])),
        str(s["missing_cells"]),
    ]


def cmd_datasets(args: argparse.Namespace) -> int:
    header = [
        "name",
        "rows train/val/test",
        "int/float/cat/bool",
        "target",
        "task",
        "classes",
        "missing",
    ]
    _check_user_data_args(args)
    if args.data:
        from bench.datasets import load_user

        ds = load_user(_user_spec(args))
        summaries = [ds.summary()]
    else:
        from bench.catalog import bundled_index

        summaries = bundled_index()
    if args.json:
        print(json.dumps(summaries, indent=1))
        return 0
    print(_table([_dataset_row(s) for s in summaries], header))
    if args.data:
        print(f"\nsource: {ds.source}\n")
        print(ds.schema.to_toml(), end="")
        print("# paste the [columns] table under [data.NAME] in a config to change kinds")
    return 0


def _check_user_data_args(args: argparse.Namespace) -> None:
    """The options of your own dataset mean nothing without ``--data``: refuse, not ignore."""
    if args.data is not None:
        if not args.data.strip():
            raise UserError("--data is empty: give a CSV or Parquet file, e.g. --data churn.csv")
        return
    for option in ("target", "test", "name", "description", "split_seed"):
        if getattr(args, option) is not None:
            flag = "--" + option.replace("_", "-")
            raise UserError(
                f"{flag} describes your own file and needs --data FILE: add --data FILE "
                f"(e.g. --data churn.csv --target churned), or drop {flag}"
            )


def _user_spec(args: argparse.Namespace) -> Any:
    from bench.datasets import UserDataSpec, dataset_name_for

    if not args.target:
        raise UserError("--data needs --target COLUMN: the column to predict")
    return UserDataSpec(
        name=dataset_name_for(args.data) if args.name is None else args.name,
        path=args.data,
        target=args.target,
        test=args.test,
        split_seed=0 if args.split_seed is None else args.split_seed,
        description=args.description or "tabular records",
    )


# ---- bench synthesizers / metrics -----------------------------------------------------------


def cmd_synthesizers(args: argparse.Namespace) -> int:
    from bench.registry import BUILTIN, available, load

    rows = []
    for name, target in sorted(available("synthesizers").items()):
        cls = load(target)
        origin = "built-in" if name in BUILTIN["synthesizers"] else "plug-in"
        env = "isolated" if cls.requirements else "main"
        presets = ",".join(cls.presets) or "-"
        default = "yes" if cls.default_grid else "no"
        rows.append([name, origin, env, presets, default, cls.description])
    if args.json:
        keys = ["name", "origin", "environment", "presets", "in_default_grid", "description"]
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=1))
        return 0
    print(_table(rows, ["name", "origin", "env", "presets", "default", "description"]))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from bench.registry import available, load

    rows = []
    for name, target in sorted(available("metrics").items()):
        m = load(target)
        lo, hi = m.bounds
        inputs = ",".join(sorted(m.inputs))
        doc = (m.__doc__ or "").strip().split("\n")[0]
        rows.append([name, m.family, m.goal, f"[{lo:g}, {hi:g}]", inputs, doc])
    print(_table(rows, ["name", "family", "goal", "bounds", "reads", "definition"]))
    return 0


# ---- bench envs ----------------------------------------------------------------------------


def _env_users() -> dict[str, list[str]]:
    """Environment key -> names of the registered synthesizers that run in it."""
    from bench.envs import env_key
    from bench.registry import available, load

    users: dict[str, list[str]] = {}
    for name, target in sorted(available("synthesizers").items()):
        try:
            cls = load(target)
        except UserError:
            continue  # a broken plug-in must not hide the environments
        if getattr(cls, "requirements", ()):
            users.setdefault(env_key(cls.requirements), []).append(name)
    return users


def _size(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024  # type: ignore[assignment]
    return ""


def cmd_envs_list(args: argparse.Namespace) -> int:
    from bench.envs import list_envs

    users = _env_users()
    rows = []
    for env in list_envs():
        info = env.info()
        rows.append(
            {
                "hash": env.key,
                "state": env.state(),
                "size": env.size_bytes(),
                "created": info.get("created", "-"),
                "used_by": users.get(env.key, []),
                "requirements": info.get("requirements", []),
                "path": str(env.path),
                "log": str(env.log_path),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from bench.envs import envs_root

    if not rows:
        print(f"no isolated environments in {envs_root()}; 'bench envs create' builds them")
        return 0
    table = [
        [
            r["hash"],
            r["state"],
            _size(r["size"]),
            r["created"],
            ",".join(r["used_by"]) or "-",
            " ".join(r["requirements"]) or "-",
        ]
        for r in rows
    ]
    print(_table(table, ["hash", "state", "size", "created", "used by", "requirements"]))
    print(f"\nin {envs_root()}")
    return 0


def _isolated_synthesizers(names: list[str]) -> dict[str, type]:
    from bench.registry import available, load, resolve

    if not names:
        found = {}
        for name, target in sorted(available("synthesizers").items()):
            with contextlib.suppress(UserError):
                cls = load(target)
                if getattr(cls, "requirements", ()):
                    found[name] = cls
        return found
    out = {}
    for given in names:
        name, target = resolve("synthesizers", given)
        cls = load(target)
        if not getattr(cls, "requirements", ()):
            raise UserError(
                f"synthesizer '{name}' declares no requirements: it runs in the main "
                "environment and needs no isolated one"
            )
        out[name] = cls
    return out


def cmd_envs_create(args: argparse.Namespace) -> int:
    from bench.envs import EnvError, ensure

    synths = _isolated_synthesizers(args.synthesizers)
    if not synths:
        print("no registered synthesizer declares requirements: nothing to create")
        return 0
    failed = 0
    for name, cls in synths.items():
        try:
            with ensure(
                cls.requirements, who=name, log=lambda m: print(m, file=sys.stderr)
            ) as lease:
                print(f"{name}: {lease.env.key} ready at {lease.env.path}")
        except EnvError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def cmd_envs_remove(args: argparse.Namespace) -> int:
    from bench.envs import Env, EnvError, env_key, envs_root, list_envs, remove
    from bench.registry import available

    root = envs_root()
    if args.all:
        if args.which:
            raise UserError("give either --all or environment hashes/synthesizer names, not both")
        targets = list_envs()
        if not targets:
            print(f"no isolated environments in {root}: nothing to remove")
            return 0
    elif not args.which:
        raise UserError("name what to remove: a hash, a synthesizer, or --all")
    else:
        targets = []
        existing = {e.key for e in list_envs()}
        for which in args.which:
            matches = [k for k in existing if k.startswith(which)]
            if len(matches) > 1:
                raise UserError(f"'{which}' matches several environments: give more of the hash")
            if matches:
                targets.append(Env(matches[0], root))
                continue
            if ":" not in which and which not in available("synthesizers"):
                raise UserError(
                    f"'{which}' is neither an environment hash nor a synthesizer: "
                    "see 'bench envs list'"
                )
            synths = _isolated_synthesizers([which])
            targets.append(Env(env_key(next(iter(synths.values())).requirements), root))
    failed = 0
    for env in targets:
        try:
            remove(env)
            print(f"removed {env.key} ({env.path})")
        except EnvError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


# ---- bench run ------------------------------------------------------------------------------


#: what a KEY=VALUE option looks like, for its error messages
KEY_VALUE_EXAMPLES = {"--param": "smote.k_neighbors=3", "--limit": "fit=600"}


def _key_values(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(
                f"{what} '{item}' is not KEY=VALUE: write e.g. {what} {KEY_VALUE_EXAMPLES[what]}"
            )
        out[key.strip()] = value.strip()
    return out


def _print_plan(cfg: Any) -> int:
    """What ``bench run`` would do: one line per job, then the counts. Runs nothing."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from bench.runner import jobs_at_once, plan, select, share
    from bench.store import Store

    out = Path(cfg.out)
    with tempfile.TemporaryDirectory() as tmp:  # planning writes the data hand-off: not here
        grid, _info = plan(dataclasses.replace(cfg, out=tmp))
    jobs = share(grid, cfg.shard)
    if (out / "results.sqlite").exists():
        store = Store(out)
        try:
            todo = {j.key for j in select(jobs, store, cfg)}
        finally:
            store.close()
    else:
        todo = {j.key for j in jobs}
    print(f"preset {cfg.preset}; llm {cfg.llm or 'preset default'}; out {out}")
    if cfg.shard:
        print(f"shard {cfg.shard[0]}/{cfg.shard[1]}: {len(jobs)} of the grid's {len(grid)} jobs")
    for job in jobs:
        state = "to run" if job.key in todo else "done"
        print(f"  {job.dataset:<10} {job.synthesizer:<26} seed {job.seed:<6} {state}")
    metrics = " ".join(name for name, _target in jobs[0].metrics) if jobs else ""
    print(f"metrics: {metrics}")
    print(
        f"{len(jobs)} jobs planned, {len(jobs) - len(todo)} already done, {len(todo)} to run, "
        f"{jobs_at_once(cfg, len(todo))} at a time"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bench.checks import preflight
    from bench.config import build_config
    from bench.progress import Progress
    from bench.runner import run
    from bench.toml import parse_value

    params: dict[str, dict[str, Any]] = {}
    for dotted, value in _key_values(args.param, "--param").items():
        synth, sep, key = dotted.partition(".")
        if not sep:
            raise UserError(f"--param '{dotted}' needs SYNTHESIZER.PARAMETER=VALUE")
        params.setdefault(synth, {})[key] = parse_value(value)
    limits = {k: parse_value(v) for k, v in _key_values(args.limit, "--limit").items()}
    _check_user_data_args(args)
    user_data = [_user_spec(args)] if args.data else []
    cfg = build_config(
        args.config,
        preset=args.preset,
        datasets=args.datasets,
        synthesizers=args.synthesizers,
        seeds=args.seeds,
        rows=args.rows,
        metrics=args.metrics,
        workers=args.workers,
        llm=args.llm,
        device=args.device,
        memory_limit=args.memory_limit,
        out=args.out,
        params=params,
        limits=limits,
        user_data=user_data,
        force=args.force,
        retry_failed=args.retry_failed,
        shard=args.shard,
    )
    cfg = preflight(cfg)
    if args.dry_run:
        return _print_plan(cfg)
    summary = run(cfg, Progress(), argv=["bench", *sys.argv[1:]])
    _print_status(summary.out)
    _publish(summary.out)
    if summary.failed:
        print(
            f"\n{len(summary.failed)} job(s) failed: 'failures' above gives each one's full "
            f"reason and log, which ends with the traceback ('bench status --out "
            f"{summary.out}' lists them again)",
            file=sys.stderr,
        )
        return 1
    return 0


# ---- bench leaderboard / compare-paper --------------------------------------------------------


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.checks import check_report_args
    from leaderboards.tables import TABLES
    from leaderboards.write import write_leaderboards

    check_report_args(args.out, args.to, args.digits)
    tables = tuple(TABLES) if args.table == "all" else (args.table,)
    paths = write_leaderboards(args.out, tables, (args.format,), args.preset, args.to, args.digits)
    for path in paths:
        if path.suffix in (".md", ".csv"):  # not the CSV's provenance.json
            print(path.read_text(encoding="utf-8"))
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_compare_paper(args: argparse.Namespace) -> int:
    from bench.checks import check_report_args
    from leaderboards.write import write_comparison

    check_report_args(args.out, args.to)
    paths = write_comparison(args.out, args.preset, args.to)
    print(paths[0].read_text(encoding="utf-8"))
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _publish(out: Any) -> None:
    """Leaderboards, report and paper comparison after a run; a failure here loses nothing."""
    from leaderboards.write import write_comparison, write_leaderboards

    try:
        paths = [*write_leaderboards(str(out)), *write_comparison(str(out))]
    except UserError as exc:
        print(f"no leaderboards written: {exc}", file=sys.stderr)
        return
    except Exception as exc:  # a rendering bug must not hide the stored results
        print(
            f"warning: leaderboards could not be written ({type(exc).__name__}: {exc}); "
            f"the results are safe in {out}; retry with 'bench leaderboard --out {out}'",
            file=sys.stderr,
        )
        return
    report = next(p for p in paths if p.suffix == ".html")
    print(f"leaderboards: {report.parent} (open {report.name} in a browser)", file=sys.stderr)


# ---- bench merge ----------------------------------------------------------------------------


def cmd_merge(args: argparse.Namespace) -> int:
    from bench.checks import check_results_folder
    from bench.merge import merge

    check_results_folder(args.out)
    summary = merge(args.sources, args.out, ["bench", *sys.argv[1:]])
    print(
        f"merged {len(args.sources)} folder(s) into {summary.dest}: {summary.added} job(s) "
        f"added, {summary.replaced} replaced by a better attempt, {summary.kept} kept",
        file=sys.stderr,
    )
    for path in summary.missing_files:
        print(f"warning: a finished job's table is missing: {path}", file=sys.stderr)
    _print_status(summary.dest)
    _publish(summary.dest)
    return 0


# ---- bench status ---------------------------------------------------------------------------


def _print_status(out: Any) -> None:
    from bench.status import status_table
    from bench.store import Store

    store = Store.open_existing(out)
    try:
        print(status_table(store))
    finally:
        store.close()


def cmd_status(args: argparse.Namespace) -> int:
    from bench.checks import check_results_folder

    check_results_folder(args.out, reading=True)
    _print_status(args.out)
    return 0


# ---- parser ---------------------------------------------------------------------------------


def results_folder(p: argparse.ArgumentParser, what: str = "results folder") -> None:
    """The ``--out`` of the commands that read (or merge into) a results folder."""
    p.add_argument(
        "--out", metavar="DIR", default="bench-results", help=f"{what} (default ./bench-results)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench",
        description="Benchmark tabular synthetic-data generators (HARMONIC and baselines): "
        "fit each on real data, generate a synthetic table, score fidelity, utility and "
        "privacy, and store every result.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from bench import __version__

    p.add_argument("--version", action="version", version=f"bench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def user_data_args(q: argparse.ArgumentParser) -> None:
        g = q.add_argument_group("your own dataset")
        g.add_argument("--data", metavar="FILE", help="a CSV (UTF-8, header row) or Parquet file")
        g.add_argument("--target", metavar="COLUMN", help="the column to predict (classes)")
        g.add_argument(
            "--test",
            metavar="FILE",
            help="a separate test file; otherwise the "
            "data is split 7:1:2 into train/val/test, stratified by the target",
        )
        g.add_argument("--name", help="dataset name (default: from the file name)")
        g.add_argument("--description", help="what the table describes, e.g. 'bank customers'")
        g.add_argument(
            "--split-seed",
            type=int,
            metavar="N",
            help="seed of the train/val/test split (default 0)",
        )

    d = sub.add_parser(
        "datasets",
        help="list the bundled datasets (or inspect your own file)",
        description="List the bundled datasets: rows per split, feature counts "
        "by type, target, task and classes. With --data, show the same for your "
        "file and the inferred column kinds as TOML you can edit.",
    )
    d.add_argument("--json", action="store_true", help="machine-readable output")
    user_data_args(d)
    d.set_defaults(func=cmd_datasets)

    s = sub.add_parser(
        "synthesizers",
        help="list the available synthesizers",
        description="List built-in and plug-in synthesizers.",
    )
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_synthesizers)

    m = sub.add_parser("metrics", help="list the metrics a run computes")
    m.set_defaults(func=cmd_metrics)

    e = sub.add_parser(
        "envs",
        help="list, create and remove the isolated environments of synthesizers",
        description="Synthesizers whose dependencies conflict with bench's (they declare "
        "'requirements') run in a virtual environment of their own, built on first use and "
        "cached under $BENCH_ENVS_DIR (default ~/.cache/harmonic-bench/envs), one per set of "
        "requirements and Python version.",
    )
    esub = e.add_subparsers(dest="envs_command", metavar="ACTION", required=True)
    el = esub.add_parser("list", help="hash, state, size, created, users, requirements")
    el.add_argument("--json", action="store_true", help="machine-readable output")
    el.set_defaults(func=cmd_envs_list)
    ec = esub.add_parser(
        "create",
        help="build environments now (default: for every synthesizer that declares some)",
    )
    ec.add_argument("synthesizers", nargs="*", metavar="SYNTH", help="synthesizer names")
    ec.set_defaults(func=cmd_envs_create)
    er = esub.add_parser("remove", help="delete environments by hash, synthesizer, or --all")
    er.add_argument("which", nargs="*", metavar="HASH|SYNTH", help="a hash (prefix) or a name")
    er.add_argument("--all", action="store_true", help="remove every environment")
    er.set_defaults(func=cmd_envs_remove)

    r = sub.add_parser(
        "run",
        help="run a benchmark grid (default: the quick benchmark)",
        description="Run every dataset × synthesizer × seed as a separate job (own process, "
        "time limits per phase), store results in OUT/results.sqlite and synthetic tables in "
        "OUT/artifacts. Finished jobs are skipped when you run the same command again.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="bundled dataset names (see 'bench datasets'); default: german diabetes "
        "(quick) or all four (paper)",
    )
    r.add_argument(
        "--synthesizers",
        nargs="+",
        metavar="NAME",
        help="synthesizer names or module:Class references (default: all)",
    )
    r.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        metavar="N",
        help="generation seeds (default: 1234 for quick, 1234 1235 1236 for paper)",
    )
    r.add_argument(
        "--preset",
        choices=["quick", "paper"],
        help="quick: minutes on a laptop; paper: the published settings (default quick)",
    )
    r.add_argument("--out", metavar="DIR", help="output folder (default ./bench-results)")
    r.add_argument("--config", metavar="FILE.toml", help="a run config (see README)")
    r.add_argument("--metrics", nargs="+", metavar="NAME", help="metrics (default: all)")
    r.add_argument(
        "--rows",
        type=int,
        metavar="N",
        help="rows to generate per job (default: size of the train split)",
    )
    r.add_argument(
        "--param",
        action="append",
        metavar="SYNTH.KEY=VALUE",
        help="a synthesizer parameter, e.g. smote.k_neighbors=3 (repeatable)",
    )
    r.add_argument(
        "--limit",
        action="append",
        metavar="PHASE=SECONDS",
        help="time limit per phase: env, fit, generate, metric, lle, io (repeatable)",
    )
    r.add_argument("--memory-limit", metavar="SIZE", help="per-job memory limit, e.g. 8GiB")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="print the jobs and metrics this command would run, and run nothing",
    )
    r.add_argument(
        "--workers",
        metavar="N",
        help="jobs at once: a number, or 'auto' for one per core; each job gets an equal "
        "share of the cores, and of the GPUs where there are several (default: auto at the "
        "quick preset, 1 at the paper preset)",
    )
    r.add_argument(
        "--llm",
        metavar="ID_OR_PATH",
        help="backbone of the LLM-based synthesizers: 'tiny' (offline, built here), a hub id "
        "such as meta-llama/Llama-2-7b-chat-hf, or a local model folder (default: the preset's)",
    )
    r.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        help="where LLM-based synthesizers run (default auto)",
    )
    r.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N shares of the grid, for N machines each writing its own "
        "--out; join them with 'bench merge' (README: running on a cluster)",
    )
    r.add_argument("--force", action="store_true", help="rerun jobs even if finished")
    r.add_argument(
        "--retry-failed",
        action="store_true",
        help="rerun jobs that failed, timed out or ran out of memory",
    )
    user_data_args(r)
    r.set_defaults(func=cmd_run)

    lb = sub.add_parser(
        "leaderboard",
        help="write the paper-style leaderboards of a results folder",
        description="Table 1 (utility: MLE, LLE, MLE-CatBoost), Table 2 (privacy: NRS, DCR, "
        "DLT) and the fidelity table (DM, WD, CS): mean ± std over seeds, best bold, second "
        "underlined, written to OUT/leaderboards/ (also done at the end of every bench run).",
    )
    results_folder(lb)
    lb.add_argument("--table", choices=["utility", "privacy", "fidelity", "all"], default="all")
    lb.add_argument("--format", choices=["md", "latex", "csv", "html"], default="md")
    lb.add_argument("--preset", help="which preset's jobs (default: the last run's)")
    lb.add_argument("--to", metavar="DIR", help="where to write (default OUT/leaderboards)")
    lb.add_argument("--digits", type=int, default=2, help="decimals shown (default 2)")
    lb.set_defaults(func=cmd_leaderboard)

    cp = sub.add_parser(
        "compare-paper",
        help="our numbers next to the HARMONIC paper's, with rank agreement",
        description="Per cell our mean, the paper's and the difference; per dataset and "
        "metric the Kendall tau between our ordering of synthesizers and the paper's.",
    )
    results_folder(cp)
    cp.add_argument("--preset", help="which preset's jobs (default: the last run's)")
    cp.add_argument("--to", metavar="DIR", help="where to write (default OUT/leaderboards)")
    cp.set_defaults(func=cmd_compare_paper)

    mg = sub.add_parser(
        "merge",
        help="join results folders (the shares of a grid run with --shard) into one",
        description="Copy the jobs, metrics, tables and logs of every SOURCE folder into OUT. "
        "A job in several folders keeps its best attempt (finished over failed, then more "
        "metrics, then the later one); the sources are only read. Ends by writing OUT's "
        "leaderboards, like 'bench run'.",
    )
    mg.add_argument("sources", nargs="+", metavar="SOURCE", help="results folders to join")
    results_folder(mg, "the folder to merge into, new or not")
    mg.set_defaults(func=cmd_merge)

    st = sub.add_parser(
        "status",
        help="show what a results folder holds",
        description="Jobs, their status, timings, peak memory and metric values.",
    )
    results_folder(st)
    st.set_defaults(func=cmd_status)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished jobs are stored; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        return 0
