# attack: a set of objects whose hashes all collide, so every insertion compares with every earlier one (quadratic); string-hash collisions under the sandbox's fixed hash secret cost the same way, and the call's timeout is what bounds them
# expect: timeout
from udfbox import DataTypes, udf


class Colliding:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return self.n == other.n


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return len({Colliding(i) for i in range(200_000)})
