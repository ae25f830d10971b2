"""The engine's floor for bench_ingest: the pandas baseline's steps as hand-written DuckDB SQL.

Run by ``bench_ingest.py`` in a fresh process per measurement (``--engines ...,floor``); prints
one JSON line. It answers "how fast can these steps go on this machine at all?": the same work as
``pandas_baseline.py`` (read every touch CSV, parse timestamps and cost, lower-case e-mails,
normalize domains, link by contact e-mail → domain → IP range, hash a key, drop duplicates, land
in a DuckDB file; on re-load, write only new or changed rows), written by someone who knows
DuckDB, in as few passes as the engine allows, and with none of abmkit's guarantees: no
per-cell validation, no row numbers, no quarantine, no per-file load records. A ratio of
abmkit to pandas can only approach the ratio of this floor to pandas.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from abmkit.resolve.domains import account_domain, email_domain
from pandas_baseline import child_main, lookups, peak_rss_mb, per_distinct

KEY = ["ts", "email", "domain", "ip", "channel", "kind", "campaign_id", "url", "session_id",
       "source"]  # fmt: skip
COLUMNS = ["timestamp", "ip", "email", "url", "referrer", "session_id", "domain", "channel",
           "kind", "campaign_id", "cost", "source"]  # fmt: skip


def by_header(files: list[Path]) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for path in files:
        with path.open() as fh:
            groups.setdefault(fh.readline().strip(), []).append(path)
    return groups


def scan(header: str, paths: list[Path]) -> str:
    have = [c.strip('"') for c in header.split(",")]
    listed = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    web = "kind" not in have  # web analytics exports: every row is a page view
    cols = [(f'"{c}"' if c in have else "NULL::VARCHAR") + f' AS "{c}"' for c in COLUMNS
            if c not in ("kind", "channel")]  # fmt: skip
    cols += ["'web_visit' AS kind", "'web' AS channel"] if web else ["kind", "channel"]
    return f"SELECT {', '.join(cols)} FROM read_csv({listed}, header=true, all_varchar=true)"


def ex(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
    """Run one statement; its time goes to stderr, to see where the floor's seconds go."""
    clock = time.perf_counter()
    result = con.execute(sql)
    print(f"{time.perf_counter() - clock:6.2f}s {' '.join(sql.split())[:70]}", file=sys.stderr)
    return result


