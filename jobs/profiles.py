"""Ray job: build user profiles, ad history and training examples (DuckDB SQL)."""

from __future__ import annotations

from adopt.profiles import build_profiles
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--as-of", default=None)
    p.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 4GB")
    p.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    args = p.parse_args()
    print(build_profiles(args.workspace, as_of=args.as_of, memory_limit=args.memory_limit,
                         threads=args.threads))


if __name__ == "__main__":
    run(main)
