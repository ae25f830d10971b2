"""The plain-pandas baseline of bench_ingest: load monthly touch exports, link them to accounts,
land them in a DuckDB file, the way a competent analyst would write it without abmkit.

Run by ``bench_ingest.py`` in a fresh process per measurement; prints one JSON line.

The steps mirror abmkit's so that only the engine differs:

* untimed, like abmkit's earlier loads of the CRM files: read accounts, contacts and ip_ranges
  and build the lookups (normalized account domain → account, contact e-mail → account, sorted
  IP ranges → account). Domains go through the same ``abmkit.resolve.domains`` normalizer,
  applied once per distinct value;
* timed: read every touch CSV (``dtype=str``) and concatenate; parse timestamps and cost;
  lower-case e-mails; normalize domains (a business e-mail gives the domain when none is given);
  default ``kind``/``channel`` of web visits; link each touch with abmkit's order of evidence
  (contact e-mail → domain → IP range, via ``np.searchsorted``); a content hash per touch
  (``pd.util.hash_pandas_object`` over the columns abmkit's ``touch_id`` hashes) and drop
  duplicates; then ``CREATE TABLE touches AS SELECT * FROM df`` in a DuckDB file.
* re-load: the same work, then an anti-join against the keys already stored; rows whose key is
  new are appended and rows whose other columns changed are replaced (none, when nothing
  changed, as in the benchmark).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from abmkit.resolve.domains import account_domain, email_domain, ip_to_int

KEY_COLUMNS = ["ts", "email", "domain", "ip", "channel", "kind", "campaign_id", "url",
               "session_id", "source"]  # fmt: skip
"""Content that identifies a touch: abmkit's TOUCH_CONTENT minus the columns these files lack."""


def per_distinct(values: pd.Series, fn) -> pd.Series:
    """fn applied once per distinct non-null value, mapped back onto every row."""
    distinct = values.dropna().unique()
    return values.map(dict(zip(distinct, map(fn, distinct), strict=True)))


def lookups(market: Path) -> dict:
    """Account lookups from the CRM files: by domain, by contact e-mail, by IP range."""
    accounts = pd.read_csv(market / "accounts.csv", dtype=str)
    accounts["domain"] = per_distinct(accounts["Website"], account_domain)
    accounts["_child"] = accounts["ParentId"].notna()  # top-level accounts win a shared domain
    by_domain = (accounts.dropna(subset=["domain"]).sort_values(["_child", "Id"])
                 .drop_duplicates("domain").set_index("domain")["Id"])  # fmt: skip
    contacts = pd.read_csv(market / "contacts.csv", dtype=str)
    contacts["email"] = contacts["Email"].str.lower().str.strip()
    by_mail_domain = per_distinct(contacts["email"], email_domain).map(by_domain)
    contacts["account_id"] = contacts["AccountId"].fillna(by_mail_domain)
    by_email = (contacts.dropna(subset=["email", "account_id"]).sort_values("Id")
                .drop_duplicates("email").set_index("email")["account_id"])  # fmt: skip
    ranges = pd.read_csv(market / "ip_ranges.csv", dtype=str)
    ranges["account_id"] = per_distinct(ranges["domain"], account_domain).map(by_domain)
    ranges = ranges.dropna(subset=["account_id"])
    ranges = ranges.assign(
        start=per_distinct(ranges["start_ip"], ip_to_int).astype("int64"),
        end=per_distinct(ranges["end_ip"], ip_to_int).astype("int64"),
    )
    ranges = ranges.sort_values(["start", "end"], ascending=[True, False])
    return {"domain": by_domain, "email": by_email,
            "ip_start": ranges["start"].to_numpy(), "ip_end": ranges["end"].to_numpy(),
            "ip_account": ranges["account_id"].to_numpy()}  # fmt: skip


def read_touches(files: list[Path]) -> pd.DataFrame:
    frames = []
    for path in files:
        frame = pd.read_csv(path, dtype=str)
        if "kind" not in frame:  # web analytics exports: every row is a page view
            frame["kind"], frame["channel"] = "web_visit", "web"
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    df["ts"] = pd.to_datetime(df.pop("timestamp"), utc=True, format="ISO8601")
    df["cost"] = pd.to_numeric(df["cost"])
    df["email"] = df["email"].str.lower().str.strip()
    df["domain"] = per_distinct(df["domain"], account_domain)
    business = per_distinct(df["email"], lambda e: account_domain(email_domain(e)))
    df["domain"] = df["domain"].fillna(business)
    df["kind"] = per_distinct(df["kind"], lambda k: "_".join(k.lower().replace("-", " ").split()))
    df["channel"] = per_distinct(df["channel"], lambda c: c.lower().strip())
    return df


