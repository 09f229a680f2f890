"""The docs tell the truth: the published JSON Schema is the model's."""

import json
from pathlib import Path

from common.article import Article

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_article_json_schema_in_docs_matches_the_model() -> None:
    published = json.loads((DOCS / "article.schema.json").read_text())
    assert published == Article.model_json_schema(), (
        "docs/article.schema.json is stale: regenerate it with "
        "`python -c 'import json; from common.article import Article; "
        "print(json.dumps(Article.model_json_schema(), indent=2))' > docs/article.schema.json`"
    )
