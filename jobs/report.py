"""Ray job: write a plan's self-contained HTML report."""

from __future__ import annotations

from adopt.report import build_report
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--plan", required=True, help="plan folder (WS/plans/<plan_id>)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--min-segment-size", type=int, default=50)
    args = p.parse_args()
    out = build_report(args.plan, args.out, workspace=args.workspace,
                       min_segment_size=args.min_segment_size)
    print(f"report written to {out}")


if __name__ == "__main__":
    run(main)
