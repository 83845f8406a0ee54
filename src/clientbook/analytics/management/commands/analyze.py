"""`clientbook analyze features|rfm|value|clv|cluster|train|score|rules|roughsets|
lookalike|offers`."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from clientbook.analytics import services
from clientbook.analytics.connection import analytics_connection
from clientbook.analytics.loading import feature_frame
from clientbook.analytics.models import AnalysisKind, ModelVersion
from clientbook.errors import ClientbookError


class StageBar:
    """A progress bar over a run's stages (read and compute, write, done)."""

    def __init__(self, stream=sys.stderr) -> None:
        # a command's OutputWrapper would end every write with a newline
        self.stream = getattr(stream, "_out", stream)
        self.start = time.monotonic()

    def __call__(self, done: int, total: int, stage: str) -> None:
        bar = "#" * int(30 * done / total)
        seconds = time.monotonic() - self.start
        self.stream.write(f"\r[{bar:<30}] {done}/{total} {stage:<12} {seconds:7.1f}s")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _offer(text: str) -> tuple[str, dict[str, float]]:
    """NAME:COST:VALUE, e.g. 茶叶:5:80 (the name may itself hold colons)."""
    name, _sep, terms = text.rpartition(":")
    name, _sep, cost = name.rpartition(":")
    try:
        return name, {"cost": float(cost), "margin": float(terms)}
    except ValueError as exc:
        raise CommandError(f"Not NAME:COST:VALUE: {text}") from exc


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {text}") from exc


#: The options each subcommand passes on to its service.
PARAMETERS = {
    "rfm": ["bins"],
    "value": ["vip", "good", "complaint_cost", "contact_cost"],
    "clv": ["horizon", "discount", "margin"],
    "cluster": ["k"],
    "train": ["target", "category", "horizon_days", "algorithms", "choose"],
    "score": ["target", "category"],
    "rules": ["level", "basket", "min_support", "min_confidence", "algorithm"],
    "roughsets": ["horizon_days", "bins"],
    "lookalike": ["item", "level", "method"],
    "offers": ["offers", "budget", "score", "generations", "seed"],
}


