"""Query counts and timings of the busy paths, measured on a throwaway database.

    python manage.py bench            # full sizes (1,000,000 messages at the top)
    python manage.py bench --quick    # small sizes, for CI
    python manage.py bench --json     # machine-readable

The command never touches the developer's database or cache: it points the
default connection at a temporary SQLite file (or, on PostgreSQL, at a
`<name>_bench` database it creates and drops) and gives the cache its own key
prefix, then restores both. The work is in tools/bench/: build (the data),
scenarios, measure, report (targets and table), run (one run, start to end).
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from tools.bench.report import render
from tools.bench.run import FULL, QUICK, run_bench


def int_list(text: str) -> list[int]:
    try:
        return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"Expected comma-separated integers, got {text!r}") from None


class Command(BaseCommand):
    help = "Build data in a throwaway database and report query counts and median times of the busy paths."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of the table.")
        parser.add_argument("--quick", action="store_true", help="Small sizes (a CI smoke test).")
        parser.add_argument("--repeat", type=int, help="Timed runs per measurement (median reported).")
        parser.add_argument("--thread-sizes", type=int_list, help="Reply counts, e.g. 30,300,3000.")
        parser.add_argument("--inbox-sizes", type=int_list, help="Messages in the database, e.g. 10000,100000.")
        parser.add_argument("--unread", type=int, help="Unread messages of the measured inbox user.")
        parser.add_argument("--unread-sizes", type=int_list,
                            help="Unread counts of the users whose inbox and badge are compared, e.g. 100,100000.")
        parser.add_argument("--explain", action="store_true",
                            help="Print the plans of the inbox queries at the largest size (also done when it fails).")
        parser.add_argument("--db-name", help="PostgreSQL: name of the throwaway database (default <name>_bench).")
        parser.add_argument("--seed", type=int, default=20240601)

    def handle(self, *args, **options):
        plan = dict(QUICK if options["quick"] else FULL)
        for key in ("thread_sizes", "inbox_sizes", "unread", "unread_sizes", "repeat"):
            if options[key] is not None:
                plan[key] = options[key]
        if plan["repeat"] < 1:
            raise CommandError("--repeat must be at least 1")
        plan["inbox_sizes"] = sorted(plan["inbox_sizes"])
        plan["thread_sizes"] = sorted(plan["thread_sizes"])
        plan["unread_sizes"] = sorted(plan["unread_sizes"])
        stream = self.stderr._out if hasattr(self.stderr, "_out") else sys.stderr
        report = run_bench(plan, seed=options["seed"], db_name=options["db_name"], explain=options["explain"],
                           stream=stream)  # fmt: skip
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            self.stdout.write(render(report))
