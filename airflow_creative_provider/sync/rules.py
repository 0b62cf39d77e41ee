"""Apply each platform's local rules to the facts of the source's files.

The rules themselves live with each platform hook (``hook.rules``, a ``PlatformRules``); this
module only applies them to a listing and returns, per file and platform, either nothing
(accepted) or the refusals, each naming the file and the rule. Corrupt files (an empty file,
a truncated image, content no platform recognises) are refused by every platform, so they are
never sent. A file whose extension disagrees with its content is accepted with a warning
(``Verdict.warnings``): it is sent with its real type under a matching name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_creative_provider.creative import Creative, PlatformRules, Refusal


@dataclass(frozen=True)
class Verdict:
    """The outcome of the rules of one platform on one file."""

    key: str
    platform: str
    refusals: tuple[Refusal, ...] = ()
    #: what is sent differently from how the file is named (accepted files only).
    warnings: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.refusals

    @property
    def rule(self) -> str | None:
        return self.refusals[0].rule if self.refusals else None

    @property
    def reason(self) -> str | None:
        """Every refusal's message, joined: the file, the rule and what is wrong."""
        return "; ".join(r.message for r in self.refusals) if self.refusals else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "platform": self.platform,
            "accepted": self.accepted,
            "rule": self.rule,
            "reason": self.reason,
            "warnings": list(self.warnings),
        }


def rules_for(platform: str) -> PlatformRules:
    """The local rules of one platform, from its hook."""
    from airflow_creative_provider.hooks import hook_class

    cls = hook_class(platform)
    rules = getattr(cls, "rules", None)
    if not isinstance(rules, PlatformRules):
        raise TypeError(f"{cls.__name__} declares no PlatformRules in 'rules'")
    return rules


def check(creative: Creative, platform: str, rules: PlatformRules) -> Verdict:
    """Apply one platform's rules to one file."""
    refusals = tuple(rules.check(creative))
    return Verdict(creative.key, platform, refusals, () if refusals else tuple(rules.warnings(creative)))


def check_all(creatives: Iterable[Creative], rules: Mapping[str, PlatformRules]) -> dict[tuple[str, str], Verdict]:
    """``{(key, platform): Verdict}`` for every file and platform."""
    return {
        (creative.key, platform): check(creative, platform, platform_rules)
        for creative in creatives
        for platform, platform_rules in rules.items()
    }
