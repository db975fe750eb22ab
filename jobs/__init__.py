"""Thin Ray job entry points: each parses arguments and calls adopt.

Run one on a cluster with
``ray job submit --address http://127.0.0.1:8265 --working-dir . -- python -m jobs.<stage> ...``
or directly with ``python -m jobs.<stage> ...`` (a local Ray starts when needed).
"""
