"""The shell commands of README.md's ```bash blocks, one string per command, as bash reads them:
comments dropped, backslash-continued lines joined, whitespace runs as one space."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands(text: str | None = None) -> list[str]:
    text = README.read_text(encoding="utf-8") if text is None else text
    commands = []
    for block in re.finditer(r"^([ \t]*)```bash\n(.*?)^\1```", text, flags=re.MULTILINE | re.DOTALL):
        pending = ""
        for line in block.group(2).splitlines():
            code = line.split("#", 1)[0].strip()  # no README command quotes a '#'
            if code.endswith("\\"):
                pending += code[:-1] + " "
                continue
            code = " ".join((pending + code).split())
            pending = ""
            if code:
                commands.append(code)
    return commands


def readme_command(prefix: str) -> str:
    """The one README command that starts with ``prefix``."""
    found = [command for command in readme_commands() if command.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]
