"""Severity from the same reading as the category (labelling.md, How to decide 4).

Rule authors use ``critical`` for outages, data loss and what breaks users now, ``warning``
for degradation and approaching limits, ``info`` for notices. Each family below moves a
score up or down by its step; most read the alert's words, a few read the rule's
expression (what makes it fire: the first failure, nothing running, a forecast). The total
picks the level: 2 or more critical, 1 high, 0 or less medium; a notice is low unless the
score reaches critical. The alert's own severity is never read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warden.domain import Severity
from warden.triage.providers.rules.families import CONN, DOWN, QUORUM_LOST, RES


@dataclass(frozen=True, slots=True)
class SeverityFamily:
    """Phrases that move the severity score by ``step`` (once per family), found in the
    alert's words or, when ``reads_expression``, in its rule's expression."""

    name: str
    step: int
    pattern: re.Pattern[str]
    reads_expression: bool = False


def _severity_family(name: str, step: int, *phrases: str) -> SeverityFamily:
    return SeverityFamily(name, step, re.compile("|".join(phrases)))


def _expression_family(name: str, step: int, *shapes: str) -> SeverityFamily:
    return SeverityFamily(name, step, re.compile("|".join(shapes)), reads_expression=True)


# A counter of failures (errors, drops, exceptions) read as a rate or an increase.
_FAILURE_COUNTER = (
    r"\b(rate|irate|increase|delta)\(\s*\w*(fail|error|drop|exception|abort)\w*\s*\[[^\]]*\]\s*\)"
)
# A comparison that fires on the first occurrence: `> 0`, `!= 0`, `>= 1`, or a rate above
# a token fraction per second (`> 0.05`).
_FIRST_OCCURRENCE = r"\)*\s*(>\s*0(\.0*[1-9])?|!=\s*0|>=\s*1)(?![\d.])"


SEVERITY_FAMILIES: tuple[SeverityFamily, ...] = (
    _severity_family(
        "the author says it is urgent",
        2,
        r"\bcritical(ly)?\b|\bemergency\b|\bfatal\b|\bsevere(ly)?\b|\bimmediate(ly)?\b"
        r"|\burgent(ly)?\b|\bimminent(ly)?\b",
    ),
    _severity_family(
        "data at risk",
        2,
        r"\bdata loss\b|\bcorrupt(ed|ion)?\b|\bpermanent\b|\bread.?only\b|\breplicat\w* lag\b",
        r"\bsplit.?brain\b|\btoo many (masters|leaders|primar(y|ies))\b",
        # The author says so: durability at risk, something damaged, data that may be lost.
        r"\bat risk\b|\bdamaged\b|\b(may|might|could|will) be lost\b|\brisk(s|ing)? (the )?loss\b",
    ),
    # States that are broken outright, not degraded: an expired or revoked credential, a
    # sealed vault, a red cluster, a panicking process.
    _severity_family(
        "broken outright", 2, r"\bexpired\b|\brevoked\b|\bsealed\b|\bred\b|\bpanic(s|ked)?\b"
    ),
    # Server errors are what users see: critical even when only "high". Client errors
    # (4xx) are mostly the clients' own doing.
    _severity_family("users see server errors now", 2, r"\b5xx\b|\bhttp 5\d\d\b"),
    # A machine's body failing takes everything on it down with it.
    _severity_family(
        "hardware at fault",
        2,
        r"\b(over)?temperature\b|\bfans?\b|\bcooling\b|\bbattery\b|\bpsu\b|\bpower supply\b",
        r"\braid\b|\bsmart\b",
    ),
    # Writes, ingestion, replication or compaction failing: data is being lost or not kept.
    _severity_family(
        "the data path fails",
        1,
        r"\b(writ(e|es|ing)|wal|compact\w*|ingest\w*|replicat\w*|checkpoints?|flush\w*"
        r"|persist\w*|produce|commit\w*|samples|spans|records)\b"
        r"[^.]{0,40}\b(fail\w*|errors?|refus\w*|dropp\w*)\b"
        r"|\b(fail\w*|errors?|refus\w*|dropp\w*)\b[^.]{0,40}"
        r"\b(writ(e|es|ing)|wal|compact\w*|ingest\w*|replicat\w*|checkpoints?|flush\w*"
        r"|persist\w*|produce|commit\w*|samples|spans|records)\b",
    ),
    _severity_family(
        "an outage",
        1,
        DOWN
        + r"|\bno (elected |active |writable )?(leader|primary)\b|\bcrash(ed)?\b|\bdied\b|"
        + QUORUM_LOST,
    ),
    _severity_family("something is gone", 1, r"\bmissing\b|\bdisappeared\b"),
    _severity_family(
        "a service cannot work",
        1,
        r"\bunavailable\b|\bcannot\b|\bunable to\b|\bno\b[\w\s]{0,20}\b(alive|online)\b",
        r"\bstopped\b|\bnot ingesting\b|\bhas not\b",
    ),
    # Data not fully placed (unassigned shards, incomplete groups), work wedged, a node
    # under a pressure condition.
    _severity_family(
        "work wedged or data unplaced",
        1,
        r"\bunassigned\b|\bincomplete\b|\bstuck\b|\bpressure\b|\bdeadlocked\b",
    ),
    # "very high" undoes what a plain "high" takes off; "highly", "very slow" escalate.
    _severity_family("stressed as extreme", 1, r"\bvery (high|large|slow)\b|\bhighly\b"),
    _severity_family(
        "degradation or an approaching limit",
        -1,
        r"\bwarning\b|\bapproaching\b|\bnearly\b|\bnear(ing)?\b|(?<!highly )\bdegraded\b",
        r"\bgrowing\b|\bunusual\b|\bpotential(ly)?\b",
    ),
    # labelling.md, How to decide 4, "warning for degradation": a configuration that failed
    # to reload leaves the last good one running; only the change waits.
    _severity_family(
        "a failed reload keeps the last good configuration",
        -1,
        r"\b(config\w*|overrides)\b[^.]{0,30}\breload|\breload\w*\b[^.]{0,30}\b(config\w*|overrides)\b",
    ),
    # labelling.md, How to decide 4, "warning for degradation": errors or drops on a share
    # of the packets slow traffic down; the path still carries it (not "down").
    _severity_family(
        "packets lost on a working path",
        -1,
        r"\b(packets?|interface|receive|transmit)\b[^.]{0,30}\b(errors?|drop\w*|discard\w*)\b"
        r"|\bpacket loss\b|\b(errors?|drop(s|ping|ped)?|discard\w*)\b[^.]{0,30}\bpackets?\b",
    ),
    # labelling.md, How to decide 4, "warning for degradation": a member of a redundant set
    # lost while the rest carry the load (quorum intact, the UPS on its battery, the next
    # loss would be the outage, a "yellow" cluster whose primaries all serve but some
    # replicas are missing) is one failure from an outage, not an outage.
    _severity_family(
        "redundancy still carries the load",
        -2,
        r"\bquorum\b[^.]{0,20}\b(intact|holds|held|maintained)\b",
        r"\b(running|is|are|runs) on (its |the )?(batter(y|ies)|backup power)\b",
        r"\b(losing|loss of) (an|one|another) ?(additional|more|other)?\b[^.]{0,30}\bwould\b",
        r"\bredundancy\b[^.]{0,20}\b(holds|intact|remains)\b",
        r"\byellow\b",
    ),
    # labelling.md, How to decide 4, "warning for degradation": a unit that crash-loops is
    # brought back each time by its supervisor and serves between restarts; it flaps, it
    # is not down (one that stays down is "down", "stopped", "not running").
    _severity_family(
        "restarting over and over",
        -1,
        r"\bcrash ?loop\w*\b|\b(too many|repeated|frequent) restarts\b"
        r"|\brestarted (more than|over|\d+ times)\b",
    ),
    # labelling.md, How to decide 4, "warning for degradation": a server that rejects
    # connections is up and answering; it turns some clients away, it is not down.
    _severity_family(
        "connections turned away by a running server",
        -1,
        r"\breject(s|ed|ing)? (new |some |incoming )?connections\b"
        r"|\bconnections?\b[\w ]{0,20}\b(is|are|was|were|been) rejected\b",
    ),
    # labelling.md, How to decide 4, "critical for outages": all of it failing is an outage,
    # not a degradation.
    _severity_family(
        "all of it is affected",
        1,
        r"\ball\b|\bevery\b|\bcompletely\b|\bentire(ly)?\b|\bfully\b|\b100 ?%",
    ),
    # Not the "high watermark", which names a limit, not a degree.
    _severity_family(
        "hedged or merely high", -1, r"\bmay\b|\bmight\b|\bhigh\b(?! watermark)|\btoo many\b"
    ),
    # labelling.md, How to decide 4: critical is for "what breaks users now". Spans, traces
    # and log lines lost leave the service working and its users unharmed; only the view
    # into it degrades.
    _severity_family(
        "only telemetry is lost",
        -2,
        r"\bspans?\b|\btraces?\b|\blog (messages|records|lines|entries)\b|\blogs\b",
    ),
    # labelling.md, How to decide 4: "critical for outages, data loss and what breaks users
    # now, warning for ... approaching limits". A limit already reached is no longer
    # approached: the disk has run out, no address is left, the provider rate-limits now.
    _severity_family(
        "a limit already reached",
        2,
        r"\b(has|have) run out\b|\bran out\b|\bno (available|free)\b|\bout of disk\b",
        r"\b(being|is|are) rate.?limited\b",
        # A maximum, quota or watermark reached (not "reached 80% of" it, which approaches).
        r"\breached (the |its )?(max\w*|[\w-]+ limit|limit|quota|full threshold|\w+ watermark)\b"
        r"|\b(max\w*|limit|quota|watermark)\b[\w -]{0,20}\breached\b",
    ),
    # labelling.md, How to decide 4, "warning for degradation": upkeep overdue for days
    # (a table not vacuumed or analysed) degrades slowly; it breaks nothing now.
    _severity_family(
        "upkeep overdue",
        -1,
        r"\bnot (been )?(auto )?(vacuumed|vaccumed|vacuum|analy[sz]ed)\b",
    ),
    # labelling.md, How to decide 4, "critical for ... data loss and what breaks users
    # now": a rule that fires on the first failure says its author tolerates none. The
    # expression shows it: a failure counter's rate or increase compared with zero.
    _expression_family(
        "fires on the first failure", 1, _FAILURE_COUNTER + r"[^<>=!/*]{0,40}" + _FIRST_OCCURRENCE
    ),
    # labelling.md, How to decide 4, "critical for outages": a rule on a system's own
    # health verdict that fires on any state but healthy (`!= 0`) covers its worst state
    # (red, failed), unlike one that picks the middle state (`== 1`, yellow).
    # labelling.md, How to decide 4, "critical for outages": the rule asks whether anything
    # is up, running or ready at all, whatever its words call it.
    _expression_family(
        "nothing up or running",
        1,
        r"\b\w*(up|running|ready|available|healthy|alive|online|connected)\)*\s*(==\s*0|<\s*1)(?![\d.])",
    ),
    # labelling.md, How to decide 4, "critical for outages": a gauge of success or health
    # that reads 0 (or anything but 1) says the thing failed outright, not that it degrades.
    _expression_family(
        "a success or health gauge at zero",
        1,
        r"\b\w*(success(ful)?|health|health_status|health_score|health_check_score)"
        r"[\s)]*(==\s*0|<\s*1|!=\s*1)(?![\d.])",
    ),
    # labelling.md, How to decide 4, "warning for ... approaching limits": a forecast
    # (`predict_linear`) fires before the limit is reached.
    _expression_family("a forecast of a limit", -1, r"\bpredict_linear\("),
    _expression_family(
        "any health verdict but healthy", 1, r"\b\w*(health|cluster)\w*_status\s*!=\s*0\b"
    ),
)
# Notices (labelling.md, How to decide 4, "info for notices"): under-use, a single recent
# event (one restart, a version or configuration changed), something unused. Advice
# ("consider ...") is no notice: authors give it on warnings too. A restart repeated ("more
# than twice", "5 times") is a crash loop, not a notice.
NOTICE = re.compile(
    r"\bunderutili[sz]ed\b|\b(utili[sz]ation|usage) (is |has been )?(under|below|<)"
    r"|\blow (cpu|memory) (usage|utili[sz]ation)\b"
    r"|\brecently\b|\brestarted\b(?!\s*(more than|times|\d))|\binitiali[sz]ing\b"
    r"|\b(version|configuration|config)\b[^.]{0,30}\bchang(ed|e has occurred)\b"
    r"|\binfo(rmational)?\b|\bunused\b|\brequires? (a )?reboot\b|\bwarnings\b"
)
# Where a category's score starts. Something unreachable is rarely minor: connectivity
# starts one step up; exhaustion is mostly a limit being approached: one step down.
_START = {CONN: 1, RES: -1}
# The alert's own title calling itself critical or a warning is its author's verdict.
_CRITICAL_TITLE = re.compile(r"\bcritical\b")
_WARNING_TITLE = re.compile(r"\bwarning\b")


def infer_severity(
    category: str, headline: str, description: str, expression: str = ""
) -> Severity:
    """The severity the alert's words, its rule's expression (as ``metric_reading`` gives
    it) and its category suggest. Pure."""
    if _CRITICAL_TITLE.search(headline):
        return Severity.CRITICAL
    if _WARNING_TITLE.search(headline):
        return Severity.MEDIUM
    text = f"{headline} . {description}"
    score = _START.get(category, 0)
    score += sum(
        family.step
        for family in SEVERITY_FAMILIES
        if family.pattern.search(expression if family.reads_expression else text)
    )
    if score >= 2:
        return Severity.CRITICAL
    if NOTICE.search(text):
        return Severity.LOW
    return Severity.HIGH if score == 1 else Severity.MEDIUM
