# attack: replace the runtime's own output buffer with one that hands the host 60 MB of text at every hand-over (the host bounds what it forwards)
# expect: result:1
import sys

from udfbox import DataTypes, udf
from udfbox.runtime import Runtime

def patch_runtime(output):
    """Replaces the sandbox runtime's output buffer; fails loudly if it cannot find it."""
    runtimes = [m._RUNTIME for m in list(sys.modules.values()) if isinstance(getattr(m, "_RUNTIME", None), Runtime)]
    assert runtimes, "no runtime found"
    for runtime in runtimes:
        runtime._output = output


class Flood:
    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def take(self):
        return "x" * 60_000_000


patch_runtime(Flood())


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x
