"""Renderers: listeners that turn run events into what a person or a script reads.

Results go to stdout, diagnostics and the summary to stderr. Colour only on a terminal and
never when ``NO_COLOR`` is set; JSON output is plain, one object per line.
"""

from remoteops.output.grouped import GroupedOutput
from remoteops.output.json_lines import JsonLines
from remoteops.output.live import LiveLines, PrefixStyle

# print_summary lives in remoteops.output.summary, imported on use: it needs rich, which JSON
# runs never load.
__all__ = ["GroupedOutput", "JsonLines", "LiveLines", "PrefixStyle"]
