"""Runs one load outside Airflow, all four steps in this process (same code as the DAG tasks):

    cd infra/airflow/dags && python -m cdp_etl users
    python -m cdp_etl activity --day 2026-11-20      # re-load one reporting day

Configuration comes from the same environment variables (infra/airflow/README.md).
Exit status: 0 published, 1 failed (the batch row says why), 2 bad configuration,
3 the integration the load needs is not configured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from . import pipeline
from .config import ConfigError, EtlConfig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdp_etl", description="Run one CDP load outside Airflow.")
    parser.add_argument("source", choices=["users", "activity", "identities"])
    parser.add_argument("--day", help="reporting day YYYY-MM-DD for activity/identities (default: yesterday)")
    parser.add_argument("--run-id", default=None, help="recorded as the batch's dag_run_id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    now = dt.datetime.now(dt.timezone.utc)
    run = pipeline.RunContext(
        run_id=args.run_id or f"cli__{now.strftime('%Y%m%dT%H%M%S')}",
        reference_time=now,
        conf={"day": args.day} if args.day else {},
    )
    try:
        batch_id = pipeline.run(EtlConfig.from_env(), args.source, run)
    except ConfigError as exc:
        logging.error("configuration: %s", exc)
        return 2
    except pipeline.NotConfigured as exc:
        logging.error("not configured: %s", exc)
        return 3
    except Exception as exc:
        logging.error("%s load failed: %s", args.source, exc)
        return 1
    logging.info("%s load published as batch %s", args.source, batch_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
