"""Ray job: optimise spend, impressions and frequency caps from the workspace's curves."""

from __future__ import annotations

from adopt.optimize import plan_from_workspace
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--config", required=True, help="plan file (TOML)")
    p.add_argument("--method", default="auto")
    args = p.parse_args()
    plan_id, folder = plan_from_workspace(args.workspace, args.config, method=args.method)
    print(f"plan {plan_id} written to {folder}")


if __name__ == "__main__":
    run(main)
