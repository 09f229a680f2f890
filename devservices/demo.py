"""``python -m devservices demo`` (``make demo``): with ``make run`` running, send the bundled Wikinews articles
through the HTTP API, wait until the consumer group has counted them, then say where to look.

The articles are sent with the load tool (``--wait``: a progress bar of sending, then one of counting). Sending
them again is harmless: each keeps its article id, so the consumer group recognises it and counts it once.
"""

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from devservices.paths import REPO, api_key_file
from loadtool.load import main as load

DEMO_FILE = REPO / "demo" / "wikinews-cc-by.jsonl.gz"
PUBLICATION = "Wikinews"
ELECTION = {"label": "PERSON", "start": "2020-10-01", "end": "2020-12-01"}
"""A period worth a look: the people Wikinews wrote about around the 2020 US presidential election."""


def read_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def api_key() -> str | None:
    """API_KEY from the environment, else the key ``make run`` created."""
    if key := os.environ.get("API_KEY"):
        return key
    path: Path = api_key_file()
    return path.read_text().strip() if path.exists() else None


def top_entities(url: str, params: dict[str, str] | None = None, limit: int = 5) -> str:
    """The publication's most mentioned entities (``params``: label, start, end), as ``text (mentions)``."""
    params = params or {}
    query = urllib.parse.urlencode({"limit": limit, **params})
    answer = read_json(f"{url}/publications/{urllib.parse.quote(PUBLICATION)}/entities?{query}")
    labels = "label" not in params
    return ", ".join(
        f"{entity['text']} ({entity['label'] + ', ' if labels else ''}{entity['mentions']})"
        for entity in answer["entities"]
    )


def where_to_look(url: str) -> str:
    """What to open and read once the articles are counted, with the counts the service holds now."""
    (summary,) = [item for item in read_json(f"{url}/publications") if item["publication"] == PUBLICATION]
    view = {"publication": PUBLICATION, "range": "custom", "from": "2020-10-01", "to": "2020-11-30", "label": "PERSON"}
    return "\n".join(
        [
            "",
            f"{PUBLICATION}: {summary['articles']} articles counted (dated 2019-01-04 to 2021-03-05).",
            f"  Most mentioned:                {top_entities(url)}",
            f"  People, October-November 2020: {top_entities(url, ELECTION)}",
            "",
            f"Dashboard: {url}/",
            f"  {PUBLICATION} is picked: its top entities (mentions, and how many articles name each) and its articles",
            "  per day. Narrow it with Kind (PERSON, ORG, GPE, ...) and Range (Custom dates), e.g. the people of",
            f"  the 2020 US election: {url}/?{urllib.parse.urlencode(view)}",
            "  At the top right, after 'Checked': 'all counted', or how far behind counting is (`make status`).",
            f"API docs:  {url}/docs",
            "Running `make demo` again sends the same articles: they keep their ids and are not counted twice.",
            "Articles from Wikinews (en.wikinews.org), CC BY 2.5, via github.com/vanatteveldt/wikinews "
            "(license: https://creativecommons.org/licenses/by/2.5/).",
        ]
    )


def run_demo(url: str) -> int:
    try:
        read_json(f"{url}/healthz")
    except (OSError, ValueError) as error:
        print(
            f"error: nothing answers at {url} ({error}). Start the pipeline with `make run` in another terminal, "
            "then run `make demo` again.",
            file=sys.stderr,
        )
        return 1
    key = api_key()
    if key is None:
        print(
            f"error: no API key: set API_KEY, or start the pipeline with `make run` (it writes {api_key_file()}).",
            file=sys.stderr,
        )
        return 1
    print(f"Sending the {DEMO_FILE.relative_to(REPO)} articles to {url} and waiting until they are counted...")
    code = load([str(DEMO_FILE), "--url", url, "--api-key", key, "--batch", "50", "--wait"])
    if code != 0:
        print("The demo articles were not all sent and counted (see above).", file=sys.stderr)
        return code
    print(where_to_look(url))
    return 0
