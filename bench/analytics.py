"""Analytics at scale: feature table + RFM + CLV fit and prediction, on
PostgreSQL and on DuckDB, and association rules against a direct mlxtend call.

    .venv/bin/python bench/analytics.py [--db clientbook_bench] [--as-of 2026-11-23]

Each part runs in its own process so its peak RSS is its own:

- ``postgres``: Ibis over the bench database (the engines' SQL runs in
  PostgreSQL; only per-customer rows come back: the feature table and the
  BG/NBD summary).
- ``duckdb``: the columns the analytics read copied from PostgreSQL into an
  in-memory DuckDB (COPY as CSV, parsed by pyarrow, streamed in batches;
  timed apart as ``load``), then the same pipeline.
- ``rules``: Online Retail (UCI, 541,909 lines; ../shared/datasets), all
  countries, baskets = invoices; ``rules.mine_rules`` against mlxtend's
  ``fpgrowth`` + ``association_rules`` called directly on the same one-hot
  frame, checking both give the same rules.

The CLV fits are single fits from the default start (the service tries
three starts, ``services.FIT_STARTS``). Writes JSON to bench/out/analytics.json
and prints a table; each part records the load average at its end (the
machine is shared).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = "postgres://postgres@127.0.0.1:5432"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        self.steps[name] = round(time.perf_counter() - started, 2)
        print(f"  {name:<24} {self.steps[name]:8.2f} s  rss {_rss_mb():7.0f} MB")
        return result


def _pipeline(backend: str, db: str, as_of: str) -> dict:
    import datetime as dt

    import ibis
    import pandas as pd

    from clientbook.analytics import loading
    from clientbook.analytics.connection import duckdb_copy
    from clientbook.analytics.engines import clv, rfm

    timer = Timer()
    day = dt.date.fromisoformat(as_of)
    con = ibis.postgres.connect(
        host="127.0.0.1", port=5432, user="postgres", database=db
    )
    con.raw_sql("SET TIME ZONE 'UTC'")
    if backend == "duckdb":
        con = timer("load (PG -> DuckDB)", duckdb_copy, con)
    started = time.perf_counter()
    features = timer("feature table", loading.feature_frame, con, day)
    buyers = features[features["frequency"] > 0]
    frame = pd.DataFrame(
        {
            "recency": buyers["recency_days"],
            "frequency": buyers["frequency"],
            "monetary": buyers["monetary"],
        }
    )
    timer("RFM scores", rfm.rfm_scores, frame)
    summary = timer("CLV summary (in SQL)", loading.clv_summary, con, before=day)
    purchases = timer("BG/NBD fit", clv.BetaGeoModel().fit, summary)
    spend_rows = summary[(summary["frequency"] == 0) | (summary["monetary_value"] > 0)]
    spend = timer("Gamma-Gamma fit", clv.GammaGammaModel().fit, spend_rows)
    timer(
        "CLV prediction",
        clv.predict_customers,
        purchases,
        spend,
        summary,
        horizon=52.0,
    )
    analysis = time.perf_counter() - started
    return {
        "backend": backend,
        "customers": len(features),
        "buyers": len(buyers),
        "bgnbd_rows": len(clv._compress(*clv._arrays(summary))[1]),
        "steps": timer.steps,
        "analysis_seconds": round(analysis, 2),
        "total_seconds": round(sum(timer.steps.values()), 2),
        "peak_rss_mb": round(_rss_mb()),
        "load_average": os.getloadavg(),
        "bgnbd": vars(purchases.params),
        "bgnbd_log_likelihood": purchases.log_likelihood,
        "gamma_gamma": vars(spend.params),
    }


def _rules() -> dict:
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    from clientbook.analytics.engines import rules

    datasets = Path(
        os.environ.get("CLIENTBOOK_DATASETS", HERE.parents[1] / "shared" / "datasets")
    )
    lines = pd.read_csv(
        datasets / "online_retail/online_retail_uci_2010-12_2011-12.csv.gz",
        dtype={"InvoiceNo": str, "StockCode": str},
    )
    keep = ~lines["InvoiceNo"].str.startswith("C") & (lines["Quantity"] > 0)
    lines = lines[keep].assign(item=lambda f: f["Description"].str.strip())
    lines = lines[lines["item"].notna() & (lines["item"] != "POSTAGE")]
    timer = Timer()
    onehot = timer(
        "one-hot baskets",
        rules.basket_matrix,
        lines,
        basket_col="InvoiceNo",
        item_col="item",
        sparse_output=True,
    )
    config = rules.RulesConfig(min_support=0.01, min_confidence=0.5)
    ours = timer("rules.mine_rules", rules.mine_rules, onehot, config)

    def direct():
        itemsets = fpgrowth(onehot, min_support=0.01, use_colnames=True)
        found = association_rules(
            itemsets, num_itemsets=len(onehot), metric="confidence", min_threshold=0.5
        )
        return found[found["lift"] >= 1.0]

    theirs = timer("mlxtend direct", direct)
    same = {
        (frozenset(a), frozenset(c))
        for a, c in zip(ours["antecedents"], ours["consequents"], strict=True)
    } == {
        (frozenset(a), frozenset(c))
        for a, c in zip(theirs["antecedents"], theirs["consequents"], strict=True)
    }
    return {
        "baskets": onehot.shape[0],
        "items": onehot.shape[1],
        "rules": len(ours),
        "same_rules": same,
        "steps": timer.steps,
        "peak_rss_mb": round(_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="clientbook_bench")
    parser.add_argument("--as-of", default="2026-11-23")
    parser.add_argument("--part", choices=["postgres", "duckdb", "rules"])
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"{SERVER}/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    if args.part:
        import django

        django.setup()
        print(f"{args.part}:")
        if args.part == "rules":
            result = _rules()
        else:
            result = _pipeline(args.part, args.db, args.as_of)
        print("RESULT " + json.dumps(result, default=str))
        return
    results = {}
    for part in ("postgres", "duckdb", "rules"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--part",
                part,
                "--db",
                args.db,
                "--as-of",
                args.as_of,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        sys.stdout.write(
            "".join(
                line + "\n"
                for line in out.stdout.splitlines()
                if not line.startswith("RESULT ")
            )
        )
        last = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        results[part] = json.loads(last[-1][len("RESULT ") :])
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "analytics.json").write_text(json.dumps(results, indent=2))
    for part in ("postgres", "duckdb"):
        r = results[part]
        print(
            f"{part}: {r['customers']:,} customers, analysis {r['analysis_seconds']} s,"
            f" total {r['total_seconds']} s, peak RSS {r['peak_rss_mb']} MB,"
            f" load {r['load_average'][0]:.1f}"
        )
    r = results["rules"]
    print(
        f"rules: {r['rules']} rules over {r['baskets']:,} baskets, ours"
        f" {r['steps']['rules.mine_rules']} s vs mlxtend"
        f" {r['steps']['mlxtend direct']} s, same rules: {r['same_rules']}"
    )


if __name__ == "__main__":
    main()
