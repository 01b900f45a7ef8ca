"""Where each key of a TOML document sits: key path → line number.

``tomllib`` gives values but no positions, and pydantic reports errors by key path;
this scanner walks the text of a document ``tomllib`` already accepted and records the
line of every table header, key and array element, so an error can be printed as
``FILE:LINE: KEY.PATH: …``. It only needs to find positions, not to decode values, so it
skips strings and scalars without interpreting them.
"""

from __future__ import annotations

Path = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    """A cursor over the text that keeps the current line number."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def advance(self, size: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + size]
        self.line += chunk.count("\n")
        self.pos += len(chunk)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_blanks(self, newlines: bool) -> None:
        """Skip spaces, tabs, comments and (when allowed) line breaks."""
        while not self.at_end():
            char = self.peek()
            if char in " \t\r":
                self.advance()
            elif char == "\n" and newlines:
                self.advance()
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def skip_string(self) -> str:
        """Skip one string of any of TOML's four kinds and return its raw content."""
        for quote in ('"""', "'''"):
            if self.peek(3) == quote:
                self.advance(3)
                start = self.pos
                end = self.text.find(quote, self.pos)
                while quote == '"""' and end > 0 and _escaped(self.text, end):
                    end = self.text.find(quote, end + 1)
                end = len(self.text) if end < 0 else end
                # A closing delimiter may be followed by up to two more quote characters.
                while self.text[end + 3 : end + 4] == quote[0]:
                    end += 1
                self.advance(end - self.pos)
                content = self.text[start : self.pos]
                self.advance(3)
                return content
        quote = self.peek()
        self.advance()
        start = self.pos
        while not self.at_end() and self.peek() != quote and self.peek() != "\n":
            if quote == '"' and self.peek() == "\\":
                self.advance()
            self.advance()
        content = self.text[start : self.pos]
        self.advance()
        return content

    def key(self) -> list[str]:
        """Read a dotted key (bare or quoted parts)."""
        parts: list[str] = []
        while True:
            self.skip_blanks(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.skip_string())
            else:
                start = self.pos
                while not self.at_end() and self.peek() in _BARE:
                    self.advance()
                parts.append(self.text[start : self.pos])
            self.skip_blanks(newlines=False)
            if self.peek() != ".":
                return parts
            self.advance()


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def key_lines(text: str) -> dict[Path, int]:
    """Map every key path of a valid TOML document to the 1-based line that defines it.

    Array-of-tables elements get their index (``("sla", "credit_tiers", 1)``); a table
    defined only implicitly (``[a.b]`` without ``[a]``) maps to its first header.
    """
    scan = _Scanner(text)
    lines: dict[Path, int] = {}
    aot_index: dict[Path, int] = {}
    table: Path = ()

    def record(path: Path, line: int) -> None:
        # Prefixes too: an implicit table ([a.b] without [a]) is where it first appears.
        for size in range(1, len(path) + 1):
            lines.setdefault(path[:size], line)

    def resolve(parts: list[str]) -> Path:
        # Inside [[a]] a header [a.b] refers to the last element of a.
        path: Path = ()
        for part in parts:
            path = (*path, part)
            if path in aot_index:
                path = (*path, aot_index[path])
        return path

    def value(path: Path) -> None:
        scan.skip_blanks(newlines=False)
        char = scan.peek()
        if char == "{":
            scan.advance()
            while True:
                scan.skip_blanks(newlines=True)
                if scan.peek() in ("}", ""):
                    scan.advance()
                    return
                line = scan.line
                inner = (*path, *scan.key())
                record(inner, line)
                scan.skip_blanks(newlines=False)
                scan.advance()  # '='
                value(inner)
                scan.skip_blanks(newlines=True)
                if scan.peek() == ",":
                    scan.advance()
        elif char == "[":
            scan.advance()
            index = 0
            while True:
                scan.skip_blanks(newlines=True)
                if scan.peek() in ("]", ""):
                    scan.advance()
                    return
                record((*path, index), scan.line)
                value((*path, index))
                index += 1
                scan.skip_blanks(newlines=True)
                if scan.peek() == ",":
                    scan.advance()
        elif char in ('"', "'"):
            scan.skip_string()
        else:
            while not scan.at_end() and scan.peek() not in ",]}\n#":
                scan.advance()

    while True:
        scan.skip_blanks(newlines=True)
        if scan.at_end():
            return lines
        line = scan.line
        if scan.peek(2) == "[[":
            scan.advance(2)
            parts = scan.key()
            scan.advance(2)
            parent = resolve(parts[:-1])
            array: Path = (*parent, parts[-1])
            aot_index[array] = aot_index.get(array, -1) + 1
            table = (*array, aot_index[array])
            record(array, line)
            record(table, line)
        elif scan.peek() == "[":
            scan.advance()
            table = resolve(scan.key())
            scan.advance()
            record(table, line)
        else:
            path = (*table, *scan.key())
            record(path, line)
            scan.skip_blanks(newlines=False)
            scan.advance()  # '='
            value(path)
