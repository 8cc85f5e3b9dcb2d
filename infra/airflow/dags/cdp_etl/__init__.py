"""The CDP's ETL: loads that feed the ETL-owned tables (DESIGN §3).

Plain Python with no Airflow import, so every step is unit-testable against a real PostgreSQL;
the DAG files beside this package only wire these steps into tasks. Each load is
begin → stage → validate → publish, with one `cdp.ingestion_batches` row per run.
"""
