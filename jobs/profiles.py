"""Ray job: build user profiles, ad history and training examples (DuckDB SQL)."""

from __future__ import annotations

from adopt.profiles import build_profiles
from jobs._args import parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--as-of", default=None)
    args = p.parse_args()
    print(build_profiles(args.workspace, as_of=args.as_of))


if __name__ == "__main__":
    main()
