"""The file storage's errors, as leaves of the platform's one tree (``alexandrite.common.errors``).

AppError
├── NotFound         404
│   └── ModelNotFound        no stored blob under this key
├── PayloadTooLarge  413
│   └── ModelTooLarge        an upload past the size limit (the partial file is removed)
├── InvalidModel     422     re-exported: not a readable or printable mesh, with the reason
└── DependencyFailed 503
    ├── AnalysisBusy         too many analyses running or waiting (Retry-After)
    ├── AnalysisTimedOut     the analysis overran its timeout (the pool is replaced)
    └── AnalysisWorkerFailed a worker died or ran out of memory
"""

from __future__ import annotations

from alexandrite.common.errors import DependencyFailed, InvalidModel, NotFound, PayloadTooLarge

__all__ = [
    "AnalysisBusy",
    "AnalysisTimedOut",
    "AnalysisWorkerFailed",
    "InvalidModel",
    "ModelNotFound",
    "ModelTooLarge",
]


class AnalysisBusy(DependencyFailed):
    """The analysis queue is full: refused at once, with when to try again."""


class AnalysisTimedOut(DependencyFailed):
    """The analysis did not finish in time (the server's limit, not proof the file is bad)."""


class AnalysisWorkerFailed(DependencyFailed):
    """The worker process analysing the model died or ran out of memory."""


class ModelNotFound(NotFound):
    """No stored model file under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored model file {key!r}", key=key)
        self.key = key


class ModelTooLarge(PayloadTooLarge):
    """The upload went past ``max_bytes``; nothing of it is kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"the model file is larger than the limit of {max_bytes:,} bytes",
            max_bytes=max_bytes,
        )
        self.max_bytes = max_bytes
