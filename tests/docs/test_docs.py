"""The docs tell the truth: the published JSON Schema is the model's."""

import json
from pathlib import Path

from common.article import Article

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_article_json_schema_in_docs_matches_the_model() -> None:
    published = json.loads((DOCS / "article.schema.json").read_text())
    assert published == Article.model_json_schema(), (
        "docs/article.schema.json is stale: regenerate it with "
        "`python -c 'import json; from common.article import Article; "
        "print(json.dumps(Article.model_json_schema(), indent=2))' > docs/article.schema.json`"
    )


def test_readme_settings_table_matches_the_code() -> None:
    from devservices.settings_table import settings_table

    readme = (DOCS.parent / "README.md").read_text()
    start, end = "<!-- settings:start -->\n", "\n<!-- settings:end -->"
    assert start in readme and end in readme, "README.md lacks the settings table markers"
    published = readme[readme.index(start) + len(start) : readme.index(end)]
    assert published == settings_table(), (
        "the README's settings table is stale: regenerate it with `.venv/bin/python -m devservices.settings_table`"
    )
