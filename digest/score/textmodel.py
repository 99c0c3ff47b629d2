"""Text features: TF-IDF over title, abstract and authors, reduced to dense unit vectors.

Fitted on the stored corpus (not per subscriber) and refitted only as the corpus
grows; every paper and profile lives in the same low-rank space, so scoring many
profiles against a batch is one matrix product.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from digest.models import Paper

DIMS = 256
BACKGROUND = 500
"""How many of the papers a model was fitted on it keeps embedded, as the "everything
else" a profile's own linear model is trained against."""


def paper_text(title: str, abstract: str = "", authors: Sequence[str] = ()) -> str:
    author_tokens = " ".join("author_" + "_".join(a.lower().split()) for a in authors[:20])
    return f"{title}. {title}. {abstract} {author_tokens}"


@dataclass
class TextModel:
    vectorizer: TfidfVectorizer
    svd: TruncatedSVD | None
    fitted_on: int
    background: np.ndarray

    @classmethod
    def fit(cls, papers: Sequence[Paper], *, dims: int = DIMS, seed: int = 0) -> TextModel:
        return cls.fit_embed(papers, dims=dims, seed=seed)[0]

    @classmethod
    def fit_embed(
        cls, papers: Sequence[Paper], *, dims: int = DIMS, seed: int = 0
    ) -> tuple[TextModel, np.ndarray]:
        """The model fitted on ``papers``, and their embeddings (as :meth:`embed` gives),
        from the matrix the fit made anyway."""
        texts = [paper_text(p.title, p.abstract, p.authors) for p in papers]
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            stop_words="english",
            strip_accents="unicode",
            ngram_range=(1, 2),
            min_df=2 if len(texts) >= 50 else 1,
            max_df=0.5 if len(texts) >= 50 else 1.0,
            max_features=60_000,
            dtype=np.float32,
        )
        matrix = vectorizer.fit_transform(texts)
        rank = min(dims, matrix.shape[1] - 1, matrix.shape[0] - 1)
        svd = None
        if rank >= 8:
            svd = TruncatedSVD(n_components=rank, algorithm="randomized", random_state=seed)
            svd.fit(matrix)
        model = cls(vectorizer, svd, len(texts), np.zeros((0, 0), dtype=np.float32))
        vectors = model._unit_rows(matrix)
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(texts), size=min(BACKGROUND, len(texts)), replace=False)
        model.background = vectors[np.sort(sample)]
        return model, vectors

    @property
    def dims(self) -> int:
        if self.svd is not None:
            return int(self.svd.n_components)
        return len(self.vectorizer.vocabulary_)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text (zero rows for empty texts)."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return self._unit_rows(self.vectorizer.transform(texts))

    def _unit_rows(self, sparse: Any) -> np.ndarray:
        if self.svd is None:
            dense = sparse.toarray().astype(np.float32)
        else:
            dense = np.asarray(sparse @ self._projection(), dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        np.divide(dense, norms, out=dense, where=norms > 0)
        result: np.ndarray = dense
        return result

    def _projection(self) -> np.ndarray:
        """The SVD's projection, kept C-ordered once: ``svd.transform`` multiplies by
        its transpose, which scipy copies (vocabulary x dims) on every call."""
        found: np.ndarray | None = self.__dict__.get("_kept_projection")
        if found is None:
            assert self.svd is not None
            found = np.ascontiguousarray(self.svd.components_.T, dtype=np.float32)
            self.__dict__["_kept_projection"] = found
        return found

    def kept(self, name: str, make: Any) -> Any:
        """A value derived from the model, made once per process and never stored."""
        key = f"_kept_{name}"
        if key not in self.__dict__:
            self.__dict__[key] = make(self)
        return self.__dict__[key]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_kept_")}

    def embed(self, papers: Sequence[Paper]) -> np.ndarray:
        return self.embed_texts([paper_text(p.title, p.abstract, p.authors) for p in papers])

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        pickle.dump(self, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TextModel:
        # only ever reads what this installation wrote into its own database
        model = pickle.loads(data)
        if not isinstance(model, cls) or "background" not in vars(model):
            raise TypeError("stored text model has the wrong type or an older layout")
        return model
