"""Ray job: response curves per campaign x segment x placement x k from a trained model."""

from __future__ import annotations

from adopt.curves import build_curves
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--model", default=None, help="model run id (default: the latest)")
    p.add_argument("--max-k", type=int, default=10)
    p.add_argument("--users-per-segment", type=int, default=300)
    p.add_argument("--bootstrap", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(build_curves(args.workspace, run_id=args.model, max_k=args.max_k,
                       users_per_segment=args.users_per_segment, n_boot=args.bootstrap,
                       seed=args.seed))


if __name__ == "__main__":
    run(main)
