"""Ray job: embed ad creatives and user interest texts with BERT (cached)."""

from __future__ import annotations

from adopt.embeddings import embed_workspace
from jobs._args import parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--model", default=None, help="local BERT model folder")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--actors", type=int, default=None)
    args = p.parse_args()
    # Inside a submitted job ray.init() joins the job's cluster.
    print(
        embed_workspace(
            args.workspace, model=args.model, batch_size=args.batch_size, actors=args.actors
        )
    )


if __name__ == "__main__":
    main()