def ip_accounts(ips: pd.Series, lk: dict) -> pd.Series:
    """Account of the IP range containing each visitor IP (ranges sorted by start)."""
    distinct = ips.dropna().unique()
    numbers = np.array([-1 if (n := ip_to_int(ip)) is None else n for ip in distinct], np.int64)
    at = np.searchsorted(lk["ip_start"], numbers, side="right") - 1
    inside = (at >= 0) & (numbers >= 0) & (numbers <= lk["ip_end"][np.maximum(at, 0)])
    found = pd.Series(np.where(inside, lk["ip_account"][np.maximum(at, 0)], None), distinct)
    return ips.map(found.dropna())


def link(df: pd.DataFrame, lk: dict) -> pd.DataFrame:
    evidence = {"contact_email": df["email"].map(lk["email"]),
                "domain": df["domain"].map(lk["domain"]),
                "ip": ip_accounts(df["ip"], lk)}  # fmt: skip
    account = pd.Series(None, index=df.index, dtype="str")
    method = pd.Series(None, index=df.index, dtype="str")
    for name, found in evidence.items():
        method = method.mask(account.isna() & found.notna(), name)
        account = account.fillna(found)
    df["account_id"], df["match_method"] = account, method
    df["match_score"] = np.where(account.notna(), 100.0, np.nan)
    return df


def keyed(df: pd.DataFrame) -> pd.DataFrame:
    """touch_key: a hash of the identifying content; row_hash: of everything stored."""
    df["touch_key"] = pd.util.hash_pandas_object(df[KEY_COLUMNS], index=False).to_numpy()
    df = df.drop_duplicates("touch_key", keep="last")
    content = [c for c in df.columns if c != "touch_key"]
    return df.assign(row_hash=pd.util.hash_pandas_object(df[content], index=False).to_numpy())


def land(df: pd.DataFrame, db: Path, phase: str) -> dict:
    con = duckdb.connect(str(db))
    try:
        if phase == "first":
            con.execute("CREATE TABLE touches AS SELECT * FROM df")
            counts = {"inserted": len(df), "updated": 0}
        else:
            stored = con.execute("SELECT touch_key, row_hash FROM touches").df()
            known = df.merge(stored, on="touch_key", how="left", suffixes=("", "_stored"))
            new = known[known["row_hash_stored"].isna()].drop(columns="row_hash_stored")
            changed = known[known["row_hash_stored"].notna()
                            & (known["row_hash_stored"] != known["row_hash"])]  # fmt: skip
            changed = changed.drop(columns="row_hash_stored")
            con.execute("BEGIN")
            if len(changed):
                con.execute("DELETE FROM touches WHERE touch_key IN "
                            "(SELECT touch_key FROM changed)")  # fmt: skip
            for part in (new, changed):
                if len(part):
                    con.execute("INSERT INTO touches BY NAME SELECT * FROM part")
            con.execute("COMMIT")
            counts = {"inserted": len(new), "updated": len(changed)}
        stored_n, linked = con.execute("SELECT count(*), count(account_id) FROM touches").fetchone()
    finally:
        con.close()
    return counts | {"stored": stored_n, "linked": linked}


def run(market: Path, db: Path, phase: str) -> dict:
    info = json.loads((market / "bench.json").read_text())
    files = [market / p for p in info["touch_files"]]
    if phase == "first" and db.exists():
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    lk = lookups(market)
    setup = time.perf_counter() - clock
    clock = time.perf_counter()
    df = read_touches(files)
    rows = len(df)
    df = keyed(link(normalize(df), lk))
    counts = land(df, db, phase)
    seconds = time.perf_counter() - clock
    return {"seconds": seconds, "setup_seconds": setup, "touches_in": rows,
            "peak_rss_mb": peak_rss_mb()} | counts  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def child_main(run: Callable[[Path, Path, str], dict], description: str) -> int:
    """The command line of a bench_ingest child: measure one phase, print one JSON line."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--market", type=Path, required=True, help="a market folder of bench_ingest")
    p.add_argument("--db", type=Path, required=True, help="the DuckDB file to land touches in")
    p.add_argument("--phase", choices=["first", "reload"], default="first")
    args = p.parse_args()
    print(json.dumps(run(args.market, args.db, args.phase)))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(run, "plain-pandas baseline of bench_ingest"))
