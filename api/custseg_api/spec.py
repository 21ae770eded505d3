"""Request validation generated from a model's feature spec.

Every active model version gets a pydantic model built from `custseg_model_json(model) -> 'features'`:
one field per feature, named as the column. A numeric feature takes a JSON number (int or float, not a
string, not a boolean, finite); a categorical one takes a string that is one of the training levels
(an integer is read as its text form, for columns forced categorical). Every feature is required as a
key; `null` is accepted and means "unknown", exactly as NULL in SQL (numeric: the training mean;
categorical: no level). Keys that are not features are rejected, so a typo is a 422 naming it rather
than a silently imputed feature.
"""
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from pydantic import BaseModel, Extra, Field, ValidationError, create_model

MAX_LEVELS_IN_MESSAGE = 20


class Number(float):
    """A finite JSON number."""

    @classmethod
    def __get_validators__(cls):
        yield cls.validate

    @classmethod
    def __modify_schema__(cls, schema):
        schema.update(type="number", nullable=True)

    @classmethod
    def validate(cls, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError("value is not a number")
        try:
            f = float(v)  # an integer beyond a double's range overflows
        except OverflowError:
            raise ValueError("value is not a finite number")
        if not math.isfinite(f):
            raise ValueError("value is not a finite number")
        return f


def level_type(levels: List[str]):
    """A string restricted to a categorical feature's training levels."""
    allowed = frozenset(levels)
    shown = ", ".join(repr(x) for x in levels[:MAX_LEVELS_IN_MESSAGE])
    if len(levels) > MAX_LEVELS_IN_MESSAGE:
        shown += f", ... ({len(levels)} levels)"

    class Level(str):
        @classmethod
        def __get_validators__(cls):
            yield cls.validate

        @classmethod
        def __modify_schema__(cls, schema):
            schema.update(type="string", enum=list(levels), nullable=True)

        @classmethod
        def validate(cls, v):
            if isinstance(v, int) and not isinstance(v, bool):
                v = str(v)
            if not isinstance(v, str):
                raise TypeError("value is not a string")
            if v not in allowed:
                raise ValueError(f"unknown level {v!r}; the model knows {shown}")
            return str(v)

    return Level


class Forbid:
    extra = Extra.forbid


@dataclass
class ModelSpec:
    """The active version of a named model, as the API needs it."""

    name: str
    version: int
    source: str
    options: Dict[str, Any]
    features: List[Dict[str, Any]]
    request_model: Any = field(repr=False)
    method: str = "kmeans"  # the clustering method: kmeans, gmm, hierarchical or dbscan
    # Segment numbers in centroid order: custseg_score's distances and probabilities arrays follow it.
    segment_ids: List[int] = field(default_factory=list)
    flags_outliers: bool = False  # the model flags outliers (custseg 0.3.0 and later; dbscan: its noise)
    query: Optional[str] = field(default=None, repr=False)  # the scoring statement, built on first use

    def __post_init__(self):
        # segment_ids as an array literal, the scoring statement's parameter: sent as text, it costs
        # the request nothing to adapt (a Python list is adapted element by element on every call).
        self.segment_ids_literal = "{" + ",".join(str(int(s)) for s in self.segment_ids) + "}"

    @property
    def feature_names(self) -> List[str]:
        return [f["name"] for f in self.features]

    def validate(self, body: Any, loc: Tuple) -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]]]:
        """Returns (values, []) or (None, errors in FastAPI's 422 format with loc prefixed)."""
        if not isinstance(body, dict):
            return None, [{"loc": list(loc), "msg": "a customer must be a JSON object", "type": "type_error.dict"}]
        try:
            obj = self.request_model.parse_obj(body)
        except ValidationError as e:
            return None, [{**err, "loc": list(loc) + list(err["loc"])} for err in e.errors()]
        values = obj.dict(by_alias=True)
        if values and all(v is None for v in values.values()):
            # Training skips such a row and custseg_score gives it no segment: there is nothing to score.
            return None, [{"loc": list(loc), "msg": "every feature is null: a customer needs at least one known value",
                           "type": "value_error.no_feature"}]
        return values, []


def build_spec(name: str, version: int, source: str, options: Dict[str, Any], features: List[Dict[str, Any]],
               method: str = "kmeans", segment_ids: Optional[List[int]] = None, flags_outliers: bool = False) -> ModelSpec:
    fields = {}
    for i, f in enumerate(features):
        if f["kind"] == "numeric":
            typ = Number
            desc = f"numeric; null means unknown (imputed with the training mean {f.get('impute')})"
        else:
            typ = level_type(f.get("levels", []))
            desc = "one of the training levels; null means unknown (no level)"
        # Field names are positional (feature names need not be Python identifiers); the alias is the column.
        fields[f"f{i}"] = (Optional[typ], Field(..., alias=f["name"], description=desc))
    model = create_model(f"Customer_{name}_v{version}", __config__=Forbid, **fields)
    model.__doc__ = f"One customer's attributes: the features of model {name!r} (version {version})."
    return ModelSpec(name, version, source, options, features, model, method, list(segment_ids or []), flags_outliers)
