"""`manage.py bench` (messaging/management/commands/bench.py): query counts and timings of the busy paths.

build      the data, written with bulk_create and explicit ids
scenarios  what is measured: threads, the inbox at growing sizes, cached partials, the badge poll, writes
measure    warm-up, one run with queries captured, then timed runs
report     the targets and the printed table
run        one run: a throwaway database and cache prefix (tools.toolbox), the scenarios, the report
"""
