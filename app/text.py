r"""Text that came from outside (a URL, a text box, a file path, an error message built from them)
shown as what it is: never as Markdown or HTML, so nobody can put a link, an image or markup in
the app's own boxes by sending a crafted link."""

from __future__ import annotations

import re
import string

#: every ASCII punctuation character: CommonMark lets each be escaped with a backslash, and an
#: escaped one is always literal text (no link, image, emphasis, HTML, code, directive or icon)
_ESCAPED = {c: "\\" + c for c in string.punctuation}
#: what GitHub-flavoured Markdown turns into a link even in plain text ("autolink literals"):
#: a zero-width space after its first letter, or after an e-mail's @, keeps it text
_AUTOLINK = re.compile(r"(?i)(?<=\b[hfwm])(?=ttps?:|tp:|ww\.|ailto:)|(?<=@)")


def literal(text: object) -> str:
    r"""``text`` with every Markdown-significant character escaped, line breaks kept, and what
    would be turned into a link by itself (a bare ``https://``, ``www.``, an e-mail address) kept
    as text by an invisible zero-width space.

    >>> print(literal("[x](http://a) ![t](h) :red[b] <i>").replace("\u200b", "|"))
    \[x\]\(h|ttp\:\/\/a\) \!\[t\]\(h\) \:red\[b\] \<i\>
    """
    text = _AUTOLINK.sub("\u200b", str(text))
    return "".join(_ESCAPED.get(c, c) for c in text).replace("\n", "  \n")
