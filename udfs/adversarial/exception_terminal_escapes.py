# attack: an exception message and class name with ESC, BEL, CR and bidi controls for the user's terminal
# expect: exception:Evil\u{1b}[2J
# message: raised Evil\u{1b}[2J: \u{1b}]0;owned\u{7}\rfake prompt $ \u{202e}txt.exe
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    raise type("Evil\x1b[2J", (ValueError,), {})("\x1b]0;owned\x07\rfake prompt $ \u202etxt.exe")
