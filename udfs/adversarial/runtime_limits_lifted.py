# attack: lift the runtime's own name and function-count limits from inside the file, then register 300,000 functions with 100 KB names (the host refuses them)
# expect: load-invalid
import udfbox.runtime
from udfbox import udf

udfbox.runtime.MAX_FUNCTIONS_PER_FILE = 10**9
udfbox.runtime.MAX_NAME_CHARS = 10**9

f = udf(lambda x: x, result_type="BIGINT")
for i in range(300_000):
    globals()["f%d" % i] = f
globals()["n" * 100_000] = udf(lambda x: x, result_type="BIGINT")
