"""A pure-Python package shipped in a --deps directory (as scripts/install-deps would put it)."""


def words(text):
    return [w.strip(".,;:!?").lower() for w in text.split()]
