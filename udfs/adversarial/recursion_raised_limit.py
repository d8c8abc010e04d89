# attack: raise the recursion limit, then recurse (aims at the C / wasm stack)
# expect: stack
import sys
from udfbox import DataTypes, udf

def dive(n):
    return dive(n + 1) + 1

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    sys.setrecursionlimit(10_000_000)
    return dive(x)
