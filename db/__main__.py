"""``python -m db upgrade --db URL``: bring a database to this release's schema, in place.
``python -m db status --db URL``: say which schema revision it is at, changing nothing.
``python -m db purge --db URL [--days N]``: delete the observations of sessions that ended more
than N days ago (default: the admin's retention setting), keeping the sessions and their students."""

from __future__ import annotations

import argparse
import sys

from db.connection import DEFAULT_URL, DatabaseError, make_engine, safe_url
from db.migrate import MigrationError, state, upgrade

WHAT = {
    "empty": "empty (no tables yet)",
    "unversioned": "made by a release before schema migrations",
    "behind": "at an older schema revision",
    "current": "up to date",
    "ahead": "made by a newer release of this software",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m db", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (("upgrade", "apply the schema migrations this database lacks"),
                       ("status", "print the database's schema revision")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--db", default=DEFAULT_URL, help=f"SQLAlchemy URL (default {DEFAULT_URL})")
    text = "delete the observations of sessions that ended more than N days ago (retention)"
    p = sub.add_parser("purge", help=text, description=text)
    p.add_argument("--db", default=DEFAULT_URL, help=f"SQLAlchemy URL (default {DEFAULT_URL})")
    p.add_argument("--days", type=int, help="days to keep (default: the retention the admin set in the dashboard)")
    args = ap.parse_args(argv)
    shown = safe_url(args.db)
    if args.command == "purge":
        return _purge(args.db, args.days)
    try:
        engine = make_engine(args.db)
        if args.command == "status":
            with engine.connect() as c:
                st = state(c)
            print(f"{shown}: {WHAT[st.state]} (revision {st.revision or '-'}; this release: {st.head})")
            return 0
        before, after = upgrade(engine)
    except (DatabaseError, MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the server is not there, wrong password, a locked file
        print(f"error: cannot open {shown}: {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    if before.state == "current":
        print(f"{shown}: already up to date (revision {after.revision})")
    else:
        print(f"{shown}: {WHAT[before.state]} (revision {before.revision or '-'}) -> upgraded to {after.revision}")
    return 0


def _purge(url: str, days: int | None) -> int:
    from db import connect
    from db import repository as repo

    shown = safe_url(url)
    if days is not None and days < 1:
        print(f"error: --days must be at least 1, not {days}", file=sys.stderr)
        return 2
    try:
        with connect(url)() as s:
            days = days if days is not None else repo.retention_days(s)
            if days is None:
                print(f"{shown}: no retention period is set (the dashboard's Users page, or --days N): nothing purged")
                return 0
            purged = repo.purge_old_observations(s, days)
    except (DatabaseError, MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: cannot purge {shown}: {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}",
              file=sys.stderr)
        return 2
    which = ", ".join(f"#{i}" for i in purged) or "none"
    print(f"{shown}: observations older than {days} days purged from {len(purged)} sessions ({which})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
