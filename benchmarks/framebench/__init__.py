"""The streamframer benchmark harness: workloads, implementations, timing, report.

``benchmarks/run.py`` is the entry point; the modules here are importable (with ``benchmarks/``
on ``sys.path``) so that the test suite can check the harness itself.
"""
