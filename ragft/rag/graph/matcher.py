"""Finding the graph's node names in free text (a question, a chunk, a sentence): used to link
every node to each chunk that names it, and to link a question's words to nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragft.rag.graph.mentions import key_tokens
from ragft.rag.graph.vocabulary import default_vocabulary

if TYPE_CHECKING:
    from ragft.rag.graph.model import KnowledgeGraph


class NameMatcher:
    """Finds node names in free text by greedy longest n-gram match over normalised tokens.

    Multi-word names match in any case; single words only when capitalised in the text (or a
    code / number), so the role "Chair" does not match "chair" and "Greylag" matches "MV Greylag".
    """

    def __init__(self, graph: KnowledgeGraph, max_n: int = 8):
        self.graph = graph
        self.vocabulary = default_vocabulary()
        self.keys: dict[str, str] = {}
        for key in graph.nodes:
            self.keys[key] = key
        for alias, target in graph._alias.items():
            resolved = graph.resolve(target)
            if resolved:
                self.keys.setdefault(alias, resolved)
        self.max_n = min(max_n, max((len(k.split()) for k in self.keys), default=1))

    def _cased(self, tokens, key: str) -> bool:
        """Names must be capitalised in the text (connectors, numbers and codes aside); roles
        may be lower case ("the port manager")."""
        if self.graph.nodes[key].type in ("role", "money", "date", "quantity", "code"):
            return len(tokens) > 1 or tokens[0][3] or any(ch.isdigit() for ch in tokens[0][0])
        return all(cap or word in self.vocabulary.connector_words or any(ch.isdigit() for ch in word)
                   for word, _, _, cap in tokens)

    def match(self, text: str) -> list[tuple[str, int, int]]:
        """(node key, start, end) of every name found in ``text``, longest first, left to right."""
        tokens = key_tokens(text)
        found, i = [], 0
        while i < len(tokens):
            hit = None
            for n in range(min(self.max_n, len(tokens) - i), 0, -1):
                words = [t[0] for t in tokens[i:i + n]]
                if n > 1 and words[0] in self.vocabulary.strip_prefixes:
                    continue  # "MV Greylag": let the shorter key at the next position match
                candidate = " ".join(words)
                key = self.keys.get(candidate)
                if key is None or candidate in self.vocabulary.stop_words:
                    continue
                if not self._cased(tokens[i:i + n], key):
                    continue
                hit = (key, tokens[i][1], tokens[i + n - 1][2], n)
                break
            if hit:
                found.append(hit[:3])
                i += hit[3]
            else:
                i += 1
        return found
