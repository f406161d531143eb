# The compiled core: the same API as the pure core (see _pure), with these types.
from typing import Callable

from ._pure import BufferManager as BufferManager
from ._pure import Frame as Frame

class compiled:
    reference: Callable[..., object]
    def __init__(
        self,
        kind: int,
        reference: Callable[..., object],
        io: Callable[..., object],
        read_failed: Callable[..., bool] | None = None,
    ) -> None: ...
    def __call__(self, *args: object) -> object: ...
