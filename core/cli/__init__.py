"""Command line: ``python -m core {run,claims,compare,warm,sweep,trajectory,landscape,own,data,methods}``.

``run`` prints the paper's table (exact Hessian vs PyHessian) for one configuration; ``claims``
checks the claims table on it; ``compare`` runs any set of methods and prints the comparison with
the exact Hessian; ``warm`` precomputes everything the app shows for some configurations before a
talk; ``sweep`` runs a grid of configurations x methods cell by cell (local processes or Dask);
``trajectory`` follows the spectrum along training; ``landscape`` the loss along eigenvectors;
``own`` runs the methods on the user's own model (``--model package.module:function``); ``data`` checks or downloads MNIST;
``methods`` lists the registry. (The benchmarks are ``python -m benchmarks``.) Results are
cached, so a repeated command is instant. Bad input prints one clear line and exits with status
2, computing nothing.

The parser, built from the field table, is :mod:`.parser`; one function per command is in
:mod:`.commands`; what they print and write is :mod:`.output`.
"""

from __future__ import annotations

import sys

from .. import library_warnings, workspace


def main(argv: list[str] | None = None) -> int:
    from ..budget import BudgetExceeded
    from ..cache import CacheError
    from ..config import ConfigError
    from ..methods import MethodError
    from ..own_model import OwnModelError
    from ..sweep import SweepError

    library_warnings.quiet()
    try:  # the defaults read $HESSIAN_DEVICE and $HESSIAN_THREADS: a bad one is one line, not a traceback
        from .parser import build_parser, validate
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        for name in ("cache_dir", "data_dir"):
            given = getattr(args, name, None)
            if given is not None and not given.strip():  # '' would mean the current folder, silently
                raise ConfigError("--" + name.replace("_", "-"), given, "a folder path (leave the flag out for "
                                  "the default)")
        workspace.use(getattr(args, "data_dir", None), getattr(args, "cache_dir", None))
        validate(args)
        return args.func(args)
    except (ConfigError, MethodError, CacheError, BudgetExceeded, SweepError, OwnModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what finished is cached, the interrupted entry is not
        print("interrupted: results finished before are cached; the one interrupted was not kept", file=sys.stderr)
        return 130
