"""Generated marketplace users, shaped like the brief's `public.users`, for the source database.

Deterministic for a seed; dates are consistent (account creation ≤ first paid listing ≤ last
paid listing, first ≤ last transaction), list columns are comma-separated slugs (DESIGN §3).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Iterable

import psycopg
from psycopg import sql

from cdp_etl.load_users import USERS_COLUMNS

SOURCE_RELATION = "public.marketplace_users"
VERTICALS = ["cars", "property", "electronics", "jobs", "services", "furniture"]
LEVELS_1 = ["cars_for_sale", "apartments_for_rent", "mobile_phones", "villas_for_sale", "laptops", "car_parts"]
PLANS = ["basic", "pro", "extra", "plus", "super", "standard", "premium", "optimum"]
ADDONS = ["pinning", "extended", "promoted", "pinning_shuffle", "premium", "power_pin", "refresh", "vip"]
AS_OF = dt.datetime(2026, 11, 1)


def create_source_table(source_dsn: str, cdp_dsn: str, relation: str = SOURCE_RELATION) -> None:
    """The marketplace's snapshot table: the brief's columns and types, with no constraints
    (a real source can hold the broken rows the validation must catch)."""
    with psycopg.connect(cdp_dsn) as cdp:
        types = dict(cdp.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = 'public.users'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        ).fetchall())
    schema, table = relation.split(".")
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in USERS_COLUMNS
    )
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(schema, table), columns))


def insert_users(source_dsn: str, users: Iterable[dict], relation: str = SOURCE_RELATION) -> None:
    schema, table = relation.split(".")
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, USERS_COLUMNS))
    )
    with psycopg.connect(source_dsn) as conn, conn.cursor() as cur, cur.copy(statement) as copy:
        for user in users:
            copy.write_row([user[c] for c in USERS_COLUMNS])


def generate_users(count: int, seed: int = 7, first_id: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [_user(rng, user_id) for user_id in range(first_id, first_id + count)]


def _slugs(rng: random.Random, choices: list[str], most: int) -> list[str]:
    return rng.sample(choices, rng.randint(1, most))


def _user(rng: random.Random, user_id: int) -> dict:
    created = AS_OF - dt.timedelta(days=rng.randint(1, 1500), seconds=rng.randint(0, 86_399))
    u: dict = {c: None for c in USERS_COLUMNS}
    u.update(
        user_id=user_id,
        user_type=rng.choices(["individual", "business", "office"], [80, 15, 5])[0],
        phone=96550000000 + rng.randint(0, 9_999_999) if rng.random() < 0.9 else None,
        current_credits_in_wallet=round(rng.uniform(0, 500), 2),
        is_block=1 if rng.random() < 0.02 else 0,
        user_account_creation_date=created,
        active_months_last_6=float(rng.randint(0, 6)),
        active_weeks_last_12=float(rng.randint(0, 12)),
    )
    paid = rng.random() < 0.6
    free_count = rng.randint(0, 30)
    paid_count = rng.randint(1, 40) if paid else 0
    u.update(paid_listings_count=paid_count, free_listings_count=free_count,
             total_listings_count=paid_count + free_count,
             office_listings_count=rng.randint(0, paid_count) if u["user_type"] == "office" else 0)
    if paid:
        first_paid = created + dt.timedelta(days=rng.randint(0, (AS_OF - created).days), seconds=rng.randint(0, 3600))
        first_paid = min(first_paid, AS_OF)
        last_paid = first_paid + (AS_OF - first_paid) * rng.random()
        u.update(first_paid_listing_date=first_paid, last_paid_listing_date=last_paid,
                 days_since_last_paid_listing=(AS_OF - last_paid).days)
    if rng.random() < 0.7:
        first_tx = created + (AS_OF - created) * rng.random()
        last_tx = first_tx + (AS_OF - first_tx) * rng.random()
        u.update(first_transaction_date=first_tx, last_transaction_date=last_tx,
                 days_since_last_transaction=(AS_OF - last_tx).days,
                 days_since_last_paid_transaction=(AS_OF - last_tx).days)
    premium = rng.randint(0, 400) if paid else 0
    free_credits = rng.randint(0, 100) if paid else 0
    u.update(total_credits_spent=premium + free_credits, total_premium_credits_spent=premium,
             total_free_credits_spent=free_credits)
    addons = _slugs(rng, ADDONS, 3) if paid and rng.random() < 0.5 else []
    addon_credits = float(sum(rng.randint(5, 40) for _ in addons))
    u.update(extra_addons_count=len(addons), extra_addons_total_credits=addon_credits,
             extra_addons_premium_credits=round(addon_credits * 0.8, 2),
             extra_addons_free_credits=round(addon_credits * 0.2, 2),
             favorite_extra_addon=addons[0] if addons else None,
             top_extra_addons=",".join(addons) if addons else None)
    verticals = _slugs(rng, VERTICALS, 3)
    levels = _slugs(rng, LEVELS_1, 3)
    plans = _slugs(rng, PLANS, 3) if paid else []
    u.update(verticals_listed_in=",".join(verticals), levels_1_listed_in=",".join(levels),
             plans_or_bundles_used=",".join(plans) if plans else None,
             favorite_vertical=verticals[0], favorite_level_1=levels[0],
             number_of_verticals_listed_in=len(verticals), number_of_level1_categories_listed_in=len(levels),
             is_multivertical_user=1 if len(verticals) > 1 else 0,
             favorite_plan_or_bundle=plans[0] if plans else None)
    for plan in PLANS:
        used = plan in plans
        u[f"{plan}_listings_count"] = rng.randint(1, 10) if used else 0
        u[f"{plan}_credits_spent"] = rng.randint(5, 200) if used else 0
    for office in ("car_offices", "property_offices", "electronics_shops"):
        used = u["user_type"] == "office" and rng.random() < 0.5
        u[f"{office}_listings_count"] = rng.randint(1, 20) if used else 0
        u[f"{office}_credits_spent"] = rng.randint(10, 300) if used else 0
    for addon in ADDONS:
        used = addon in addons
        u[f"addon_{addon}_listings_count"] = rng.randint(1, 5) if used else 0
        u[f"addon_{addon}_credits_spent"] = rng.randint(5, 40) if used else 0
    days_50, days_baraka = rng.randint(0, 30), rng.randint(0, 30)
    u.update(offer_50_days_used=days_50, offer_baraka_days_used=days_baraka,
             offer_total_days_used=days_50 + days_baraka,
             offer_50_percentage=round(days_50 / 60, 4), offer_baraka_percentage=round(days_baraka / 60, 4),
             offer_total_percentage=round((days_50 + days_baraka) / 60, 4))
    assert set(u) == set(USERS_COLUMNS), set(u) ^ set(USERS_COLUMNS)
    return u
