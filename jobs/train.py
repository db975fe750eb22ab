"""Ray job: train a calibrated response model (LightGBM, or BERT on Ray Train)."""

from __future__ import annotations

from adopt.response.run import train_response
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--model", choices=("lightgbm", "bert"), default="lightgbm")
    p.add_argument("--run-id", default=None, help="model run id (reuse one to resume BERT)")
    p.add_argument("--tune", action="store_true", help="small Ray Tune search first")
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    card = train_response(args.workspace, model=args.model, run_id=args.run_id, tune=args.tune,
                          num_trials=args.trials, seed=args.seed)
    print(card.to_markdown())


if __name__ == "__main__":
    run(main)
