"""SharePoint internal column names from display names.

SharePoint keeps ASCII letters, digits and ``_`` and encodes every other character as
``_xHHHH_`` (lower-case hex of the UTF-16 code unit); a first character that is not a letter is
encoded too. Observed examples: "Nächster Meilenstein" → "N_x00e4_chster_x0020_Meilenstein".
"""

from __future__ import annotations


def _enc(ch: str) -> str:
    data = ch.encode("utf-16-be")
    return "".join(f"_x{data[i]:02x}{data[i + 1]:02x}_" for i in range(0, len(data), 2))


def internal_name(display_name: str) -> str:
    out: list[str] = []
    for i, ch in enumerate(display_name):
        ascii_alnum = ch.isascii() and (ch.isalnum() or ch == "_")
        if i == 0 and not (ch.isascii() and ch.isalpha()):
            out.append(_enc(ch))
        elif ascii_alnum:
            out.append(ch)
        else:
            out.append(_enc(ch))
    return "".join(out)
