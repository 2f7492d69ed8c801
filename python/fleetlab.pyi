"""Entra ID dynamic-group membership rules, checked, evaluated and explained offline.

>>> import fleetlab
>>> rule = fleetlab.Rule('device.deviceOSType -eq "Windows"')
>>> rule.matches({"id": "d1", "operatingSystem": "Windows"})
True
"""

import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, TypedDict, Union

__version__: str

class _Span(TypedDict):
    start: int
    end: int

class Diagnostic(TypedDict, total=False):
    """One problem in a rule, as `fleetlab check --format json` reports it."""

    severity: Literal["error", "warning"]
    code: str
    message: str
    help: Optional[str]
    span: _Span
    line: int
    column: int
    text: str

class RuleError(ValueError):
    """An invalid rule; the attributes describe its first error."""

    code: str
    message: str
    help: Optional[str]
    span: Tuple[int, int]
    line: int
    column: int
    group: Optional[str]
    errors: List[Diagnostic]

Record = Mapping[str, Any]
"""A Graph `device` or `user` object as a dict (as `GET /devices` returns it)."""

class Rule:
    """A checked, compiled membership rule.

    >>> r = Rule('device.deviceOSType -eq "Windows"')
    >>> r.canonical
    '(device.deviceOSType -eq "Windows")'
    """

    def __init__(
        self,
        text: str,
        *,
        lenient: bool = False,
        strict: bool = False,
        object: Optional[Literal["device", "user"]] = None,
    ) -> None:
        """Parse and check `text`; raises `RuleError` if it is invalid."""

    def matches(self, record: Record) -> bool:
        """True when `record` is a member."""

    def explain(self, record: Record) -> Dict[str, Any]:
        """Why `record` matches or not, in the shape of Graph's `expressionEvaluationDetails`."""

    @property
    def canonical(self) -> str:
        """The rule in canonical form."""

    @property
    def text(self) -> str:
        """The rule as written."""

    @property
    def object(self) -> Literal["device", "user"]:
        """The object type the rule selects."""

    @property
    def warnings(self) -> List[Diagnostic]:
        """Warnings found while checking."""

def check(
    text: str,
    *,
    lenient: bool = False,
    strict: bool = False,
    object: Optional[Literal["device", "user"]] = None,
) -> List[Diagnostic]:
    """The rule's errors and warnings; an empty list for a clean rule.

    >>> check('device.colour -eq "red"')[0]["code"]
    'unknown-property'
    """

class Fleet:
    """A device inventory in fleetlab's columnar index.

    >>> fleet = Fleet.from_records([{"id": "a", "operatingSystem": "Windows"}])
    >>> fleet.eval('device.deviceOSType -eq "Windows"')
    ['a']
    """

    @staticmethod
    def load(path: Union[str, "os.PathLike[str]"]) -> "Fleet":
        """Load a JSON array, Graph page, JSON Lines or `.fleet` inventory."""

    @staticmethod
    def from_records(records: Sequence[Record]) -> "Fleet":
        """Index Graph device records, keeping their order."""

    def eval(self, rule: Union[str, Rule]) -> List[str]:
        """Ids of the matching devices, in inventory order (runs without the GIL)."""

    def eval_groups(
        self, groups: Union[Mapping[str, Union[str, Rule]], str, "os.PathLike[str]"]
    ) -> Dict[str, List[str]]:
        """Members of each group: a dict of name -> rule, or a `[[group]]` TOML file's path."""

    @property
    def ids(self) -> List[str]:
        """The device ids, in inventory order."""

    def __len__(self) -> int: ...
