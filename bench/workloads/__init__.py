"""The benchmark workloads W1..W6 of ../shared/peers, plus floors, peak RSS and CLI start-up.

Each module has ``run(ctx, tools)`` that measures lamina and the available peers the same way and
appends Results to the Context; ``bench/run.py`` drives them. Imported with bench/ on sys.path;
lamina itself must never import these.
"""
