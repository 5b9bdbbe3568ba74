"""The one error the imaging engine raises for images it cannot show."""

from __future__ import annotations


class UnsupportedImage(Exception):
    """An image that cannot be shown; the message is one line saying why.

    The reason names what a user can act on: the transfer syntax, the
    attribute that is wrong, or the package that would decode the data.
    """
