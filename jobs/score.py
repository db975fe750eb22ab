"""Ray job: score a plan against a synthetic world's ground truth (plan vs oracle, baselines)."""

from __future__ import annotations

from adopt.scoring import score_plan
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--world", required=True, help="the world folder (with truth/)")
    p.add_argument("--plan", required=True, help="plan folder (WS/plans/<plan_id>)")
    args = p.parse_args()
    print(score_plan(args.world, args.workspace, args.plan))


if __name__ == "__main__":
    run(main)