class Command(BaseCommand):
    # Django's system checks load every view and API module: 1.4 s a call.
    # `migrate` and `run` still run them.
    requires_system_checks = []
    help = "Runs an analysis now (or queues it with --background) and stores results."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        common = {"as_of": "--as-of"}

        def command(name: str, text: str):
            p = sub.add_parser(name, help=text)
            p.add_argument(
                common["as_of"],
                type=_date,
                default=None,
                help="date the analysis looks back from (default: today)",
            )
            p.add_argument(
                "--background",
                action="store_true",
                help="queue it for `clientbook worker` instead of running it now",
            )
            return p

        p = command("features", "write the feature table to a CSV or Parquet file")
        p.add_argument("--output", type=Path, required=True)
        p = command("rfm", "RFM scores and cells")
        p.add_argument("--bins", type=int, default=5)
        p = command("value", "profit, Pareto curve and value tiers")
        p.add_argument("--vip", type=float, default=0.95)
        p.add_argument("--good", type=float, default=0.75)
        p.add_argument("--complaint-cost", type=float, default=0.0)
        p.add_argument("--contact-cost", type=float, default=0.0)
        p = command("clv", "BG/NBD + Gamma-Gamma lifetime value")
        p.add_argument("--horizon", type=int, default=12, help="months")
        p.add_argument("--discount", type=float, default=0.01, help="monthly rate")
        p.add_argument("--margin", type=float, default=1.0)
        p = command("cluster", "K-means segments")
        p.add_argument("--k", type=int, default=None, help="default: by silhouette")
        p = command("train", "response or churn models")
        p.add_argument("--target", default="lapsed")
        p.add_argument("--category", default="")
        p.add_argument("--horizon-days", type=int, default=90)
        p.add_argument("--algorithms", nargs="*", default=None)
        p.add_argument(
            "--choose",
            metavar="METRIC",
            nargs="?",
            const="auc",
            default=None,
            help="then choose the best version by METRIC (default auc)",
        )
        p = command("score", "score customers with the chosen model")
        p.add_argument("--target", default="lapsed")
        p.add_argument("--category", default="")
        p = command("rules", "association rules and next best products")
        p.add_argument("--level", choices=["category", "product"], default="category")
        p.add_argument("--basket", choices=["customer", "order"], default="customer")
        p.add_argument("--min-support", type=float, default=0.02)
        p.add_argument("--min-confidence", type=float, default=0.3)
        p.add_argument(
            "--algorithm", choices=["fpgrowth", "apriori"], default="fpgrowth"
        )
        p = command("roughsets", "rough-set rules for lapsing")
        p.add_argument("--horizon-days", type=int, default=180)
        p.add_argument("--bins", type=int, default=3)
        p = command("lookalike", "score non-buyers by likeness to an item's buyers")
        p.add_argument("--item", required=True, help="a category or product name")
        p.add_argument("--level", choices=["category", "product"], default="category")
        p.add_argument("--method", choices=["model", "neighbours"], default="model")
        p = command("offers", "allocate offers under a budget (genetic algorithm)")
        p.add_argument(
            "--offer",
            dest="offers",
            type=_offer,
            action="append",
            required=True,
            metavar="NAME:COST:VALUE",
            help="an offer, its cost per offer and value per response; repeat",
        )
        p.add_argument("--budget", type=float, required=True)
        p.add_argument(
            "--score", choices=["rules", "response", "lookalike"], default="rules"
        )
        p.add_argument("--generations", type=int, default=400)
        p.add_argument("--seed", type=int, default=0)

    def handle(self, *args, what, **options):
        as_of = options.pop("as_of") or timezone.localdate()
        if what == "features":
            return self._features(as_of, options["output"])
        parameters = self._parameters(what, options)
        kind = {"train": AnalysisKind.TRAIN, "score": AnalysisKind.SCORE}.get(
            what, what
        )
        choose = parameters.pop("choose", None)
        try:
            if options["background"]:
                run = services.analysis_enqueue(
                    kind=kind, as_of=as_of, parameters=parameters, actor=None
                )
                self.stdout.write(f"queued {run.get_kind_display()} (run {run.uuid})")
                return
            bar = StageBar(self.stderr) if options["verbosity"] else None
            with services.progress_reporting(bar):
                run = services.RUNNERS[kind](as_of=as_of, **parameters)
            if choose:
                version = services.model_choose(
                    target=parameters["target"],
                    category=parameters.get("category", ""),
                    metric=choose,
                )
                self.stdout.write(f"chosen: {version.algorithm} {version.metrics}")
        except ClientbookError as exc:
            raise CommandError(exc.message) from exc
        self._report(run)

    def _parameters(self, what: str, options: dict) -> dict:
        parameters = {
            name: options[name]
            for name in PARAMETERS[what]
            if options.get(name) is not None
        }
        if "offers" in parameters:
            parameters["offers"] = dict(parameters["offers"])
        return parameters

    def _features(self, as_of: dt.date, output: Path) -> None:
        con = analytics_connection()
        try:
            frame = feature_frame(con, as_of)
        finally:
            con.disconnect()
        if output.suffix == ".parquet":
            frame.to_parquet(output)
        else:
            frame.to_csv(output)
        self.stdout.write(
            f"{len(frame)} customers, {frame.shape[1]} features → {output}"
        )

    def _report(self, run) -> None:
        figures = {
            k: v
            for k, v in run.metrics.items()
            if isinstance(v, (int, float, str)) or k in ("bgnbd", "gamma_gamma")
        }
        self.stdout.write(
            f"{run.get_kind_display()} as of {run.as_of}: {run.customers} rows, "
            f"{run.seconds or 0:.1f} s (run {run.uuid})"
        )
        for key, value in figures.items():
            self.stdout.write(f"  {key}: {value}")
        if run.kind == AnalysisKind.OFFERS:
            self._report_offers(run)
        if run.kind == AnalysisKind.TRAIN:
            for v in ModelVersion.objects.filter(run=run).defer("estimator"):
                self.stdout.write(f"  {v.algorithm}: {v.metrics}")

    def _report_offers(self, run) -> None:
        names = run.metrics["offers"]
        for solution in ("genetic", "greedy", "exact"):
            found = run.metrics.get(solution)
            if found:
                counts = ", ".join(
                    f"{n} {c}" for n, c in zip(names, found["offers"], strict=True)
                )
                self.stdout.write(
                    f"  {solution}: profit {found['profit']:.2f}, spent "
                    f"{found['spent']:.2f} of {run.metrics['budget']:.2f} ({counts})"
                )
