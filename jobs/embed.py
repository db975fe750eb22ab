"""Ray job: embed ad creatives and user interest texts with BERT (cached)."""

from __future__ import annotations

from adopt.embeddings import embed_workspace
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--model", default=None, help="local BERT model folder")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--actors", type=int, default=None)
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    args = p.parse_args()
    # Inside a submitted job ray.init() joins the job's cluster.
    print(
        embed_workspace(
            args.workspace,
            model=args.model,
            address=args.address,
            batch_size=args.batch_size,
            actors=args.actors,
        )
    )


if __name__ == "__main__":
    run(main)
