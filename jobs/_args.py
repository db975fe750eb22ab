"""Arguments shared by the job entry points."""

from __future__ import annotations

import argparse

from adopt.progress import setup_logging


def parser(description: str) -> argparse.ArgumentParser:
    setup_logging()
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workspace", required=True, help="workspace folder (shared on a cluster)")
    return p
