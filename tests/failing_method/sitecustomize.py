"""Loaded (as ``sitecustomize``) only by the browser test that makes one method crash: with
``$HESSIAN_TEST_CRASHING_METHOD`` set, that method raises when it runs, in the server and in its
worker processes, as a library's crash would."""

import os

_NAME = os.environ.get("HESSIAN_TEST_CRASHING_METHOD")
if _NAME:
    from core.methods import registry

    _load = registry.MethodSpec.load

    def _crashing_load(spec):
        if spec.name != _NAME:
            return _load(spec)

        def crash(problem, options):
            raise RuntimeError("linalg.eigh: The algorithm failed to converge (made to crash by the browser test)")
        return crash

    registry.MethodSpec.load = _crashing_load
