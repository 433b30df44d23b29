"""``python -m dashboard [--port N] [--host H] [--db URL] [--uploads DIR] [--ray ADDRESS] [--demo]``:
checks the port, the database (and the Ray head), prints the address, then becomes ``streamlit run
dashboard/asgi.py`` (the pages of ``dashboard/app.py`` with the sign-in cookie and the upload gate;
``app.py`` served on its own refuses to open)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from dashboard.config import ENV_DB, ENV_RAY, ENV_UPLOADS, load_settings, max_upload_mb
from db.connection import safe_url

APP = Path(__file__).resolve().parent / "app.py"
# What Streamlit serves: APP plus the sign-in cookie's route and the upload gate (dashboard.web_session).
SERVER = APP.with_name("asgi.py")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is not "in use"
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def next_free_port(host: str, port: int, tries: int = 50) -> int | None:
    return next((p for p in range(port + 1, min(port + tries, 65535) + 1) if port_is_free(host, p)), None)


def ray_head_problem(address: str) -> str | None:
    """Why ``--ray ADDRESS`` cannot be used, or None. ``local`` (an embedded cluster per upload) and
    ``auto`` (the cluster this machine belongs to) are the engine's to check; a HOST:PORT must
    answer now, or every upload would fail later (the engine refuses it the same way)."""
    if address in ("local", "auto"):
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return f"--ray takes local, auto or HOST:PORT of a Ray head node, not {address!r}"
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        return f"no Ray cluster answers at {address}: {exc.strerror or exc}"
    return None


def streamlit_command(port: int, host: str, db_url: str, uploads: Path, ray: str | None = None) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(SERVER),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--server.maxUploadSize", str(max_upload_mb()), "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
        "--", "--db", db_url, "--uploads", str(uploads), *(["--ray", ray] if ray else []),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboard", description="Serve the classroom-engagement dashboard.")
    ap.add_argument("--port", type=int, default=8501, help="the port to serve on (default 8501: http://localhost:8501)")
    ap.add_argument("--host", default="localhost", help="address to listen on (0.0.0.0 for the whole network)")
    ap.add_argument("--db", default=None, help=f"SQLAlchemy URL (default ${ENV_DB} or sqlite:///classroom.db)")
    ap.add_argument("--uploads", default=None, help="folder for uploaded recordings (default: uploads/ beside the db)")
    ap.add_argument("--ray", default=None, metavar="local|auto|ADDRESS",
                    help=f"analyse uploads on this Ray cluster (python -m engine batch --ray; default ${ENV_RAY}, "
                         "else one engine process per upload on this machine)")
    ap.add_argument("--demo", action="store_true", help="add a demo class to the database if it has no sessions")
    args = ap.parse_args(argv)

    settings = load_settings([a for pair in (("--db", args.db), ("--uploads", args.uploads), ("--ray", args.ray))
                              if pair[1] for a in pair])
    if settings.ray_address and (problem := ray_head_problem(settings.ray_address)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not port_is_free(args.host, args.port):
        alt = next_free_port(args.host, args.port)
        print(f"error: port {args.port} is in use; try --port {alt or args.port + 1}", file=sys.stderr)
        return 2

    from dashboard import setup_code
    from dashboard.data import DatabaseProblem, count_users, has_sessions, open_database

    try:
        factory = open_database(settings.db_url)
        if args.demo and not has_sessions(factory):
            from dashboard.demo import seed_demo

            seed_demo(settings.db_url)
        no_account = count_users(factory) == 0
    except DatabaseProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # The first admin account needs a one-time code that only this terminal shows (a fresh one
    # at each start while the database has no account; none once it has one).
    code_file = setup_code.code_path(settings)
    try:
        if no_account:
            print(setup_code.announce(setup_code.issue(code_file)), flush=True)
        else:
            setup_code.discard(code_file)
    except OSError as exc:
        print(f"error: cannot write the setup code file {code_file}: {exc}", file=sys.stderr)
        return 2

    # The key that signs the sign-in cookies: made at the first start, kept beside the database.
    from dashboard import web_session

    try:
        web_session.load_secret(web_session.secret_path(settings))
    except OSError as exc:
        print(f"error: cannot write the sign-in key file {web_session.secret_path(settings)}: {exc}", file=sys.stderr)
        return 2

    shown_host = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"Dashboard: http://{shown_host}:{args.port}  (database {safe_url(settings.db_url)}; Ctrl-C stops it)", flush=True)
    env = {**os.environ, ENV_DB: settings.db_url, ENV_UPLOADS: str(settings.uploads_dir)}
    if settings.ray_address:
        env[ENV_RAY] = settings.ray_address
        print(f"Uploads are analysed on the Ray cluster {settings.ray_address} (python -m engine batch --ray)", flush=True)
    cmd = streamlit_command(args.port, args.host, settings.db_url, settings.uploads_dir, settings.ray_address)
    # Become the Streamlit server (no wrapper process left to orphan it, Ctrl-C goes straight to it).
    os.execve(sys.executable, cmd, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
