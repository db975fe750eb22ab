"""Ray job: build audiences (k-means on profiles and interests, or SQL rules)."""

from __future__ import annotations

from adopt.audiences import segment_workspace
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--k", type=int, default=12, help="segments (k-means)")
    p.add_argument("--min-size", type=int, default=50, help="smallest segment kept")
    p.add_argument("--rules", default=None, help="rule segments (TOML) instead of k-means")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(segment_workspace(args.workspace, k=args.k, min_size=args.min_size, rules=args.rules,
                            seed=args.seed))


if __name__ == "__main__":
    run(main)
