"""Rewrite the README's configuration table from `service.config.reference()`."""

from pathlib import Path

from service.config import reference

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

rows = ["| key | environment variable | default | meaning |", "|---|---|---|---|"]
rows += [f"| `{k}` | `{e}` | `{d}` | {h} |" for k, e, d, h in reference()]
text = README.read_text()
head, rest = text.split(START)
_, tail = rest.split(END)
README.write_text(f"{head}{START}\n" + "\n".join(rows) + f"\n{END}{tail}")
