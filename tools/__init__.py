"""The tooling around the app: `make bench`, `make loadtest`, `make faults`, `make browser`.

Run each from the project root with `python -m tools.<module>`; `toolbox` is what they share.
"""