def run(market: Path, db: Path, phase: str) -> dict:
    info = json.loads((market / "bench.json").read_text())
    files = [market / p for p in info["touch_files"]]
    if phase == "first" and db.exists():
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    lk = lookups(market)  # untimed, as in the baseline
    con = duckdb.connect(str(db))
    ex(con, "SET memory_limit='3GB'")
    con.register("by_domain_df", lk["domain"].rename_axis("d").reset_index(name="account_id"))
    con.register("by_email_df", lk["email"].rename_axis("e").reset_index(name="account_id"))
    ranges = pd.DataFrame({"lo": lk["ip_start"], "hi": lk["ip_end"], "account_id":
                           lk["ip_account"]})  # fmt: skip
    con.register("ranges_df", ranges)
    clock = time.perf_counter()
    ex(con, "CREATE TEMP TABLE raw AS " + " UNION ALL BY NAME ".join(
        scan(h, paths) for h, paths in by_header(files).items()))  # fmt: skip
    rows = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    # Python normalizers once per distinct value, as the baseline does.
    domains = con.execute("SELECT DISTINCT domain FROM raw").df()["domain"]
    emails = con.execute("SELECT DISTINCT lower(trim(email)) e FROM raw").df()["e"]
    con.register("dmap", pd.DataFrame({"v": domains, "d": per_distinct(domains, account_domain)}))
    con.register("emap", pd.DataFrame({"v": emails, "d": per_distinct(
        emails, lambda e: account_domain(email_domain(e)))}))  # fmt: skip
    ip_number = ("CASE WHEN ip ~ '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$' THEN "
                 "(string_split(ip, '.')[1]::BIGINT << 24) + (string_split(ip, '.')[2]::BIGINT "
                 "<< 16) + (string_split(ip, '.')[3]::BIGINT << 8) + "
                 "string_split(ip, '.')[4]::BIGINT END")  # fmt: skip
    ex(
        con,
        f"""CREATE TEMP TABLE ipmap AS
        SELECT DISTINCT ON (ip) ip, r.account_id FROM (SELECT DISTINCT ip, {ip_number} AS n
        FROM raw WHERE ip IS NOT NULL) i JOIN ranges_df r ON i.n BETWEEN r.lo AND r.hi
        ORDER BY ip, r.hi - r.lo""",
    )
    key = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in KEY)
    ex(
        con,
        f"""CREATE TEMP TABLE keyed AS
        SELECT *, md5(concat_ws('|', {key})) AS touch_key FROM (
            SELECT CAST("timestamp" AS TIMESTAMPTZ) AS ts, TRY_CAST(cost AS DOUBLE) AS cost,
                   r.email, coalesce(dm.d, em.d) AS domain, r.ip, r.url, r.referrer,
                   r.session_id, lower(trim(r.channel)) AS channel,
                   regexp_replace(lower(trim(r.kind)), '[\\s-]+', '_', 'g') AS kind,
                   r.campaign_id, r.source,
                   coalesce(be.account_id, bd.account_id, bi.account_id) AS account_id,
                   CASE WHEN be.account_id IS NOT NULL THEN 'contact_email'
                        WHEN bd.account_id IS NOT NULL THEN 'domain'
                        WHEN bi.account_id IS NOT NULL THEN 'ip' END AS match_method
            FROM (SELECT * REPLACE (lower(trim(email)) AS email) FROM raw) r
            LEFT JOIN dmap dm ON r.domain = dm.v LEFT JOIN emap em ON r.email = em.v
            LEFT JOIN by_email_df be ON r.email = be.e
            LEFT JOIN by_domain_df bd ON coalesce(dm.d, em.d) = bd.d
            LEFT JOIN ipmap bi ON r.ip = bi.ip)""",
    )
    # Duplicates are rare: find the keys that repeat, and keep one row of each of those only.
    ex(
        con,
        """CREATE TEMP TABLE repeated AS
        SELECT touch_key FROM keyed GROUP BY touch_key HAVING count(*) > 1""",
    )
    ready = """(SELECT * FROM keyed ANTI JOIN repeated USING (touch_key) UNION ALL
        SELECT DISTINCT ON (touch_key) * FROM keyed SEMI JOIN repeated USING (touch_key))"""
    if phase == "first":
        ex(con, f"CREATE TABLE touches AS SELECT * FROM {ready}")
    else:
        content = [
            d[0]
            for d in con.execute("SELECT * FROM keyed LIMIT 0").description
            if d[0] != "touch_key"
        ]
        differs = " OR ".join(f"n.{c} IS DISTINCT FROM t.{c}" for c in content)
        ex(
            con,
            f"""CREATE TEMP TABLE classified AS SELECT * FROM (SELECT n.*,
            CASE WHEN t.touch_key IS NULL THEN 'new' WHEN {differs} THEN 'changed' END AS status
            FROM {ready} n LEFT JOIN touches t USING (touch_key)) WHERE status IS NOT NULL""",
        )
        ex(con, "BEGIN")
        ex(
            con,
            """DELETE FROM touches WHERE touch_key IN
            (SELECT touch_key FROM classified WHERE status = 'changed')""",
        )
        ex(
            con,
            """INSERT INTO touches BY NAME SELECT * EXCLUDE (status) FROM classified
            WHERE status IS NOT NULL""",
        )
        ex(con, "COMMIT")
    seconds = time.perf_counter() - clock
    stored, linked = con.execute("SELECT count(*), count(account_id) FROM touches").fetchone()
    con.close()
    return {"seconds": seconds, "touches_in": rows, "peak_rss_mb": peak_rss_mb(), "stored": stored,
            "linked": linked}  # fmt: skip


if __name__ == "__main__":
    sys.exit(child_main(run, "hand-written DuckDB floor of bench_ingest"))
